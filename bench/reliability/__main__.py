"""`python -m bench.reliability`: every part against every target; a markdown table and JSON.

python -m bench.reliability [--quick] [--only fuzz,hostile,overload,faults,drain,soak]
    [--workers 1,2] [--bundles default,albert-base] [--soak-minutes 10]
    [--out bench/results/reliability.json]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.machine import cpu
from bench.reliability.report import Row, markdown, write_json
from bench.reliability.servers import BUNDLES, Target
from bench.repo import REPO

# in the order they run: the soak last (ten minutes), faults before it (they kill processes)
PARTS = ("fuzz", "hostile", "overload", "faults", "drain", "soak")
Part = Callable[[Target, bool], list[Row]]


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="The short form of every part.")
    parser.add_argument("--only", type=_csv, default=list(PARTS), help="Parts, comma-separated.")
    parser.add_argument("--workers", type=_csv, default=["1", "2"], help="e.g. 1,2")
    parser.add_argument("--bundles", type=_csv, default=list(BUNDLES), help="default,albert-base")
    parser.add_argument(
        "--soak-minutes", type=float, default=None, help="Soak length (default 10; 1 if quick)."
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "reliability.json")
    args = parser.parse_args(argv)
    unknown = [p for p in args.only if p not in PARTS] + [
        b for b in args.bundles if b not in BUNDLES
    ]
    if unknown:
        parser.error(f"unknown part or bundle: {', '.join(unknown)}")
    if not all(w.isdigit() and int(w) >= 1 for w in args.workers):
        parser.error("--workers takes positive integers")
    return args


def load_part(name: str) -> Part:
    """A part's ``run(target, quick)``; the other helper's parts may not exist yet."""
    module = importlib.import_module(f"bench.reliability.{name}")
    run: Part = module.run
    return run


def run_part(
    name: str, target: Target, quick: bool, soak_minutes: float | None = None
) -> list[Row]:
    """The part's rows; one failed row when the part itself crashes (the others still run)."""
    began = time.monotonic()
    try:
        if name == "soak":
            from bench.reliability import soak

            rows = soak.run(target, quick, minutes=soak_minutes)
        else:
            rows = load_part(name)(target, quick)
    except Exception as exc:  # a bench reports what broke instead of stopping
        traceback.print_exc()
        outcome = f"the part crashed: {type(exc).__name__}: {str(exc)[:300]}"
        rows = [Row(name, target.name, "(whole part)", outcome, {}, ok=False)]
    seconds = time.monotonic() - began
    print(f"[{name} {target.name}] {len(rows)} rows in {seconds:.0f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    machine = cpu()
    rows: list[Row] = []
    targets = [Target(bundle, int(w)) for bundle in args.bundles for w in args.workers]
    for name in [p for p in PARTS if p in args.only]:
        for target in targets:
            rows += run_part(name, target, args.quick, args.soak_minutes)
            write_json(rows, args.out, machine)  # what ran so far survives an interruption
    print(markdown(rows, machine))
    print(f"\nJSON: {args.out}")
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
