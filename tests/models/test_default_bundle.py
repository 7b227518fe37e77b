"""The committed default bundle: four models from one encoder, useful out of the box."""

from __future__ import annotations

from pathlib import Path

import pytest

from biotag.bundle import read_manifest
from biotag.evaluation.datasets import detect_format
from biotag.service.config import Settings
from biotag.service.inference.runtime import running
from models.recipe.scoring import scoring_sets

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
SENTENCE = "Cisplatin-induced nephrotoxicity was reduced in mice lacking the p53 gene."


def test_manifest_declares_four_heads_with_devel_figures() -> None:
    manifest = read_manifest(MODELS_DIR / "default")
    assert manifest.name == "default"  # the bundle label of every metric and /models entry
    assert [(h.name, h.entity_types) for h in manifest.heads] == [
        ("disease", ["Disease"]),
        ("chemical", ["Chemical"]),
        ("gene", ["Gene"]),
        ("species", ["Species"]),
    ]
    assert set(manifest.graphs) == {"int8"}
    assert manifest.graphs["int8"].parity is not None
    assert manifest.graphs["int8"].parity.passed
    assert all(manifest.evaluation[h.name] for h in manifest.heads)
    assert manifest.graphs["int8"].weight_bits == 8
    # outlier channels run in float: without them species lost a point to int8
    assert manifest.graphs["int8"].float_outlier_channels > 0
    assert manifest.graphs["int8"].float_layers == []  # a float layer cost 14% of throughput


def test_int8_stays_within_half_an_f1_point_of_fp32_on_every_scored_set() -> None:
    manifest = read_manifest(MODELS_DIR / "default")
    evaluation = manifest.evaluation
    figures = [
        (head, dataset, f) for head, sets in evaluation.items() for dataset, f in sets.items()
    ]
    # every set the recipe scores a bundle so trained on: devel, or a final run's kept-out text
    expected = scoring_sets(manifest.training)
    assert {head: tuple(sets) for head, sets in evaluation.items()} == expected
    for head, dataset, f in figures:
        assert f["fp32_f1"] - f["f1"] <= 0.005, (head, dataset)
        # a sentence file is scored ten sentences a text too, as abstracts reach the service
        if detect_format(Path(dataset)) == "iob":
            assert f["fp32_f1_grouped"] - f["f1_grouped"] <= 0.005, (head, dataset)


@pytest.mark.slow
async def test_one_inference_tags_all_four_types() -> None:
    async with running(Settings(models_dir=MODELS_DIR, intra_op_threads=1)) as runtime:
        assert runtime.ready
        (entities,) = (await runtime.tagger.tag([SENTENCE], None)).documents
    found = {(e.text, e.type) for e in entities}
    assert {("Cisplatin", "Chemical"), ("nephrotoxicity", "Disease"), ("mice", "Species")} <= found
    for entity in entities:
        assert SENTENCE[entity.start : entity.end] == entity.text
