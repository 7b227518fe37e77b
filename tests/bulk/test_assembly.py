"""The one text assembly: offsets of title and abstract for any strings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from biotag.bulk.assembly import (
    Section,
    abstract_start,
    abstract_text,
    assemble,
    normalize_space,
)

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(TEXT, TEXT)
def test_title_at_zero_and_abstract_one_past_the_title(title: str, abstract: str) -> None:
    assembled = assemble(title, abstract)
    if not title and not abstract:
        assert assembled is None
        return
    assert assembled is not None
    assert assembled.text[: len(title)] == title
    if abstract:
        assert assembled.title_end == len(title)
        assert abstract_start(assembled) == len(title) + 1  # PubTator's convention
        assert assembled.text[abstract_start(assembled) :] == abstract
        assert assembled.text[len(title)] == " "
    else:
        assert assembled.title_end is None
        assert assembled.text == title


def test_an_empty_title_keeps_the_abstract_at_offset_one() -> None:
    assembled = assemble("", "Cisplatin is toxic.")
    assert assembled is not None
    assert assembled.text == " Cisplatin is toxic."
    assert abstract_start(assembled) == 1


@given(st.lists(st.tuples(st.none() | st.text(min_size=1, max_size=8), TEXT), max_size=6))
def test_sections_each_start_where_their_label_says(raw: list[tuple[str | None, str]]) -> None:
    sections = [Section(label, text) for label, text in raw]
    joined = abstract_text(sections)
    cursor = 0
    for section in sections:
        if not section.text:
            continue
        prefix = f"{section.label}: " if section.label else ""
        piece = prefix + section.text
        assert joined[cursor : cursor + len(piece)] == piece
        cursor += len(piece) + 1
    assert len(joined) == max(cursor - 1, 0)
    without = abstract_text(sections, section_labels=False)
    assert without == " ".join(s.text for s in sections if s.text)


def test_structured_abstract_as_pubtator_writes_it() -> None:
    sections = [Section("BACKGROUND", "Pain hurts."), Section(None, "More."), Section("AIMS", "")]
    assert abstract_text(sections) == "BACKGROUND: Pain hurts. More."


@given(st.text(max_size=60))
def test_normalized_space_is_single_spaces_between_the_words(text: str) -> None:
    normalized = normalize_space(text)
    assert normalized.split() == text.split()
    assert "  " not in normalized
    assert normalized == normalized.strip()
