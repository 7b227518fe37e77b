"""A plain text file is one document, read as it is (UTF-8); its id is the file's name
without ``.txt``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from biotag.bulk.records import Document, ReaderError, Record, Skipped


def read_text(stream: BinaryIO, identifier: str) -> Iterator[Record]:
    try:
        text = stream.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReaderError(f"not UTF-8: {exc}") from exc
    yield Document(identifier, text) if text.strip() else Skipped(identifier, "empty file")
