"""Figures of the int8 graph as a CPU without VNNI computes it, measured on any x86 host."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from biotag.bundle import read_manifest, write_manifest
from biotag.cpu import host_lacks_vnni
from models.recipe import without_vnni
from models.recipe.holdout import linnaeus_held_out, write_iob
from tests.support.manifests import without_vnni_figures_removed

REPOSITORY = Path(__file__).resolve().parents[2]
DATA_DIR = REPOSITORY.parent / "shared/data/bioner"
# of the LINNAEUS train documents every committed run held out (a final run trained on devel):
# 70 species mentions; about a minute under emulation
SENTENCES = 150


def test_the_emulated_cpu_computes_int8_as_a_cpu_without_vnni() -> None:
    native = without_vnni.probe_product()
    assert native == (
        without_vnni.SATURATED_PRODUCT if host_lacks_vnni() else without_vnni.EXACT_PRODUCT
    )
    probe = "from models.recipe.without_vnni import probe_product; print(probe_product())"
    emulated = subprocess.run(
        [*without_vnni.EMULATED_CPU, sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPOSITORY,
    )
    assert int(emulated.stdout) == without_vnni.SATURATED_PRODUCT


def _as_devel_run(bundle: Path) -> None:
    """The committed bundle's graph with the manifest of a devel run (scored on the devel files),
    with no figure measured without VNNI yet and its species figure on LINNAEUS devel taken from
    whichever set the bundle published: the recorder must not hang on which run is committed."""
    manifest = read_manifest(bundle)
    evaluation = without_vnni_figures_removed(manifest)
    evaluation["species"] = {"linnaeus/devel.tsv": next(iter(evaluation["species"].values()))}
    training = {"trained_on": ["train"], "kept_epoch": 6}
    update = {"evaluation": evaluation, "training": training}
    write_manifest(bundle, manifest.model_copy(update=update))


def _unseen_sentences(target: Path, count: int) -> None:
    target.parent.mkdir(parents=True)
    write_iob(linnaeus_held_out(DATA_DIR)[:count], target)


@pytest.mark.slow
def test_recording_writes_the_figure_and_fails_on_a_loss_against_fp32(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _unseen_sentences(data / "linnaeus/devel.tsv", SENTENCES)
    bundle = Path(shutil.copytree(REPOSITORY / "models/default", tmp_path / "models/default"))
    _as_devel_run(bundle)
    manifest = read_manifest(bundle)
    published = manifest.evaluation["species"]["linnaeus/devel.tsv"]
    # an fp32 figure no int8 graph can come within half a point of: the run must fail
    evaluation = manifest.evaluation | {
        "species": {"linnaeus/devel.tsv": published | {"fp32_f1": 1.0}}
    }
    write_manifest(bundle, manifest.model_copy(update={"evaluation": evaluation}))

    with pytest.raises(SystemExit) as failed:
        without_vnni.record(bundle=bundle, head=["species"], data_dir=data)
    assert "loses more than 0.5% F1" in str(failed.value.code)

    recorded = read_manifest(bundle).evaluation
    figure = recorded["species"]["linnaeus/devel.tsv"]["f1_without_vnni"]
    assert 0.5 < figure < 1.0  # this bundle tags these sentences' species, saturating or not
    assert figure == round(figure, 4)
    untouched = {"disease", "chemical", "gene"}
    assert all(
        "f1_without_vnni" not in figures
        for head in untouched
        for figures in recorded[head].values()
    )
    assert "species on linnaeus/devel.tsv" in " ".join(capsys.readouterr().out.split())


def test_heads_without_published_figures_are_refused(tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(REPOSITORY / "models/default", tmp_path / "models/default"))
    _as_devel_run(bundle)
    manifest = read_manifest(bundle)
    write_manifest(bundle, manifest.model_copy(update={"evaluation": {}}))
    with pytest.raises(SystemExit) as refused:
        without_vnni.record(bundle=bundle, head=["gene"], data_dir=tmp_path)
    assert "publish it first" in str(refused.value.code)
    assert "gene on bc2gm/devel.tsv" in str(refused.value.code)
