"""Faults of what the service reads and writes on disk: bundles that are corrupt, truncated or of
an unknown format version beside a good one, and a full disk under PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.reliability import clients
from bench.reliability.clients import Attempt
from bench.reliability.report import Figure, Row
from bench.reliability.servers import WORK, Server, Target, models_dir_for, running

PART = "faults"
BAD_BUNDLES = ("corrupt", "truncated", "future-format")
TMPFS_SIZE = "16m"  # room for every process's metric files; then filled to the last byte
LOAD_TIMEOUT_S = 300.0
_JSON = {"Content-Type": "application/json"}


def _bad_copy(good: Path, folder: Path, fault: str) -> None:
    """``good`` under its own names (so no model name clashes hide the fault), with ``fault``."""
    manifest = json.loads((good / "bundle.json").read_text())
    graphs = {graph["file"] for graph in manifest["graphs"].values()}
    folder.mkdir(parents=True)
    for item in good.iterdir():
        if item.name != "bundle.json" and (item.name not in graphs or fault == "future-format"):
            (folder / item.name).symlink_to(item.resolve())
    for name in graphs if fault != "future-format" else ():
        original = (good / name).read_bytes()
        broken = os.urandom(65536) if fault == "corrupt" else original[: len(original) // 2]
        (folder / name).write_bytes(broken)
    manifest["name"] = folder.name
    for head in manifest["heads"]:
        head["name"] = f"{folder.name}-{head['name']}"
    if fault == "future-format":
        manifest["format_version"] = int(manifest.get("format_version", 1)) + 1
    (folder / "bundle.json").write_text(json.dumps(manifest, indent=2))


def broken_models_dir(target: Target, work: Path = WORK) -> Path:
    """A work folder whose models folder holds the target's bundle and three broken copies."""
    work = work / f"faults-bundles-{target.bundle}-w{target.workers}"
    shutil.rmtree(work, ignore_errors=True)
    good = (models_dir_for(target.bundle) / target.bundle).resolve()
    models = work / f"models-{target.bundle}"
    models.mkdir(parents=True)
    (models / target.bundle).symlink_to(good, target_is_directory=True)
    for fault in BAD_BUNDLES:
        _bad_copy(good, models / fault, fault)
    return work


def _readyz(url: str) -> tuple[int, dict[str, str]]:
    """/readyz's status and its reasons by place, once no longer loading."""
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while True:
        answer = httpx.get(f"{url}/readyz", timeout=10)
        details = answer.json().get("error", {}).get("details", []) if answer.is_error else []
        reasons = {item["where"]: item["why"] for item in details}
        if "startup" not in reasons or time.monotonic() > deadline:
            return answer.status_code, reasons
        time.sleep(0.5)


def broken_bundles(target: Target, work: Path = WORK) -> Row:
    case = "corrupt, truncated and future-format bundles beside a good one"
    bundles_work = broken_models_dir(target, work)
    with running(target, bundles_work, wait_for_ready=False) as server:
        healthz = clients.status_of(server.url, "/healthz")
        readyz, reasons = _readyz(server.url)
        served = httpx.get(f"{server.url}/models", timeout=30).json()
        with httpx.Client(base_url=server.url, timeout=120) as http:
            tagged = clients.attempt(http, 0, "/tag", {"documents": clients.documents(2)})
    named = [fault for fault in BAD_BUNDLES if fault in reasons]
    bundles = sorted({model["bundle"] for model in served["models"]})
    figures: dict[str, Figure] = {
        "healthz": healthz,
        "readyz": readyz,
        "bad_bundles_named": len(named),
        "bundles_served": ",".join(bundles),
        "tag": tagged.outcome,
    }
    ok = (
        healthz == 200
        and readyz == 503
        and len(named) == len(BAD_BUNDLES)
        and bundles == [target.bundle]
        and tagged.outcome == "200"
    )
    said = "; ".join(f"{where}: {why[:80]}" for where, why in reasons.items())
    missing = [fault for fault in BAD_BUNDLES if fault not in reasons]
    outcome = f"/readyz {readyz} ({said}); not named: {missing or 'none'}; /tag {tagged.outcome}"
    return Row(PART, target.name, case, outcome, figures, ok)


