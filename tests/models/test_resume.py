"""Fine-tuning survives interruptions: a paused and resumed run equals an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from safetensors.torch import load_file

from models.recipe import train
from tests.models.recipe_fixtures import build_tiny_base, write_tiny_corpora


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("recipe")
    return build_tiny_base(root / "base"), write_tiny_corpora(root / "data")


def run(tiny: tuple[Path, Path], output: Path, **options: Any) -> None:
    base, data = tiny
    settings: dict[str, Any] = {
        "epochs": 2,
        "batch_size": 8,
        "max_length": 32,
        "lr": 1e-3,
        "threads": 1,
        "checkpoint_every": 3,
        "log_every": 1000,
        "corpora": ["ncbi-disease", "bc5cdr"],
    }
    train.main(output=output, data_dir=data, base_model=base, **(settings | options))


def weights(folder: Path) -> dict[str, Any]:
    return load_file(folder / "model.safetensors")


def metrics(folder: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((folder / "devel_metrics.json").read_text())
    return report


def test_paused_twice_and_resumed_run_ends_with_the_uninterrupted_weights(
    tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    run(tiny, tmp_path / "whole")
    steps = sum(r["train_chunks"] for r in metrics(tmp_path / "whole")["history"]) // 8
    # pause mid-epoch 1 (between resume states) and again across the epoch boundary
    run(tiny, tmp_path / "paused", stop_at_step=4)
    assert not (tmp_path / "paused" / "devel_metrics.json").exists()
    run(tiny, tmp_path / "paused", stop_at_step=steps - 2)
    run(tiny, tmp_path / "paused")
    whole, paused = weights(tmp_path / "whole"), weights(tmp_path / "paused")
    # the resume state stays out of what the exporter hashes as the checkpoint
    assert not list((tmp_path / "paused").glob("*.pt"))
    assert whole.keys() == paused.keys()
    for name, tensor in whole.items():
        assert paused[name].equal(tensor), name

    def losses(folder: Path) -> list[float]:
        return [record["train_loss"] for record in metrics(folder)["history"]]

    assert losses(tmp_path / "paused") == losses(tmp_path / "whole")


def test_rerunning_a_finished_run_changes_nothing(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    run(tiny, tmp_path / "run", epochs=1)
    before = (tmp_path / "run" / "model.safetensors").stat().st_mtime_ns
    run(tiny, tmp_path / "run", epochs=1)
    assert (tmp_path / "run" / "model.safetensors").stat().st_mtime_ns == before


def test_resuming_with_other_settings_is_refused_with_the_difference(
    tiny: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(tiny, tmp_path / "run", stop_at_step=2)
    with pytest.raises(typer.Exit) as refused:
        run(tiny, tmp_path / "run", lr=5e-4)
    assert refused.value.exit_code == 2
    assert "lr: saved 0.001, now 0.0005" in " ".join(capsys.readouterr().out.split())
