"""What this CPU offers int8 inference, shared by export (where parity is measured) and the
service (which serves on it)."""

from __future__ import annotations

import functools
from pathlib import Path

_CPUINFO = Path("/proc/cpuinfo")


def lacks_vnni(cpuinfo: str) -> bool:
    """Whether /proc/cpuinfo text describes a CPU without VNNI int8 dot products; False when
    it lists no x86 flags (another architecture: nothing known to differ)."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return not {"avx512_vnni", "avx_vnni"} & set(line.partition(":")[2].split())
    return False


@functools.cache
def host_lacks_vnni() -> bool:
    """This host's answer, read once."""
    return _CPUINFO.is_file() and lacks_vnni(_CPUINFO.read_text(encoding="utf-8", errors="replace"))
