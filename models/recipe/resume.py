"""Resume states shared by the fine-tuning and pre-training stages.

A stage writes everything it needs to continue (weights, optimizer and scheduler state, every
RNG, where it is in the schedule) into one file in its output folder, atomically: a crash while
writing leaves the previous state whole. Rerunning the same command then continues where it
stopped; a different command (other settings) is refused, because mixing two schedules in one
run would produce a model that no command describes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

# In a subfolder: the exporter hashes every top-level weight-like file (*.pt included) of a
# checkpoint folder, and the resume state is no part of the model.
STATE_FILE = Path("resume") / "state.pt"


class SettingsMismatchError(RuntimeError):
    """The output folder holds a resume state written with other settings."""


# the options every resumable stage takes, one definition for both commands
CheckpointEvery = Annotated[
    int, typer.Option(min=1, help="steps between resume states (~10 min on 2 cores)")
]
StopAtStep = Annotated[
    int | None, typer.Option(help="pause once this many steps are done (rerun to resume)")
]
MaxMinutes = Annotated[
    float | None, typer.Option(help="pause after this many minutes (rerun to resume)")
]


def settings_hash(settings: dict[str, Any]) -> str:
    """A stable digest of the settings that shape the result (not threads, logging, limits)."""
    canonical = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def rng_states() -> dict[str, Any]:
    """The process-wide generators: python ``random``, numpy and torch (CPU)."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


def save_training_state(
    output: Path,
    settings: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    **progress: Any,
) -> None:
    """What every resumable stage saves (its settings, weights, optimizer and scheduler, every
    RNG), plus the stage's own ``progress``."""
    state = {
        "settings_hash": settings_hash(settings),
        "settings": settings,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_states(),
    }
    save_state(output, state | progress)


def save_state(output: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``output/resume/state.pt`` through a temp file and ``os.replace``."""
    final = output / STATE_FILE
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.tmp")
    torch.save(state, temporary)
    os.replace(temporary, final)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """A small report file, replaced atomically like the state (a reader never sees half)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(temporary, path)


def load_state(output: Path, expected_hash: str, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The saved state of this exact command, None when there is none; refuses other settings."""
    path = output / STATE_FILE
    if not path.is_file():
        return None
    # weights_only=False: the state holds RNG tuples and plain dicts written by this recipe
    state: dict[str, Any] = torch.load(path, weights_only=False)
    if state["settings_hash"] != expected_hash:
        differences = {
            key: (state["settings"].get(key), value)
            for key, value in settings.items()
            if state["settings"].get(key) != value
        }
        raise SettingsMismatchError(
            f"{path} was written with other settings ({describe(differences)}); "
            "rerun with the same options to resume, or choose another --output"
        )
    return state


def describe(differences: dict[str, tuple[object, object]]) -> str:
    if not differences:
        return "same keys, different digest"
    return ", ".join(
        f"{key}: saved {old!r}, now {new!r}" for key, (old, new) in differences.items()
    )
