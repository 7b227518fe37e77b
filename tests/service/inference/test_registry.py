"""Which graph a bundle runs on which provider, and what a broken models folder reports."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from biotag.bundle import Manifest, Parity, read_manifest
from biotag.service.config import REPO_MODELS_DIR, Settings
from biotag.service.inference import registry as registry_module
from biotag.service.inference.registry import choose_precision, load_registry
from tests.support.manifests import without_vnni_figures_removed


@pytest.mark.parametrize(
    ("available", "provider", "configured", "chosen"),
    [
        ({"fp32", "int8", "fp16"}, "cpu", "fp32", "fp32"),
        ({"fp32", "int8", "fp16"}, "cpu", "int8", "int8"),
        ({"int8"}, "cpu", "fp32", "int8"),
        ({"fp32", "fp16"}, "cuda", "fp16", "fp16"),
        ({"fp32", "int8"}, "cuda", "fp16", "fp32"),
    ],
)
def test_choose_precision(available: set[str], provider: str, configured: str, chosen: str) -> None:
    manifest = read_manifest(REPO_MODELS_DIR / "default")
    graph = manifest.graphs["int8"]
    graphs = {p: graph.model_copy(update={"precision": p}) for p in available}
    manifest = manifest.model_copy(update={"graphs": graphs})
    key = "cuda_precision" if provider == "cuda" else "cpu_precision"
    assert choose_precision(manifest, provider, Settings(**{key: configured})) == chosen


def test_missing_models_folder_is_reported(tmp_path: Path) -> None:
    registry = load_registry(Settings(models_dir=tmp_path / "absent"))
    assert not registry.models
    assert "does not exist" in next(iter(registry.errors.values()))


def test_int8_runs_one_sequence_at_a_time() -> None:
    registry = load_registry(
        Settings(models_dir=REPO_MODELS_DIR, cpu_precision="int8", intra_op_threads=1)
    )
    bundle = registry.bundles["default"]
    assert bundle.precision == "int8"
    assert registry.sessions["default"].batch_invariant is False


def _without_vnni(manifest: Manifest, head: str, loss: float | None) -> Manifest:
    """``manifest`` with no figure measured without VNNI but ``head``'s, ``loss`` under fp32 on
    every set it was scored on."""
    evaluation = without_vnni_figures_removed(manifest)
    if loss is not None:
        for figures in evaluation[head].values():
            figures["f1_without_vnni"] = figures["fp32_f1"] - loss
    return manifest.model_copy(update={"evaluation": evaluation})


def test_heads_not_shown_to_keep_their_int8_f1_without_vnni_are_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry_module, "host_lacks_vnni", lambda: True)
    default = read_manifest(REPO_MODELS_DIR / "default")
    checked_with_vnni = Parity(
        checked_on="CPUExecutionProvider",
        cpu_vnni=True,
        max_abs_logit_diff=0.5,
        label_agreement=0.995,
        tokens_compared=300,
        passed=True,
    )
    graph = default.graphs["int8"].model_copy(update={"parity": checked_with_vnni})
    heads = [head.name for head in default.heads]
    unmeasured = _without_vnni(default, "species", None)
    assert registry_module.unmeasured_heads(unmeasured, graph) == heads
    kept = _without_vnni(default, "species", 0.004)
    assert registry_module.unmeasured_heads(kept, graph) == [h for h in heads if h != "species"]
    lost = _without_vnni(default, "species", 0.018)
    assert registry_module.unmeasured_heads(lost, graph) == heads
    # parity measured on such a CPU, or 7-bit weights that cannot saturate: nothing to warn of
    without_vnni = checked_with_vnni.model_copy(update={"cpu_vnni": False})
    parity_here = graph.model_copy(update={"parity": without_vnni})
    assert registry_module.unmeasured_heads(unmeasured, parity_here) == []
    seven_bit = graph.model_copy(update={"weight_bits": 7})
    assert registry_module.unmeasured_heads(unmeasured, seven_bit) == []
    monkeypatch.setattr(registry_module, "host_lacks_vnni", lambda: False)
    assert registry_module.unmeasured_heads(unmeasured, graph) == []


def test_a_cpu_without_vnni_is_told_which_heads_of_the_bundle_are_unmeasured_there(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(registry_module, "host_lacks_vnni", lambda: True)
    committed = read_manifest(REPO_MODELS_DIR / "default")
    expected = registry_module.unmeasured_heads(committed, committed.graphs["int8"])
    with caplog.at_level(logging.WARNING, logger=registry_module.__name__):
        registry = load_registry(Settings(models_dir=REPO_MODELS_DIR, cpu_precision="int8"))
    assert registry.bundles["default"].precision == "int8"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if expected:
        assert any(", ".join(expected) in message for message in warnings)
    else:
        assert not warnings


def test_a_bundle_of_an_unknown_format_version_is_reported_not_served(tmp_path: Path) -> None:
    future = tmp_path / "future"
    future.mkdir()
    manifest = json.loads((REPO_MODELS_DIR / "default" / "bundle.json").read_text())
    manifest["format_version"] = 2
    (future / "bundle.json").write_text(json.dumps(manifest))
    registry = load_registry(Settings(models_dir=tmp_path))
    assert not registry.models
    assert "unknown bundle format_version 2" in registry.errors["future"]
