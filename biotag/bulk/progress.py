"""How a run is going, on stderr (stdout stays clean for data): a rich progress bar on a
terminal (documents/s, tokens/s where the engine counts them (in process), else characters/s,
files done of all, ETA by input bytes read), plain log lines every few seconds elsewhere,
nothing with ``quiet``; and the final summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

LOG_EVERY_S = 10.0


@dataclass
class Counts:
    documents: int = 0
    characters: int = 0
    entities: Counter[str] = field(default_factory=Counter)  # by entity type
    skipped: int = 0
    deleted: int = 0
    failed: int = 0

    def add(self, other: Counts) -> None:
        self.documents += other.documents
        self.characters += other.characters
        self.entities.update(other.entities)
        self.skipped += other.skipped
        self.deleted += other.deleted
        self.failed += other.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "characters": self.characters,
            "entities": dict(sorted(self.entities.items())),
            "skipped": self.skipped,
            "deleted": self.deleted,
            "failed": self.failed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counts:
        return cls(
            data["documents"],
            data["characters"],
            Counter(data["entities"]),
            data["skipped"],
            data["deleted"],
            data["failed"],
        )


class Progress:
    def __init__(
        self, total_files: int, total_bytes: int, quiet: bool, stream: TextIO | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.files_done = 0
        self.bytes_done = 0  # of finished (or resumed) files
        self.documents = 0
        self.characters = 0
        self.tokens: int | None = None  # run so far, where the engine counts them
        self.started = time.monotonic()
        self._last_log = self.started
        self._bar: Any = None
        self._task: Any = None
        if not quiet and self.stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[files]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("tagging", total=total_bytes, files="", rate="")
            self._refresh(0)

    def _rate(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = f"{self.documents:,} docs, {self.documents / elapsed:.1f} docs/s, "
        if self.tokens is not None:
            return rate + f"{self.tokens / elapsed / 1e3:.1f} ktokens/s"
        return rate + f"{self.characters / elapsed / 1e3:.1f} kchar/s"

    def _refresh(self, file_position: int) -> None:
        files = f"files {self.files_done}/{self.total_files}"
        rate = self._rate()
        if self._bar is not None:
            done = min(self.bytes_done + file_position, self.total_bytes)
            self._bar.update(self._task, completed=done, files=files, rate=rate)
            return
        now = time.monotonic()
        if not self.quiet and now - self._last_log >= LOG_EVERY_S:
            self._last_log = now
            percent = 100 * (self.bytes_done + file_position) / max(self.total_bytes, 1)
            print(f"biotag tag: {files}, {rate}, {percent:.0f}% of input", file=self.stream)

    def advance(
        self, documents: int, characters: int, file_position: int, tokens: int | None = None
    ) -> None:
        self.documents += documents
        self.characters += characters
        if tokens is not None:
            self.tokens = tokens
        self._refresh(file_position)

    def file_done(self, size: int) -> None:
        self.files_done += 1
        self.bytes_done += size
        self._refresh(0)

    def note(self, message: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def summary_lines(counts: Counts, resumed: Counts, failed_files: int, wall_s: float) -> list[str]:
    """The final summary: this run, and what finished parts kept from before."""
    documents_s = counts.documents / wall_s if wall_s > 0 else 0.0
    by_type = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.entities.items())) or "none"
    lines = [
        f"tagged {counts.documents:,} documents in {wall_s:.1f} s ({documents_s:.1f} docs/s); "
        f"entities: {by_type}",
        f"skipped (no text) {counts.skipped:,}, deleted citations {counts.deleted:,}, "
        f"failed documents {counts.failed:,}, failed files {failed_files}",
    ]
    if resumed.documents or resumed.skipped or resumed.deleted or resumed.failed:
        lines.append(
            f"kept from before (--resume): {resumed.documents:,} documents, "
            f"{resumed.failed:,} failed"
        )
    return lines
