"""The final model: trained on train + devel with the schedule devel chose, and says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer

from biotag.bundle import read_manifest, write_manifest
from models.recipe import train
from models.recipe.report import training_record
from tests.models.recipe_fixtures import build_tiny_base, write_tiny_corpora

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("final")
    return build_tiny_base(root / "base"), write_tiny_corpora(root / "data")


def run(tiny: tuple[Path, Path], output: Path, **options: Any) -> dict[str, Any]:
    base, data = tiny
    settings: dict[str, Any] = {
        "batch_size": 8,
        "max_length": 32,
        "lr": 1e-3,
        "threads": 1,
        "log_every": 1000,
        "corpora": ["linnaeus"],
    }
    train.main(output=output, data_dir=data, base_model=base, **(settings | options))
    report: dict[str, Any] = json.loads((output / train.METRICS_FILE).read_text())
    return report


def test_final_run_trains_the_chosen_epochs_on_train_and_devel(
    tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    devel = run(tiny, tmp_path / "devel", epochs=3, linnaeus_holdout=True)
    assert devel["trained_on"] == ["train"]
    assert devel["best_epoch"] == devel["kept_epoch"]
    # the holdout is scored every epoch but does not choose the epoch
    scores = devel["history"][0]["scores"]
    assert set(scores) == {"linnaeus/devel:Species", "linnaeus/holdout:Species"}
    assert devel["history"][0]["mean_f1"] == scores["linnaeus/devel:Species"]["f1"]

    final = run(
        tiny,
        tmp_path / "final",
        final=True,
        schedule_from=tmp_path / "devel" / train.METRICS_FILE,
    )
    assert final["trained_on"] == ["train", "devel"]
    assert final["schedule"]["epochs"] == devel["best_epoch"]
    assert final["schedule"]["chosen_on"] == "devel"
    assert len(final["history"]) == devel["best_epoch"]
    assert final["kept_epoch"] == devel["best_epoch"]  # the last epoch, not a devel choice
    # 20 train documents (18 once the holdout was out) plus 2 devel ones, 8 sentences each
    assert devel["history"][0]["train_chunks"] < final["history"][0]["train_chunks"]
    # the last fifth of devel is kept out and scored, to check int8 on, never to choose
    assert set(final["history"][0]["scores"]) == {"linnaeus/guard:Species"}
    assert final["history"][0]["mean_f1"] is None
    assert final["guard_fraction"] == 0.2
    assert training_record(final)["guard_fraction"] == 0.2


def test_final_run_refuses_a_schedule_chosen_with_other_settings(
    tiny: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(tiny, tmp_path / "devel", epochs=1)
    with pytest.raises(typer.Exit):
        run(
            tiny,
            tmp_path / "final",
            final=True,
            lr=5e-4,
            schedule_from=tmp_path / "devel" / train.METRICS_FILE,
        )
    assert "settings differ from the devel run" in " ".join(capsys.readouterr().out.split())


def test_a_schedule_names_its_base_model_by_its_files_not_its_folder(
    tiny: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, data = tiny
    run(tiny, tmp_path / "devel", epochs=1)
    schedule = tmp_path / "devel" / train.METRICS_FILE
    # the same base in another checkout's folder: the record still schedules the final run
    moved = shutil.copytree(base, tmp_path / "elsewhere" / "base")
    final = run((moved, data), tmp_path / "final", final=True, schedule_from=schedule)
    assert final["schedule"]["chosen_on"] == "devel"
    assert final["base_model_sha256"] == json.loads(schedule.read_text())["base_model_sha256"]
    # a base with other weights is another base, wherever it lies
    changed = build_tiny_base(tmp_path / "changed", seed=1)
    with pytest.raises(typer.Exit):
        run((changed, data), tmp_path / "final-changed", final=True, schedule_from=schedule)
    assert "base_model_sha256" in capsys.readouterr().out


def test_the_manifest_records_how_the_model_was_trained(tmp_path: Path) -> None:
    bundle = tmp_path / "default"
    bundle.mkdir()
    committed = json.loads((MODELS_DIR / "default" / "bundle.json").read_text())
    # the committed bundle is a final run: train + devel for the epochs the devel run chose,
    # each devel tail and some LINNAEUS documents kept out to judge it by
    assert committed["training"]["trained_on"] == ["train", "devel"]
    assert committed["training"]["schedule"]["chosen_on"] == "devel"
    assert committed["training"]["kept_epoch"] == committed["training"]["schedule"]["epochs"]
    assert committed["training"]["guard_fraction"] > 0
    assert "linnaeus_holdout" in committed["training"]
    # a bundle written before the field still reads, with nothing recorded
    del committed["training"]
    (bundle / "bundle.json").write_text(json.dumps(committed))
    assert read_manifest(bundle).training == {}
    report = {
        "trained_on": ["train", "devel"],
        "schedule": {"epochs": 4, "lr": 1e-4, "chosen_on": "devel"},
        "kept_epoch": 4,
        "selection": "last epoch (devel is training data)",
        "base_model": "build/minilm-bio",
        "train_minutes": 300.0,
    }
    manifest = read_manifest(bundle).model_copy(update={"training": training_record(report)})
    write_manifest(bundle, manifest)
    training = read_manifest(bundle).training
    assert training["trained_on"] == ["train", "devel"]
    assert training["schedule"] == {"epochs": 4, "lr": 1e-4, "chosen_on": "devel"}
    assert (
        read_manifest(bundle).format_version == read_manifest(MODELS_DIR / "default").format_version
    )


# A setting added after records were written, a value of it, and the history figure that
# value must raise (True) or lower (False) against the setting's default on the same text.
LATER_SETTINGS = [
    # neighbouring sentences share chunks: fewer, longer chunks over the same text
    pytest.param("pack_share", 1.0, "train_chunks", False, id="packing"),
    # the same batches, a loss with a floor: smoothing costs even the labels it gets right
    pytest.param("label_smoothing", 0.2, "train_loss", True, id="label-smoothing"),
]


@pytest.mark.parametrize(("setting", "value", "figure", "raises"), LATER_SETTINGS)
def test_a_later_setting_is_part_of_the_schedule_and_older_records_ran_without_it(
    tiny: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    value: float,
    figure: str,
    raises: bool,
) -> None:
    run(tiny, tmp_path / "devel", epochs=1)
    schedule = tmp_path / "devel" / train.METRICS_FILE
    # a record written before the setting existed: its run had the default
    report = json.loads(schedule.read_text())
    del report["settings"][setting]
    schedule.write_text(json.dumps(report))
    final = run(tiny, tmp_path / "final", final=True, schedule_from=schedule)
    assert final["settings"][setting] == 0.0
    with pytest.raises(typer.Exit):
        run(tiny, tmp_path / "other", final=True, schedule_from=schedule, **{setting: value})
    assert setting in capsys.readouterr().out
    own = run(tiny, tmp_path / "own", final=True, epochs=1, **{setting: value})
    assert own["settings"][setting] == value
    assert (own["history"][0][figure] > final["history"][0][figure]) == raises
