"""The schedule a devel run chose, carried into the ``--final`` run on train + devel.

The devel run trains for ``epochs`` and keeps the epoch with the best mean devel F1; the final
run trains that many epochs with every other setting equal, on train + devel, and keeps its last
epoch (devel cannot choose any more: it is training data there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Settings that define the schedule and data: a final run must share them with its devel run.
# Not compared: epochs (taken from the devel run), final and linnaeus_holdout (what differs),
# and the base model's and data's paths: the base is compared by its files' digest, so a record
# made in another checkout (like models/recipe/runs/) still schedules a run on the same base.
SHARED_KEYS = (
    "lr",
    "batch_size",
    "max_length",
    "warmup_ratio",
    "weight_decay",
    "seed",
    "negative_keep",
    "bc5cdr_disease",
    "corpora",
    "base_model_sha256",
    "limit_train",
    "pack_share",
    "label_smoothing",
)
# Settings added after records were written: the value an older record's run had.
RECORD_DEFAULTS = {"pack_share": 0.0, "label_smoothing": 0.0}


class ScheduleError(ValueError):
    """The devel run cannot give this final run its schedule."""


def schedule_record(settings: dict[str, Any]) -> dict[str, Any]:
    """The schedule part of the settings, as devel_metrics.json and the manifest record it."""
    return {key: settings[key] for key in ("epochs", *SHARED_KEYS[:7])}


def chosen_schedule(devel_metrics: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the devel run's best epoch count; refuses a run with other settings."""
    if not devel_metrics.is_file():
        raise ScheduleError(f"{devel_metrics} does not exist: run the devel stage first")
    report = json.loads(devel_metrics.read_text())
    if not report.get("finished"):
        raise ScheduleError(f"{devel_metrics} is from an unfinished run: rerun it to completion")
    if report["settings"].get("final"):
        raise ScheduleError(f"{devel_metrics} is a --final run: it chose no schedule")
    differences = [
        f"{key}: devel run {report['settings'].get(key)!r}, this run {settings[key]!r}"
        for key in SHARED_KEYS
        if _comparable(_recorded(report["settings"], key)) != _comparable(settings[key])
    ]
    if differences:
        raise ScheduleError(f"settings differ from the devel run {devel_metrics}: {differences}")
    return {**settings, "epochs": int(report["best_epoch"])}


def chosen_record(devel_metrics: Path) -> dict[str, Any]:
    """What the final run records about the choice: where, which epoch, what devel scored."""
    report = json.loads(devel_metrics.read_text())
    return {
        "chosen_on": "devel",
        "devel_run": str(devel_metrics),
        "devel_epochs_tried": report["settings"]["epochs"],
        "devel_best_epoch": report["best_epoch"],
        "devel_best_mean_f1": report["best_mean_f1"],
        "devel_best_f1": {key: s["f1"] for key, s in report["best_scores"].items()},
    }


def _recorded(settings: dict[str, Any], key: str) -> object:
    return settings.get(key, RECORD_DEFAULTS.get(key))


def _comparable(value: object) -> object:
    # JSON turned tuples into lists; compare through JSON both ways
    return json.loads(json.dumps(value, sort_keys=True, default=str))
