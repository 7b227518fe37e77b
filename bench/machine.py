"""The machine a figure was measured on: CPU model, core count and flags (lscpu). Every bench
prints it with its figures, since the CPU behind this project's 2 cores changes between
sessions (AVX2-only one day, AVX-512 VNNI the next) and int8 speed and results follow it."""

from __future__ import annotations

import os
import subprocess

# The flags that decide which int8 and float kernels ONNX Runtime picks
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu() -> dict[str, str]:
    """CPU model, core count and all flags."""
    try:
        text = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"model": "unknown (lscpu failed)", "cpus": str(os.cpu_count()), "flags": ""}
    fields = dict(
        (key.strip(), value.strip())
        for key, value in (line.split(":", 1) for line in text.splitlines() if ":" in line)
    )
    return {
        "model": fields.get("Model name", "unknown"),
        "cpus": fields.get("CPU(s)", str(os.cpu_count())),
        "flags": fields.get("Flags", ""),
    }


def kernel_flags(flags: str) -> list[str]:
    """Which of KERNEL_FLAGS a flags string lists, in KERNEL_FLAGS order."""
    present = set(flags.split())
    return [flag for flag in KERNEL_FLAGS if flag in present]


def record(machine: dict[str, str]) -> dict[str, object]:
    """``machine`` for a bench's JSON report: the kernel flags alone, not lscpu's whole list."""
    return {**machine, "flags": kernel_flags(machine["flags"])}


def summary(machine: dict[str, str] | None = None) -> str:
    """One line for the top of a bench's output: model, CPUs, the kernel flags it has."""
    machine = machine or cpu()
    flags = " ".join(kernel_flags(machine["flags"])) or "none of " + " ".join(KERNEL_FLAGS)
    return f"CPU: {machine['model']}, {machine['cpus']} CPUs; kernel flags: {flags}"
