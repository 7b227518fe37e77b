"""`biotag tag` on the MEDLINE sample: documents/s in process vs. through `biotag serve` over
HTTP, and peak RSS on the sample and on a file 10x its size (numbers, not tests).

    python -m bench.bulk [--times 10] [--models-dir models] [--json]
    python -m bench.bulk --models-dir DIR_WITH_ALBERT_BASE --limit 100 --skip-large

Each run is a fresh `biotag tag` child, measured by a small wrapper process whose
RUSAGE_CHILDREN peak is that child's alone. documents/s come from the run's own summary
(tagging only: loading and warming the models is not counted, except on Ray, where the
actors start inside the run; the cluster's own start is not counted). The HTTP run's server is
started first, warmed, and not counted in the RSS; Ray's workers are not counted either. Run it
with a Python that has the ray extra to get the Ray row.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.machine import cpu, summary
from bench.repo import REPO, child_env

SAMPLE = REPO.parent / "shared" / "data" / "pubmed" / "medline16n0902.xml.gz"
_SUMMARY = re.compile(r"tagged ([\d,]+) documents in ([\d.]+) s")
_WRAPPER = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def repeated(times: int, target: Path) -> Path:
    """The sample's citations ``times`` over, in one gzipped file."""
    text = gzip.decompress(SAMPLE.read_bytes()).decode("utf-8")
    start, end = text.index("<MedlineCitation "), text.rindex("</MedlineCitationSet>")
    target.write_bytes(
        gzip.compress((text[:start] + text[start:end] * times + text[end:]).encode(), 1)
    )
    return target


def tag(source: Path, out: Path, *extra: str) -> dict[str, float]:
    command = [sys.executable, "-m", "biotag.cli", "tag", str(source), "--output", str(out), *extra]
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, env=child_env()
    )
    wall = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"biotag tag failed: {result.stderr[-2000:]}")
    found = _SUMMARY.search(result.stderr)
    assert found, result.stderr
    documents, seconds = int(found.group(1).replace(",", "")), float(found.group(2))
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    return {
        "documents": documents,
        "tagging_s": seconds,
        "documents_per_s": documents / seconds,
        "wall_s": wall,
        "peak_rss_mib": peak_kib / 1024,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def over_http(source: Path, out: Path, models_dir: Path, extra: list[str]) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "biotag.cli",
            "serve",
            "--models-dir",
            str(models_dir),
            "--port",
            str(port),
        ],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        return tag(source, out, "--url", url, *extra)
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=10, help="size of the large input")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--limit", type=int, help="documents per file (e.g. for ALBERT-base)")
    parser.add_argument("--skip-large", action="store_true", help="no run on the large input")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        models = ["--models-dir", str(args.models_dir)]  # not --quiet: the summary is read
        models += ["--limit", str(args.limit)] if args.limit else []
        rows["in process, 1x"] = tag(SAMPLE, root / "a", *models)
        rows["HTTP (biotag serve), 1x"] = over_http(SAMPLE, root / "b", args.models_dir, models[2:])
        if importlib.util.find_spec("ray") is not None:  # the ray extra
            rows["Ray Data (local cluster), 1x"] = tag(
                SAMPLE, root / "d", "--ray", "local", *models
            )
        if not args.skip_large:
            big = repeated(args.times, root / f"x{args.times}.xml.gz")
            rows[f"in process, {args.times}x"] = tag(big, root / "c", *models)
    machine = cpu()
    if args.json:
        print(json.dumps({"machine": machine, "runs": rows}, indent=2))
        return
    print(summary(machine))
    base = rows["in process, 1x"]["documents_per_s"]
    print(f"{'run':<26} {'docs':>6} {'docs/s':>7} {'ratio':>6} {'peak RSS MiB':>13} {'wall s':>7}")
    for name, row in rows.items():
        print(
            f"{name:<26} {row['documents']:>6.0f} {row['documents_per_s']:>7.1f} "
            f"{row['documents_per_s'] / base:>6.2f} {row['peak_rss_mib']:>13.0f} "
            f"{row['wall_s']:>7.1f}"
        )


if __name__ == "__main__":
    main()
