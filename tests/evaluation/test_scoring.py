"""Exact-match scoring on hand-made gold and predicted spans."""

from __future__ import annotations

import pytest

from biotag.evaluation.scoring import Counts, Span, count_document, score


def test_exact_match_is_correct() -> None:
    counts = count_document([Span(0, 5, "Disease")], [Span(0, 5, "Disease")])
    assert counts == {"Disease": Counts(gold=1, predicted=1, correct=1)}


def test_partial_overlap_is_a_false_positive_and_a_false_negative() -> None:
    counts = count_document([Span(10, 25, "Disease")], [Span(14, 25, "Disease")])
    assert counts == {"Disease": Counts(gold=1, predicted=1, correct=0)}


def test_type_mismatch_is_not_correct() -> None:
    counts = count_document([Span(0, 5, "Disease")], [Span(0, 5, "Chemical")])
    assert counts == {
        "Disease": Counts(gold=1, predicted=0, correct=0),
        "Chemical": Counts(gold=0, predicted=1, correct=0),
    }


def test_duplicates_count_once() -> None:
    counts = count_document([Span(0, 5, "Disease")], [Span(0, 5, "Disease")] * 2)
    assert counts == {"Disease": Counts(gold=1, predicted=1, correct=1)}


def test_micro_and_per_type_over_documents() -> None:
    gold = [
        [Span(0, 5, "Disease"), Span(10, 15, "Chemical")],
        [Span(3, 9, "Disease")],
        [],
    ]
    predicted = [
        [Span(0, 5, "Disease"), Span(10, 14, "Chemical")],  # one right, one boundary error
        [Span(3, 9, "Disease"), Span(20, 30, "Disease")],  # one right, one spurious
        [Span(0, 2, "Disease")],  # spurious, in a document without gold
    ]
    result = score(gold, predicted)
    assert list(result.per_type) == ["Chemical", "Disease"]
    assert result.per_type["Disease"] == Counts(gold=2, predicted=4, correct=2)
    assert result.per_type["Chemical"] == Counts(gold=1, predicted=1, correct=0)
    assert result.micro == Counts(gold=3, predicted=5, correct=2)
    assert result.micro.precision == pytest.approx(2 / 5)
    assert result.micro.recall == pytest.approx(2 / 3)
    assert result.micro.f1 == pytest.approx(2 * 0.4 * (2 / 3) / (0.4 + 2 / 3))


def test_empty_denominators_score_zero() -> None:
    result = score([[]], [[]], types=["Disease"])
    assert result.per_type == {"Disease": Counts()}
    assert (result.micro.precision, result.micro.recall, result.micro.f1) == (0.0, 0.0, 0.0)


def test_documents_must_pair_up() -> None:
    with pytest.raises(ValueError, match="zip"):
        score([[]], [[], []])
