"""Viterbi decoding: never an invalid sequence, argmax when argmax is valid, the best valid
sequence (checked against brute force), and the hand-made repairs it makes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from biotag.labels import LabelScheme
from biotag.service.text.viterbi import Transitions, _viterbi, best_path, is_allowed

BIO = ["O", "B-X", "I-X"]
BIO_TWO = ["O", "B-X", "I-X", "B-Y", "I-Y"]
IOBES = ["O", "B-X", "I-X", "E-X", "S-X"]
IOBES_TWO = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "I-Y", "E-Y", "S-Y"]
BILOU = ["O", "B-X", "I-X", "L-X", "U-X"]
IO = ["O", "I-X", "I-Y"]
LABEL_LISTS = [BIO, BIO_TWO, IOBES, IOBES_TWO, BILOU, IO, ["B-X", "I-X", "O"]]


def _log(rows: list[list[float]]) -> np.ndarray:
    return np.log(np.array(rows, dtype=np.float64))


def _decode(labels: list[str], rows: list[list[float]]) -> list[str]:
    path = best_path(_log(rows), Transitions.for_labels(labels))
    return [labels[i] for i in path.tolist()]


def _score(log_probabilities: np.ndarray, path: np.ndarray) -> float:
    return float(log_probabilities[np.arange(len(path)), path].sum())


@st.composite
def problems(draw: st.DrawFn, max_positions: int = 12) -> tuple[list[str], np.ndarray]:
    labels = draw(st.sampled_from(LABEL_LISTS))
    positions = draw(st.integers(0, max_positions))
    logits = draw(
        hnp.arrays(
            np.float64,
            (positions, len(labels)),
            elements=st.floats(-8, 8, allow_nan=False, allow_subnormal=False),
        )
    )
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    return labels, log_probabilities


@given(problems())
def test_the_result_never_breaks_the_scheme(problem: tuple[list[str], np.ndarray]) -> None:
    labels, log_probabilities = problem
    transitions = Transitions.for_labels(labels)
    path = best_path(log_probabilities, transitions)
    assert path.shape == (len(log_probabilities),)
    assert is_allowed(path, transitions)


@given(problems())
def test_a_valid_argmax_is_returned_unchanged(problem: tuple[list[str], np.ndarray]) -> None:
    labels, log_probabilities = problem
    transitions = Transitions.for_labels(labels)
    argmax = log_probabilities.argmax(axis=-1)
    if is_allowed(argmax, transitions):
        assert best_path(log_probabilities, transitions).tolist() == argmax.tolist()


@given(problems())
def test_any_valid_sequence_made_the_argmax_is_returned(
    problem: tuple[list[str], np.ndarray],
) -> None:
    labels, log_probabilities = problem
    transitions = Transitions.for_labels(labels)
    valid = best_path(log_probabilities, transitions)  # some valid sequence, often not argmax
    boosted = log_probabilities.copy()
    boosted[np.arange(len(valid)), valid] += 20.0
    assert best_path(boosted, transitions).tolist() == valid.tolist()


@settings(max_examples=300, deadline=None)  # a busy shared CPU must not fail it
@given(problems(max_positions=5))
def test_no_valid_sequence_scores_higher(problem: tuple[list[str], np.ndarray]) -> None:
    labels, log_probabilities = problem
    positions = len(log_probabilities)
    transitions = Transitions.for_labels(labels)
    found = _score(log_probabilities, best_path(log_probabilities, transitions))
    if positions == 0:
        assert found == 0.0
        return
    # every sequence, (sequences, positions): up to 9 labels ** 5 positions = 59,049
    every = np.indices((len(labels),) * positions).reshape(positions, -1).T
    valid = every[
        transitions.start[every[:, 0]]
        & transitions.end[every[:, -1]]
        & transitions.allowed[every[:, :-1], every[:, 1:]].all(axis=1)
    ]
    assert len(valid)  # all-O is always allowed
    best = log_probabilities[np.arange(positions), valid].sum(axis=1).max()
    assert found >= best - 1e-9


@settings(max_examples=300, deadline=None)
@given(problems(max_positions=40))
def test_decoding_in_pieces_scores_as_one_pass_over_everything(
    problem: tuple[list[str], np.ndarray],
) -> None:
    labels, log_probabilities = problem
    transitions = Transitions.for_labels(labels)
    if len(log_probabilities) == 0:
        return
    # the reference: one dynamic programme over the whole sequence, no cuts
    whole = _viterbi(log_probabilities, transitions, transitions.start, transitions.end)
    pieces = best_path(log_probabilities, transitions)
    assert is_allowed(pieces, transitions)
    assert _score(log_probabilities, pieces) == pytest.approx(
        _score(log_probabilities, whole), abs=1e-9
    )


def test_a_beginning_stands_in_for_an_inside() -> None:
    # B-X may stand wherever I-X may (so a likelier B-X frees a position of its past)
    assert Transitions.for_labels(BIO_TWO).dominators == ((2, (1,)), (4, (3,)))
    assert Transitions.for_labels(BIO_TWO).free.tolist() == [True, True, False, True, False]
    # IOBES: every label needs a particular predecessor (inside or not), so it is one piece
    assert not Transitions.for_labels(IOBES).free.any()


def test_bio_constraints() -> None:
    transitions = Transitions.for_labels(BIO_TWO)
    # rows: previous label; columns: next label (O, B-X, I-X, B-Y, I-Y)
    assert transitions.allowed.astype(int).tolist() == [
        [1, 1, 0, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 0, 1, 1],
        [1, 1, 0, 1, 1],
    ]
    assert transitions.start.tolist() == [True, True, False, True, False]
    assert transitions.end.all()


def test_iobes_constraints_close_every_entity() -> None:
    transitions = Transitions.for_labels(IOBES)
    # O, B-X, I-X, E-X, S-X
    assert transitions.allowed.astype(int).tolist() == [
        [1, 1, 0, 0, 1],
        [0, 0, 1, 1, 0],
        [0, 0, 1, 1, 0],
        [1, 1, 0, 0, 1],
        [1, 1, 0, 0, 1],
    ]
    assert transitions.start.tolist() == [True, True, False, False, True]
    assert transitions.end.tolist() == [True, False, False, True, True]
    assert (Transitions.for_labels(BILOU).allowed == transitions.allowed).all()


def test_io_is_unconstrained_and_a_scheme_can_be_named() -> None:
    assert Transitions.for_labels(IO).unconstrained
    assert not Transitions.for_labels(BIO).unconstrained
    assert Transitions.for_labels(BIO, LabelScheme.IO).unconstrained


def test_o_then_insides_becomes_an_entity_opened_where_it_costs_least() -> None:
    # argmax O I-X I-X: the first word is surely outside, so the entity opens on the second
    rows = [[0.9, 0.05, 0.05], [0.2, 0.1, 0.7], [0.2, 0.1, 0.7]]
    assert _decode(BIO, rows) == ["O", "B-X", "I-X"]
    # the first word is barely outside and likely a beginning: the entity takes it in
    rows = [[0.5, 0.45, 0.05], [0.2, 0.1, 0.7], [0.2, 0.1, 0.7]]
    assert _decode(BIO, rows) == ["B-X", "I-X", "I-X"]


def test_weak_insides_after_o_are_dropped() -> None:
    rows = [[0.9, 0.05, 0.05], [0.45, 0.1, 0.45 + 1e-3], [0.45, 0.1, 0.45 + 1e-3]]
    assert _decode(BIO, rows) == ["O", "O", "O"]


def test_an_inside_of_another_type_is_resolved_to_one_type() -> None:
    # B-Y I-X: the inside is sure of its type, the beginning is not: one X entity
    rows = [[0.05, 0.4, 0.05, 0.45, 0.05], [0.05, 0.05, 0.8, 0.05, 0.05]]
    assert _decode(BIO_TWO, rows) == ["B-X", "I-X"]
    # the beginning is sure of Y: two entities, the second opened as X
    rows = [[0.02, 0.02, 0.02, 0.92, 0.02], [0.05, 0.3, 0.4, 0.05, 0.2]]
    assert _decode(BIO_TWO, rows) == ["B-Y", "B-X"]


def test_an_entity_left_open_at_the_end_is_closed_in_iobes() -> None:
    rows = [[0.1, 0.7, 0.1, 0.05, 0.05], [0.1, 0.1, 0.6, 0.15, 0.05]]
    assert _decode(IOBES, rows) == ["B-X", "E-X"]


def test_a_sequence_cannot_open_inside() -> None:
    assert _decode(BIO, [[0.3, 0.2, 0.5]]) == ["O"]
    assert _decode(BIO, [[0.2, 0.3, 0.5]]) == ["B-X"]


def test_probabilities_that_underflowed_to_zero_still_rank() -> None:
    with np.errstate(divide="ignore"):
        log_probabilities = np.log(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    path = best_path(log_probabilities, Transitions.for_labels(BIO))
    assert path.tolist() == [1, 2]  # B-X I-X: the model is sure it is inside an entity


def test_empty_input() -> None:
    assert best_path(np.zeros((0, 3)), Transitions.for_labels(BIO)).tolist() == []


@pytest.mark.parametrize("labels", LABEL_LISTS)
def test_all_outside_is_always_allowed(labels: list[str]) -> None:
    transitions = Transitions.for_labels(labels)
    outside = labels.index("O")
    assert is_allowed(np.full(4, outside), transitions)
