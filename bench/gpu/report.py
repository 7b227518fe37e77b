"""Progress lines with timestamps, stages that never stop the run, results as JSON + markdown."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.gpu.markdown import render_markdown, summarise

RESULTS_JSON = "gpu_check.json"
RESULTS_MD = "gpu_check.md"
PROGRESS_LOG = "progress.log"


class Run:
    """Shared state of one check: the output folder, the time budget and the results so far."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out = out
        self.out.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.results: dict[str, Any] = {
            "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "budget_s": budget_s,
            "stages": {},
        }
        self._log = (out / PROGRESS_LOG).open("a", encoding="utf-8")

    def log(self, message: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        line = f"[{stamp} +{time.monotonic() - self.started:6.1f}s] {message}"
        print(line, flush=True)
        self._log.write(line + "\n")
        self._log.flush()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def stage(self, name: str, body: Callable[[], Any], min_s: float = 0.0) -> Any | None:
        """Run one stage; its result or its error is recorded and the results rewritten."""
        record: dict[str, Any]
        if self.remaining() < min_s:
            record = {"status": "skipped", "why": f"{self.remaining():.0f} s left, needs {min_s}"}
            self.log(f"stage {name}: SKIPPED ({record['why']})")
            self.results["stages"][name] = record
            self.write()
            return None
        self.log(f"stage {name}: start ({self.remaining():.0f} s of budget left)")
        began = time.monotonic()
        value: Any | None = None
        try:
            value = body()
            record = {"status": "ok", "result": value}
        except (Exception, SystemExit) as exc:  # a failed stage is recorded, the run goes on
            record = {
                "status": "error",
                "error": f"{type(exc).__name__}: {exc}"[:4000],
                "traceback": traceback.format_exc()[-6000:],
            }
            self.log(f"stage {name}: ERROR {record['error'][:500]}")
        record["seconds"] = round(time.monotonic() - began, 1)
        self.results["stages"][name] = record
        self.log(f"stage {name}: {record['status']} in {record['seconds']} s")
        self.write()
        return value

    def write(self) -> None:
        self.results["elapsed_s"] = round(time.monotonic() - self.started, 1)
        try:
            self.results["summary"] = summarise(self.results)
        except Exception as exc:  # a summary bug must not lose the stage records
            self.results["summary"] = {"error": repr(exc)}
        text = json.dumps(self.results, indent=2, default=str)
        (self.out / RESULTS_JSON).write_text(text, encoding="utf-8")
        try:
            markdown = render_markdown(self.results)
        except Exception as exc:  # the JSON is the record; the table is a convenience
            markdown = f"# GPU check\n\nmarkdown rendering failed: {exc!r}; see {RESULTS_JSON}\n"
        (self.out / RESULTS_MD).write_text(markdown, encoding="utf-8")

    def close(self) -> None:
        self.write()
        self._log.close()
