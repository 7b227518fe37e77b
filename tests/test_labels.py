"""Label schemes are detected from the labels a checkpoint declares."""

from __future__ import annotations

import pytest

from biotag.labels import LabelError, LabelScheme, detect_scheme, entity_types, parse_label


@pytest.mark.parametrize(
    ("labels", "scheme"),
    [
        (["O", "B-Disease", "I-Disease"], LabelScheme.BIO),
        (["O", "B-Gene", "I-Gene", "E-Gene", "S-Gene"], LabelScheme.IOBES),
        (["O", "B-X", "I-X", "L-X", "U-X"], LabelScheme.IOBES),
        (["O", "I-Species"], LabelScheme.IO),
        (["O", "B_Chemical", "I_Chemical"], LabelScheme.BIO),
    ],
)
def test_detects_scheme(labels: list[str], scheme: LabelScheme) -> None:
    assert detect_scheme(labels) == scheme


@pytest.mark.parametrize("labels", [["B-X", "I-X"], ["O", "LABEL_1"], ["O"]])
def test_rejects_unreadable_label_lists(labels: list[str]) -> None:
    with pytest.raises(LabelError):
        detect_scheme(labels)


def test_types_in_first_seen_order() -> None:
    assert entity_types(["O", "B-Chemical", "B-Disease", "I-Chemical"]) == ["Chemical", "Disease"]
    assert parse_label("U-Gene").tag == "S"
