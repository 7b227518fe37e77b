"""Figures of the int8 graph as a CPU without VNNI computes it, measured on any x86 host."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from biotag.bundle import read_manifest, write_manifest
from biotag.cpu import host_lacks_vnni
from models.recipe import without_vnni

REPOSITORY = Path(__file__).resolve().parents[2]
LINNAEUS_DEVEL = REPOSITORY.parent / "shared/data/bioner/linnaeus/devel.tsv"
SENTENCES = 150  # 102 species mentions; about a minute under emulation


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


def _first_sentences(source: Path, target: Path, count: int) -> None:
    blocks = source.read_text().split("\n\n")[:count]
    target.parent.mkdir(parents=True)
    target.write_text("\n\n".join(blocks) + "\n\n")


@pytest.mark.slow
def test_recording_writes_the_figure_and_fails_on_a_loss_against_fp32(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _first_sentences(LINNAEUS_DEVEL, data / "linnaeus/devel.tsv", SENTENCES)
    bundle = Path(shutil.copytree(REPOSITORY / "models/default", tmp_path / "models/default"))
    manifest = read_manifest(bundle)
    published = manifest.evaluation["species"]["linnaeus/devel.tsv"]
    # an fp32 figure no int8 graph can come within half a point of: the run must fail
    evaluation = manifest.evaluation | {
        "species": {"linnaeus/devel.tsv": published | {"fp32_f1": 1.0}}
    }
    write_manifest(bundle, manifest.model_copy(update={"evaluation": evaluation}))

    with pytest.raises(typer.Exit) as failed:
        without_vnni.record(bundle=bundle, head=["species"], data_dir=data)
    assert "loses more than 0.5% F1" in str(failed.value.exit_code)

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
    manifest = read_manifest(bundle)
    write_manifest(bundle, manifest.model_copy(update={"evaluation": {}}))
    with pytest.raises(typer.Exit) as refused:
        without_vnni.record(bundle=bundle, head=["gene"], data_dir=tmp_path)
    assert "publish it first" in str(refused.value.exit_code)
    assert "gene on bc2gm/devel.tsv" in str(refused.value.exit_code)
