"""Which CPUs lack VNNI: decides where int8 parity and F1 figures hold (biotag.cpu)."""

from __future__ import annotations

import pytest

from biotag.cpu import lacks_vnni


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
