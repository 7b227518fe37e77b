"""Per-epoch records for devel_metrics.json and the final rich results table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from models.recipe.evaluate import Score


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did and scored; the ``history`` entries of devel_metrics.json."""

    epoch: int
    train_loss: float
    train_chunks: int
    train_seconds: float
    chunks_per_second: float
    eval_seconds: float
    stopped_early: bool
    scores: dict[str, Score]
    mean_f1: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # recurses into the Score dataclasses


def results_table(history: list[EpochRecord], best: EpochRecord) -> Table:
    """F1 per target per epoch, then P/R/F1 of the kept (best) epoch."""
    table = Table(title=f"devel entity-level exact match (best epoch {best.epoch})")
    table.add_column("target")
    for record in history:
        table.add_column(f"F1 ep{record.epoch}", justify="right")
    for name in ("P", "R", "F1"):
        table.add_column(f"best {name}", justify="right")
    for target, kept in best.scores.items():
        row = [target, *(f"{record.scores[target].f1:.4f}" for record in history)]
        row += [f"{kept.precision:.4f}", f"{kept.recall:.4f}", f"{kept.f1:.4f}"]
        table.add_row(*row)
    means = [f"{record.mean_f1:.4f}" for record in history]
    table.add_row("mean", *means, "", "", f"{best.mean_f1:.4f}")
    return table
