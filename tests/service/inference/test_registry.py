"""Which graph a bundle runs on which provider, and what a broken models folder reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biotag.bundle import Parity, read_manifest
from biotag.service.config import REPO_MODELS_DIR, Settings
from biotag.service.inference import registry as registry_module
from biotag.service.inference.registry import choose_precision, load_registry


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


def test_only_int8_graphs_never_measured_without_vnni_are_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry_module, "host_lacks_vnni", lambda: True)
    default = read_manifest(REPO_MODELS_DIR / "default")
    # the committed bundle was measured on a VNNI CPU only (README): a CPU without VNNI is warned
    assert registry_module.unmeasured_here(default, default.graphs["int8"])
    unmeasured = default.model_copy(update={"evaluation": {}})
    graph = unmeasured.graphs["int8"]
    checked_with_vnni = Parity(
        checked_on="CPUExecutionProvider",
        cpu_vnni=True,
        max_abs_logit_diff=0.5,
        label_agreement=0.995,
        tokens_compared=300,
        passed=True,
    )
    with_vnni = graph.model_copy(update={"parity": checked_with_vnni})
    assert registry_module.unmeasured_here(unmeasured, with_vnni)
    without_vnni = checked_with_vnni.model_copy(update={"cpu_vnni": False})
    assert not registry_module.unmeasured_here(
        unmeasured, graph.model_copy(update={"parity": without_vnni})
    )
    seven_bit = with_vnni.model_copy(update={"weight_bits": 7})
    assert not registry_module.unmeasured_here(unmeasured, seven_bit)
    monkeypatch.setattr(registry_module, "host_lacks_vnni", lambda: False)
    assert not registry_module.unmeasured_here(unmeasured, with_vnni)


def test_a_bundle_of_an_unknown_format_version_is_reported_not_served(tmp_path: Path) -> None:
    future = tmp_path / "future"
    future.mkdir()
    manifest = json.loads((REPO_MODELS_DIR / "default" / "bundle.json").read_text())
    manifest["format_version"] = 2
    (future / "bundle.json").write_text(json.dumps(manifest))
    registry = load_registry(Settings(models_dir=tmp_path))
    assert not registry.models
    assert "unknown bundle format_version 2" in registry.errors["future"]
