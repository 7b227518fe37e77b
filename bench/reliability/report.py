"""The reliability bench's table: one row per case tried, what happened, its figures; as
markdown (with the machine's CPU above it) and as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import cpu

Figure = float | int | str


@dataclass
class Row:
    part: str  # fuzz, hostile, overload, faults, drain, soak
    target: str  # Target.name, e.g. "default/w1"
    case: str  # what was tried
    outcome: str  # what happened, in words (status codes, errors)
    figures: dict[str, Figure] = field(default_factory=dict)
    ok: bool = True  # the documented behaviour was seen


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _figure(value: Figure) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown(rows: Sequence[Row], machine: dict[str, str] | None = None) -> str:
    """The CPU header, then one table row per case."""
    machine = machine or cpu()
    lines = [
        f"CPU: {machine['model']}, {machine['cpus']} CPUs",
        f"Flags: {machine['flags']}",
        "",
        "| part | target | case | outcome | figures | ok |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        figures = ", ".join(f"{name} {_figure(value)}" for name, value in row.figures.items())
        lines.append(
            f"| {row.part} | {row.target} | {_cell(row.case)} | {_cell(row.outcome)} "
            f"| {_cell(figures)} | {'yes' if row.ok else '**NO**'} |"
        )
    failed = sum(not row.ok for row in rows)
    lines += ["", f"{len(rows)} cases, {failed} not as documented."]
    return "\n".join(lines)


def write_json(rows: Iterable[Row], path: Path, machine: dict[str, str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": machine or cpu(),
        "rows": [asdict(row) for row in rows],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
