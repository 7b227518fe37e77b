"""JSON Lines: one document per line, ``{"id", "text"}`` (the text as it is), ``{"id",
"title", "abstract"}`` (assembled by `biotag.bulk.assembly`), or a BioC JSON document with
``passages`` (BioC JSON Lines, as the `bioc` library's iterative writer makes them). Other keys
are ignored; blank lines are skipped; a line that is not such an object is a failed record,
and reading goes on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from biotag.bulk.assembly import assemble
from biotag.bulk.readers.bioc import bioc_document
from biotag.bulk.records import Document, Invalid, Record, Skipped


def _record(value: Any, number: int) -> Record:
    where = f"line {number}"
    if not isinstance(value, dict):
        return Invalid(where, "not a JSON object")
    raw_id = value.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or str(raw_id) == "":
        return Invalid(where, 'no "id" (a string or an integer)')
    identifier = str(raw_id)
    if "passages" in value:
        return bioc_document(value, number)
    if "text" in value:
        text = value["text"]
        if not isinstance(text, str):
            return Invalid(identifier, '"text" is not a string')
        return Document(identifier, text) if text.strip() else Skipped(identifier, "empty text")
    title, abstract = value.get("title") or "", value.get("abstract") or ""
    if not isinstance(title, str) or not isinstance(abstract, str):
        return Invalid(identifier, '"title" and "abstract" must be strings')
    assembled = assemble(title, abstract)
    if assembled is None:
        return Skipped(identifier, 'no "text", "title" or "abstract"')
    return Document(identifier, assembled.text, assembled.title_end)


def read_jsonl(stream: BinaryIO) -> Iterator[Record]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:  # invalid UTF-8 included
            yield Invalid(f"line {number}", f"not JSON: {exc}")
            continue
        yield _record(value, number)
