"""The LINNAEUS holdout: whole documents, a fixed 10%, never trained on."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from biotag.evaluation.datasets import load_dataset
from models.recipe.corpora import Sentence, read_iob
from models.recipe.heads import LINNAEUS
from models.recipe.holdout import (
    app,
    document_starts,
    documents,
    linnaeus_held_out,
    split_documents,
)
from models.recipe.splits import training_sentences
from tests.models.recipe_fixtures import write_tiny_corpora


def sentence(*tokens: str) -> Sentence:
    return Sentence(tokens, ("O",) * len(tokens))


def article(title: str, body: int) -> list[Sentence]:
    return [sentence(title), sentence("Abstract"), *(sentence(f"{title}-{i}") for i in range(body))]


def test_a_document_starts_at_the_title_before_each_abstract_heading() -> None:
    sentences = [*article("A", 3), *article("B", 1), sentence("ABSTRACT"), *article("C", 2)]
    assert document_starts(sentences) == [0, 5, 9]
    # the upper-case heading of a scanned article's repeated abstract is not a boundary
    assert [len(d) for d in documents(sentences)] == [5, 3 + 1, 4]


def test_split_holds_out_a_tenth_of_whole_documents_the_same_way_every_time() -> None:
    sentences = [s for number in range(50) for s in article(f"doc{number}", number % 7 + 1)]
    kept, held = split_documents(sentences)
    assert split_documents(sentences) == (kept, held)
    assert len(kept) + len(held) == len(sentences)
    held_titles = {d[0].tokens[0] for d in documents(held)}
    kept_titles = {d[0].tokens[0] for d in documents(kept)}
    assert len(held_titles) == 5
    assert len(kept_titles) == 45
    assert not held_titles & kept_titles
    # no sentence of a held-out document is left among the kept ones
    assert not {s.tokens[0].split("-")[0] for s in kept} & held_titles


def test_split_refuses_a_single_document() -> None:
    with pytest.raises(ValueError, match="at least two documents"):
        split_documents(article("only", 3))


def test_holdout_sentences_never_reach_training(tmp_path: Path) -> None:
    data = write_tiny_corpora(tmp_path, documents=20)
    everything = read_iob(data / "linnaeus" / "train.tsv")
    _, held = split_documents(everything)
    trained = training_sentences(data, LINNAEUS, True, True, None, None)
    devel = read_iob(data / "linnaeus" / "devel.tsv")
    assert len(trained) == len(everything) - len(held) + len(devel)
    held_titles = {d[0].tokens[-1] for d in documents(held)}
    trained_titles = {d[0].tokens[-1] for d in documents(trained)}
    assert len(held_titles) == 2  # a tenth of 20 documents
    assert not held_titles & trained_titles


def test_the_written_holdout_is_what_biotag_eval_scores(tmp_path: Path) -> None:
    data = write_tiny_corpora(tmp_path, documents=20)
    held = linnaeus_held_out(data)
    written = tmp_path / "holdout.tsv"
    result = CliRunner().invoke(app, ["--output", str(written), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert "2 documents" in result.output
    assert read_iob(written) == held
    gold = load_dataset(written)
    assert len(gold) == len(held)  # one pseudo-document per sentence, as for every IOB set
    mentions = sum(1 for s in held for tag in s.tags if tag.startswith("B-"))
    assert mentions > 0
    assert sum(len(document.spans) for document in gold) == mentions
