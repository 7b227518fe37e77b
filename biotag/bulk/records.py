"""What a reader yields: a document to tag, a deleted citation, or a record skipped with why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One text to tag. ``title_end``: where the title ends in ``text`` (the one space after it
    separates it from the abstract), or None when the text has no title/abstract split."""

    id: str
    text: str
    title_end: int | None = None
    fields: dict[str, str] = field(default_factory=dict)  # e.g. pmid, version (JSONL output)


@dataclass(frozen=True)
class Deletion:
    """A PubMed ``DeleteCitation`` entry: the citation ``id`` is withdrawn."""

    id: str


@dataclass(frozen=True)
class Skipped:
    """A record not tagged (no text, no id, unreadable), counted and reported, never silent."""

    id: str
    reason: str


@dataclass(frozen=True)
class Invalid:
    """A record that cannot be read (bad JSON, no id...): counted as failed, in the errors file."""

    id: str
    reason: str


Record = Document | Deletion | Skipped | Invalid


class ReaderError(Exception):
    """A file cannot be read on (malformed, wrong layout): the file fails; one-line message."""
