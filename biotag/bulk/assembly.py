"""The text biotag tags for a record with a title and an abstract, the same for every reader.

Policy (README, "Bulk tagging"):

- text = title + " " + abstract, the convention of PubTator and BioC (the abstract starts at
  ``len(title) + 1``); a record without an abstract is its title alone; a record with an
  abstract and an empty title keeps the separating space, so the abstract still starts at
  ``len(title) + 1`` (no off-by-one against PubTator); a record with neither is skipped;
- a structured abstract (one section per PubMed ``AbstractText``) is ``LABEL: text`` per
  section, sections joined by one space, as PubTator writes them; ``section_labels=False``
  drops the labels; a section without a label is its text alone;
- offsets are code points of this text; entities index it exactly (``text[start:end]``).

PubMed XML is pretty-printed and carries markup inside the text, so its reader first passes
each piece through `normalize_space` (every run of white space, line breaks and no-break
spaces included, becomes one space; ends stripped); readers of flat formats (PubTator, BioC,
JSONL) take the text as it is, so their own offsets stay valid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

SEPARATOR = " "
LABEL_SEPARATOR = ": "
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Section:
    label: str | None
    text: str


@dataclass(frozen=True)
class Assembled:
    text: str
    title_end: int | None  # len(title) when an abstract follows the title, else None


def normalize_space(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def abstract_text(sections: Sequence[Section], section_labels: bool = True) -> str:
    """The sections of an abstract as one string (empty sections left out)."""
    parts = []
    for section in sections:
        if not section.text:
            continue
        if section_labels and section.label:
            parts.append(f"{section.label}{LABEL_SEPARATOR}{section.text}")
        else:
            parts.append(section.text)
    return SEPARATOR.join(parts)


def assemble(title: str, abstract: str) -> Assembled | None:
    """The text of a record, or None when it has no text at all."""
    if not abstract:
        return Assembled(title, None) if title else None
    return Assembled(f"{title}{SEPARATOR}{abstract}", len(title))


def abstract_start(assembled: Assembled) -> int:
    """Where the abstract starts (the text's end when there is none)."""
    if assembled.title_end is None:
        return len(assembled.text)
    return assembled.title_end + len(SEPARATOR)