@contextlib.contextmanager
def tiny_tmpfs(folder: Path) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(folder)], check=True
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> int:
    """Write a file until the file system is full; the bytes written."""
    written = 0
    chunk = 1 << 16
    with (folder / "filler").open("wb", buffering=0) as sink:
        while chunk:
            try:
                written += sink.write(b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 2  # the last free pages, in smaller writes
    return written


def _mixed_requests(url: str, rounds: int) -> list[Attempt]:
    """/tag in each format, unknown routes, invalid JSON, /models: new label sets for every
    metric, so each process writes new entries to its metric files."""
    attempts: list[Attempt] = []
    with httpx.Client(base_url=url, timeout=120) as http:
        for index in range(rounds):
            body = {"documents": clients.documents(2, offset=index)}
            for path in ("/tag", "/tag?format=pubtator", "/tag?format=biocjson"):
                attempts.append(clients.attempt(http, index, path, body))
            attempts.append(clients.attempt(http, index, f"/nope-{index}", None))
            attempts.append(clients.attempt(http, index, "/models", None))
            began = time.monotonic()
            try:
                answer = http.post("/tag", content=b"{not json", headers=_JSON, timeout=30)
                outcome = clients.outcome_of(answer)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            attempts.append(Attempt(index, began, time.monotonic(), outcome))
    return attempts


def _serving(server: Server, target: Target, gone: list[int]) -> bool:
    """All workers up, none of ``gone`` among them, and /readyz answering 200."""
    pids = server.worker_pids()
    return (
        len(pids) == target.workers
        and not set(pids) & set(gone)
        and clients.status_of(server.url, "/readyz") == 200
    )


def _bad(attempts: list[Attempt]) -> int:
    return sum(not a.answered or a.outcome.startswith("5") for a in attempts)


def metrics_disk_full(target: Target, quick: bool, work: Path = WORK) -> Row:
    """PROMETHEUS_MULTIPROC_DIR on a tmpfs filled to 100%: requests with new label sets, then a
    worker replaced while the disk is full, then the disk freed."""
    case = f"full disk (tmpfs {TMPFS_SIZE}, 100% used) for PROMETHEUS_MULTIPROC_DIR"
    rounds = 3 if quick else 10
    folder = work / f"faults-metrics-tmpfs-{target.bundle}-w{target.workers}"
    with (
        tiny_tmpfs(folder),
        running(target, work, extra_env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}) as server,
    ):
        _mixed_requests(server.url, 1)  # every label set these requests make exists
        filled = fill(folder)
        free = os.statvfs(folder).f_bavail
        full = _mixed_requests(server.url, rounds)
        workers = server.worker_pids()
        if workers:
            os.kill(workers[0], signal.SIGKILL)
        replaced_s = clients.wait_until(lambda: _serving(server, target, workers[:1]), 60)
        after_restart = _mixed_requests(server.url, rounds)
        metrics_status = clients.status_of(server.url, "/metrics")
        readyz = clients.status_of(server.url, "/readyz")
        survivors = [pid for pid in workers[1:] if pid in server.worker_pids()]
        (folder / "filler").unlink()
        recovered_s = clients.wait_until(lambda: _serving(server, target, workers[:1]), 120)
        freed = _mixed_requests(server.url, rounds)
        alive = server.process.poll() is None
        log = server.log_text()
    exits = re.findall(r"worker \d+ exited \((-?\d+)\)", log)  # -9: ours; -7: SIGBUS
    figures: dict[str, Figure] = {
        "filled_bytes": filled,
        "free_blocks_after_fill": free,
        "bad_while_full": _bad(full),
        "worker_replaced_s": replaced_s,
        "bad_after_worker_restart": _bad(after_restart),
        "metrics_while_full": metrics_status,
        "readyz_while_full": readyz,
        "worker_exits_logged": ",".join(exits),
        "other_workers_survived": f"{len(survivors)}/{len(workers) - 1}",
        "recovered_after_freeing_s": recovered_s,
        "bad_after_freeing": _bad(freed),
        "server_alive": str(alive),
    }
    ok = not (_bad(full) or _bad(after_restart) or _bad(freed)) and metrics_status == 200
    outcome = (
        f"while full: {clients.tally(full)}; after a worker restart: "
        f"{clients.tally(after_restart)}; /metrics {metrics_status}; after freeing: "
        f"{clients.tally(freed)} (all workers ready after {recovered_s} s); worker exit "
        f"statuses logged: {exits} (-9: the kill, -7: SIGBUS)"
    )
    return Row(PART, target.name, case, outcome, figures, ok)
