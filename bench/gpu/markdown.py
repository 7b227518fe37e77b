"""The headline figures of a GPU check, and the same as a short markdown report."""

from __future__ import annotations

from typing import Any

_PARITY_KEYS = ("checked_on", "label_agreement", "max_abs_logit_diff", "passed")
# stage -> title; the first is the recommended set-up (workers + shared engine)
HTTP_STAGES = {
    "http": "HTTP, recommended: worker processes + shared engine process",
    "http_single": "HTTP, one server process",
    "http_per_worker_engines": "HTTP, worker processes each with its own sessions",
    "http_one_batch_in_flight": "HTTP, recommended set-up with one batch in flight",
}
TARGET_ABSTRACTS_PER_S = 3000.0
TARGET_PIPELINE_RATIO = 10.0
TARGET_HALF_PEAK_P99_MS = 100.0


def _result(results: dict[str, Any], stage: str) -> dict[str, Any]:
    record = results.get("stages", {}).get(stage) or {}
    value = record.get("result")
    return value if isinstance(value, dict) else {}


def _best_point(http: dict[str, Any], suffix: str = "") -> tuple[str, float] | None:
    points = {
        key: float(point["abstracts_per_s"])
        for key, point in http.get("points", {}).items()
        if isinstance(point, dict) and "abstracts_per_s" in point and key.endswith(suffix)
    }
    if not points:
        return None
    best = max(points, key=lambda k: points[k])
    return best, points[best]


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "stages": {name: record.get("status") for name, record in results["stages"].items()}
    }
    env = _result(results, "environment")
    summary["gpu"] = env.get("gpu")
    export = _result(results, "export")
    summary["export_parity"] = {
        name: {key: (graph.get("parity") or {}).get(key) for key in _PARITY_KEYS}
        for name, graph in (export.get("graphs") or {}).items()
    }
    placement = _result(results, "placement")
    summary["placement"] = {
        name: {
            "strict_session_created": (entry.get("strict") or {}).get("created"),
            "all_heavy_nodes_on_target": (entry.get("profile") or {}).get(
                "all_heavy_nodes_on_target"
            ),
            "nodes_by_provider": (entry.get("profile") or {}).get("nodes_by_provider"),
        }
        for name, entry in placement.items()
        if isinstance(entry, dict)
    }
    agreement = _result(results, "agreement")
    summary["agreement"] = {
        k: agreement.get(k) for k in ("candidate", "label_agreement", "target", "passed")
    }
    memory = _result(results, "memory")
    summary["memory"] = {
        k: memory.get(k)
        for k in ("batches_run", "max_first_half_mb", "max_last_half_mb", "plateaus")
    }
    candidates = {stage: _best_point(_result(results, stage), "_d16") for stage in HTTP_STAGES}
    summary["http_best_by_stage"] = {
        stage: {"point": found[0], "abstracts_per_s": found[1]} if found else None
        for stage, found in candidates.items()
    }
    found = [point for point in candidates.values() if point]
    best = max(found, key=lambda point: point[1]) if found else None
    summary["http_best"] = {"point": best[0], "abstracts_per_s": best[1]} if best else None
    baseline = _result(results, "baseline")
    summary["baseline_best"] = baseline.get("best")
    ratios: dict[str, float] = {}
    base_rate = (baseline.get("best") or {}).get("abstracts_per_s")
    if best and base_rate:
        ratios["service_http_best_over_pipeline_best"] = round(best[1] / base_rate, 2)
    engine_rate = (agreement.get(f"engine_{_candidate(agreement)}") or {}).get("texts_per_s")
    if engine_rate and base_rate:
        ratios["engine_direct_over_pipeline_best"] = round(engine_rate / base_rate, 2)
    half = _result(results, "http").get("half_peak") or {}
    summary["half_peak"] = {
        k: half.get(k) for k in ("offered_abstracts_per_s", "abstracts_per_s", "p50_ms", "p99_ms")
    }
    heavy_on_target = [
        entry.get("all_heavy_nodes_on_target") for entry in summary["placement"].values()
    ]
    recommended = candidates.get("http")
    summary["done_when"] = {
        "heavy_nodes_on_cuda": bool(heavy_on_target) and all(heavy_on_target),
        "fp16_agreement": agreement.get("passed"),
        "memory_flat": memory.get("plateaus"),
        "abstracts_per_s_16_per_request": bool(recommended)
        and recommended[1] >= TARGET_ABSTRACTS_PER_S,
        "pipeline_ratio": ratios.get("service_http_best_over_pipeline_best", 0.0)
        >= TARGET_PIPELINE_RATIO,
        "p99_at_half_peak": half.get("p99_ms") is not None
        and half["p99_ms"] < TARGET_HALF_PEAK_P99_MS,
    }
    summary["ratios"] = ratios
    return summary


