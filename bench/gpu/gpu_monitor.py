"""nvidia-smi sampling in the background: GPU utilisation and memory over a time window."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from typing import Any


class GpuSampler:
    """``nvidia-smi -lms`` streaming into a list; does nothing where there is no nvidia-smi."""

    def __init__(self, device_id: int, period_ms: int = 200, enabled: bool = True) -> None:
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, util %, memory MB)
        self._process: subprocess.Popen[str] | None = None
        executable = shutil.which("nvidia-smi") if enabled else None
        if executable is None:
            return
        self._process = subprocess.Popen(
            [
                executable,
                f"--id={device_id}",
                "--query-gpu=utilization.gpu,memory.used",
                "--format=csv,noheader,nounits",
                f"--loop-ms={period_ms}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def active(self) -> bool:
        return self._process is not None

    def _read(self) -> None:
        stream = self._process.stdout if self._process is not None else None
        if stream is None:
            return
        for line in stream:
            try:
                util, memory = (float(x) for x in line.strip().split(","))
            except ValueError:
                continue
            self.samples.append((time.monotonic(), util, memory))

    def window(self, start: float, end: float) -> dict[str, Any] | None:
        if not self.active:
            return None
        inside = [(u, m) for t, u, m in list(self.samples) if start <= t <= end]
        if not inside:
            return {"samples": 0}
        utils = [u for u, _ in inside]
        return {
            "samples": len(inside),
            "util_mean_pct": round(sum(utils) / len(utils), 1),
            "util_max_pct": max(utils),
            "memory_max_mb": max(m for _, m in inside),
        }

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
