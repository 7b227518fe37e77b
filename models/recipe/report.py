"""Per-epoch records for devel_metrics.json and the final rich results table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from models.recipe.evaluate import Score
from models.recipe.schedule import schedule_record

HOLDOUT_SPLIT = "holdout"
GUARD_SPLIT = "guard"
REPORTED_ONLY_SPLITS = (HOLDOUT_SPLIT, GUARD_SPLIT)


def is_holdout(target: str) -> bool:
    """``linnaeus/holdout:Species`` and a final run's ``<corpus>/guard`` are reported, never used
    to choose an epoch."""
    return target.split(":", 1)[0].rpartition("/")[2] in REPORTED_ONLY_SPLITS


def selection_f1(scores: dict[str, Score]) -> float | None:
    """Mean devel F1 over the targets that choose the epoch; None where nothing is scored."""
    chosen = [s.f1 for target, s in scores.items() if not is_holdout(target)]
    return sum(chosen) / len(chosen) if chosen else None


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did and scored; the ``history`` entries of devel_metrics.json."""

    epoch: int
    train_loss: float
    train_chunks: int
    train_seconds: float
    chunks_per_second: float
    eval_seconds: float
    scores: dict[str, Score]
    mean_f1: float | None  # mean devel F1 (holdout excluded); None for a --final run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # recurses into the Score dataclasses

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        scores = {target: Score(**values) for target, values in data["scores"].items()}
        return cls(**{**data, "scores": scores})


def _f1(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def results_table(history: list[EpochRecord], kept: EpochRecord) -> Table:
    """F1 per target per epoch, then P/R/F1 of the kept epoch (best on devel, or the last)."""
    table = Table(title=f"entity-level exact match (kept epoch {kept.epoch})")
    table.add_column("target")
    for record in history:
        table.add_column(f"F1 ep{record.epoch}", justify="right")
    for name in ("P", "R", "F1"):
        table.add_column(f"kept {name}", justify="right")
    for target, score in kept.scores.items():
        row = [target, *(_f1(record.scores[target].f1) for record in history)]
        row += [f"{score.precision:.4f}", f"{score.recall:.4f}", f"{score.f1:.4f}"]
        table.add_row(*row)
    means = [_f1(record.mean_f1) for record in history]
    table.add_row("mean devel", *means, "", "", _f1(kept.mean_f1))
    return table


def metrics_report(
    settings: dict[str, Any],
    schedule: dict[str, Any],
    history: list[EpochRecord],
    kept: EpochRecord,
    finished: bool,
) -> dict[str, Any]:
    """devel_metrics.json: settings, what the model saw, the kept epoch, every epoch's figures."""
    final = bool(settings["final"])
    report: dict[str, Any] = {
        "base_model": settings["base_model"],
        "base_model_sha256": settings["base_model_sha256"],
        "settings": settings,
        "trained_on": ["train", "devel"] if final else ["train"],
        "schedule": schedule_record(settings) | schedule,
        "kept_epoch": kept.epoch,
        "selection": "last epoch (devel is training data)" if final else "best mean devel F1",
        "finished": finished,
        "history": [r.as_dict() for r in history],
        "train_minutes": sum(r.train_seconds for r in history) / 60,
    }
    if settings["linnaeus_holdout"]:
        report["linnaeus_holdout"] = "10% of LINNAEUS train documents, never trained on"
    if final and settings.get("guard_fraction"):
        report["guard_fraction"] = settings["guard_fraction"]
    if not final:
        report |= {
            "best_epoch": kept.epoch,
            "best_mean_f1": kept.mean_f1,
            "best_scores": kept.as_dict()["scores"],
        }
    return report


def training_record(report: dict[str, Any]) -> dict[str, object]:
    """The manifest's ``training`` entry, from a run's devel_metrics.json."""
    record: dict[str, object] = {
        "trained_on": report.get("trained_on", ["train"]),
        "schedule": report.get("schedule", {}),
        "kept_epoch": report.get("kept_epoch", report.get("best_epoch")),
        "selection": report.get("selection", "best mean devel F1"),
        "base_model": report.get("base_model"),
        "base_model_sha256": report.get("base_model_sha256"),
        "train_minutes": report.get("train_minutes"),
    }
    if "linnaeus_holdout" in report:
        record["linnaeus_holdout"] = report["linnaeus_holdout"]
    if "guard_fraction" in report:
        record["guard_fraction"] = report["guard_fraction"]
        record["guard"] = (
            f"the last {report['guard_fraction']:.0%} of each devel set, never trained on: "
            "where int8 is compared with fp32"
        )
    return record
