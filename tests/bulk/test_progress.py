"""Progress off a terminal: periodic plain lines, nothing when quiet; the summary's counts."""

from __future__ import annotations

import io
from collections import Counter

import pytest

from biotag.bulk import progress as module
from biotag.bulk.progress import Counts, Progress, summary_lines


def test_plain_lines_off_a_terminal_and_silence_when_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "LOG_EVERY_S", 0.0)
    stream = io.StringIO()
    progress = Progress(total_files=2, total_bytes=1000, quiet=False, stream=stream)
    progress.advance(64, 90_000, 500)
    progress.file_done(1000)
    progress.advance(64, 90_000, 0, tokens=30_000)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("biotag tag: files 0/2, 64 docs,")
    assert "kchar/s" in lines[0]
    assert lines[0].endswith("50% of input")
    assert lines[1].startswith("biotag tag: files 1/2, 64 docs,")
    assert lines[2].startswith("biotag tag: files 1/2, 128 docs,")
    assert "ktokens/s" in lines[2]
    silent = io.StringIO()
    quiet = Progress(total_files=2, total_bytes=1000, quiet=True, stream=silent)
    quiet.advance(64, 90_000, 500)
    quiet.note("error: x")
    assert silent.getvalue() == ""


def test_summary_counts_this_run_and_what_was_kept() -> None:
    counts = Counts(608, 800_000, Counter({"Gene": 2258, "Disease": 3176}), 2, 1, 3)
    assert Counts.from_dict(counts.as_dict()) == counts
    lines = summary_lines(counts, Counts(4, 10, Counter(), 0, 0, 1), 1, 10.0)
    assert lines == [
        "tagged 608 documents in 10.0 s (60.8 docs/s); entities: Disease 3,176, Gene 2,258",
        "skipped (no text) 2, deleted citations 1, failed documents 3, failed files 1",
        "kept from before (--resume): 4 documents, 1 failed",
    ]
