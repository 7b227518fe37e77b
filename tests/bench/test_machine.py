"""Every bench figure names the CPU it was measured on, with the flags that pick int8 kernels."""

from __future__ import annotations

from bench.machine import cpu, kernel_flags, summary

AVX2_EPYC = {
    "model": "AMD EPYC 7B12",
    "cpus": "2",
    "flags": "fpu sse2 avx fma avx2 bmi2 sha_ni",
}


def test_summary_names_model_cores_and_the_int8_kernel_flags_only() -> None:
    line = summary(AVX2_EPYC)

    assert line == "CPU: AMD EPYC 7B12, 2 CPUs; kernel flags: avx2 fma"


def test_a_cpu_without_any_kernel_flag_says_so() -> None:
    line = summary({"model": "Neoverse-N1", "cpus": "4", "flags": "fp asimd crc32"})

    assert "kernel flags: none of avx2" in line


def test_vnni_is_told_apart_from_its_prefix_flags() -> None:
    assert kernel_flags("avx512f avx512_vnni avx512vl") == ["avx512f", "avx512_vnni"]


def test_this_machine_is_described_from_lscpu() -> None:
    machine = cpu()

    assert machine["model"] not in ("", "unknown (lscpu failed)")
    assert int(machine["cpus"]) >= 1