def _candidate(agreement: dict[str, Any]) -> str:
    return str(agreement.get("candidate", "")).split(" ")[0]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_markdown(results: dict[str, Any]) -> str:
    summary = summarise(results)
    lines = [
        "# biotag GPU check",
        "",
        f"started {results.get('started_utc')}, {results.get('elapsed_s')} s, "
        f"device {results.get('device')}, tiny={results.get('tiny')}, "
        f"quick={results.get('quick')}",
        f"GPU: {summary.get('gpu')}",
        "",
        "## Stages",
        "",
        "| stage | status | seconds | note |",
        "| --- | --- | --- | --- |",
    ]
    for name, record in results["stages"].items():
        note = record.get("error") or record.get("why") or ""
        note = note.replace("|", "/").replace("\n", " ")[:160]
        lines.append(f"| {name} | {record.get('status')} | {record.get('seconds', '-')} | {note} |")
    lines += ["", "## Checks", ""]
    for name, parity in summary["export_parity"].items():
        lines.append(f"- export parity {name}: {parity or 'not checked'}")
    for name, entry in summary["placement"].items():
        lines.append(f"- placement {name}: {entry}")
    lines.append(f"- agreement: {summary['agreement']}")
    lines.append(f"- memory: {summary['memory']}")
    lines.append(f"- ratios: {summary['ratios']}")
    lines.append(f"- latency at half the peak (open loop): {summary['half_peak']}")
    lines.append(f"- done when: {summary['done_when']}")
    columns = (
        "abstracts_per_s",
        "tokens_per_s",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "mean_batch_size",
        "mean_padding_ratio",
        "mean_inference_ms",
        "server_cpu_share",
        "client_cpu_share",
    )
    for stage, title in HTTP_STAGES.items():
        data = _result(results, stage)
        if not data.get("points"):
            continue
        lines += [
            "",
            f"## {title}: {data.get('precision')} on {data.get('device')}, "
            f"{data.get('workers', 1)} process(es)",
            "",
            "| clients | abstracts/request | " + " | ".join(columns) + " | GPU util % |",
            "| --- | --- | " + " | ".join("---" for _ in columns) + " | --- |",
        ]
        for key, point in data["points"].items():
            clients, per_request = key[1:].split("_d")
            if "abstracts_per_s" not in point:
                lines.append(f"| {clients} | {per_request} | {point.get('status')} |")
                continue
            cells = " | ".join(_cell(point.get(c)) for c in columns)
            util = (point.get("gpu") or {}).get("util_mean_pct")
            lines.append(f"| {clients} | {per_request} | {cells} | {_cell(util)} |")
        half = data.get("half_peak") or {}
        if "abstracts_per_s" in half:
            cells = " | ".join(_cell(half.get(c)) for c in columns)
            util = (half.get("gpu") or {}).get("util_mean_pct")
            offered = half.get("offered_abstracts_per_s")
            lines.append(f"| open loop at {offered}/s | 16 | {cells} | {_cell(util)} |")
    baseline = _result(results, "baseline")
    if baseline.get("runs"):
        lines += [
            "",
            f"## transformers pipeline ({baseline.get('device')}, {baseline.get('texts')} texts)",
            "",
            "| run | abstracts/s | seconds |",
            "| --- | --- | --- |",
        ]
        for key, run in baseline["runs"].items():
            lines.append(
                f"| {key} | {_cell(run.get('abstracts_per_s'))} | "
                f"{_cell(run.get('seconds', run.get('status')))} |"
            )
    return "\n".join(lines) + "\n"
