"""PubTator: ``ID|t|title`` and ``ID|a|abstract`` lines, annotation lines (ignored: biotag tags
the text afresh), a blank line after each document. Text assembled by `biotag.bulk.assembly`
(title + " " + abstract), which is PubTator's own offset convention."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

from biotag.bulk.assembly import assemble
from biotag.bulk.records import Document, Invalid, ReaderError, Record, Skipped


def _document(identifier: str, title: str | None, abstract: str | None) -> Record:
    assembled = assemble(title or "", abstract or "")
    if assembled is None:
        return Skipped(identifier, "no title or abstract")
    return Document(identifier, assembled.text, assembled.title_end)


def read_pubtator(stream: BinaryIO) -> Iterator[Record]:
    identifier: str | None = None
    title: str | None = None
    abstract: str | None = None
    lines = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    try:
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if identifier is not None:
                    yield _document(identifier, title, abstract)
                identifier = title = abstract = None
                continue
            head, bar, rest = line.partition("|")
            kind, bar2, text = rest.partition("|")
            if bar and bar2 and kind in ("t", "a") and "\t" not in head:
                if identifier is not None and head != identifier:
                    yield _document(identifier, title, abstract)
                    title = abstract = None
                identifier = head
                if kind == "t":
                    title = text
                else:
                    abstract = text
            elif identifier is None:
                yield Invalid(f"line {number}", "an annotation line before any |t| or |a| line")
        if identifier is not None:
            yield _document(identifier, title, abstract)
    except UnicodeDecodeError as exc:
        raise ReaderError(f"not UTF-8: {exc}") from exc
    finally:
        lines.detach()
