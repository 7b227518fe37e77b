"""Which graph a bundle runs on which provider, and what a broken models folder reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from biotag.bundle import read_manifest
from biotag.service.config import Settings
from biotag.service.registry import choose_precision, lacks_vnni, load_registry


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
def test_choose_precision(
    tiny_bundles_dir: Path, available: set[str], provider: str, configured: str, chosen: str
) -> None:
    manifest = read_manifest(tiny_bundles_dir / "tiny-bert")
    manifest = manifest.model_copy(
        update={"graphs": {p: g for p, g in manifest.graphs.items() if p in available}}
    )
    key = "cuda_precision" if provider == "cuda" else "cpu_precision"
    assert choose_precision(manifest, provider, Settings(**{key: configured})) == chosen


def test_missing_models_folder_is_reported(tmp_path: Path) -> None:
    registry = load_registry(Settings(models_dir=tmp_path / "absent"))
    assert not registry.models
    assert "does not exist" in next(iter(registry.errors.values()))


def test_int8_runs_one_sequence_at_a_time(tiny_bundles_dir: Path) -> None:
    registry = load_registry(
        Settings(models_dir=tiny_bundles_dir, cpu_precision="int8", intra_op_threads=1)
    )
    bundle = registry.bundles["tiny-bert"]
    assert bundle.precision == "int8"
    assert registry.engines["tiny-bert"].batch_invariant is False


@pytest.mark.parametrize(
    ("cpuinfo", "lacking"),
    [
        ("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n", False),
        ("flags\t\t: fpu sse4_2 avx avx2 fma avx_vnni\n", False),
        ("processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma\n", True),
        ("processor\t: 0\nFeatures\t: fp asimd asimddp\n", False),  # arm64: no x86 flags
    ],
)
def test_cpus_without_vnni_are_recognised(cpuinfo: str, lacking: bool) -> None:
    assert lacks_vnni(cpuinfo) is lacking
