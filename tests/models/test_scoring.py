"""What a published bundle's heads are scored on: devel, or the devel tails a final run kept out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from biotag.evaluation.datasets import load_dataset
from models.recipe.corpora import read_iob, read_split, spans
from models.recipe.heads import LINNAEUS, NCBI
from models.recipe.holdout import linnaeus_held_out
from models.recipe.scoring import (
    DEVEL_SETS,
    HOLDOUT_FILE,
    evaluate_heads,
    guard_file,
    scoring_sets,
    write_scoring_files,
)
from models.recipe.splits import devel_parts, guard_sentences, training_sentences
from tests.models.recipe_fixtures import write_tiny_corpora

FINAL_RUN = {"trained_on": ["train", "devel"], "guard_fraction": 0.25, "linnaeus_holdout": "10%"}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_corpora(tmp_path_factory.mktemp("scoring") / "data", documents=10)


def test_a_devel_run_is_scored_on_the_devel_files_in_place(corpora: Path, tmp_path: Path) -> None:
    devel_run = {"trained_on": ["train"], "linnaeus_holdout": "10%"}
    assert scoring_sets(devel_run) == DEVEL_SETS
    assert write_scoring_files(devel_run, corpora, tmp_path / "sets") == corpora
    assert not (tmp_path / "sets").exists()
    # a final run recorded before the guard existed trained on all of devel: scored as before
    assert scoring_sets({"trained_on": ["train", "devel"]}) == DEVEL_SETS


def test_the_guard_is_the_devel_tail_and_never_reaches_training(corpora: Path) -> None:
    devel = read_split(corpora, NCBI.folder, "devel")
    trained, guard = devel_parts(devel, 0.25)
    assert trained + guard == devel  # a contiguous tail, file order kept
    assert len(guard) == round(0.25 * len(devel))
    train = read_split(corpora, NCBI.folder, "train")
    # a final run: train, then devel up to the guard; the guard's sentences never come
    final_training = training_sentences(corpora, NCBI, True, False, None, None, 0.25)
    assert final_training == train + trained
    # without a guard a final run trains on every devel sentence, and a devel run on none
    assert training_sentences(corpora, NCBI, True, False, None, None, 0.0) == train + devel
    assert training_sentences(corpora, NCBI, False, False, None, None) == train


def test_a_final_run_is_scored_on_its_kept_out_text_pooled_per_head(
    corpora: Path, tmp_path: Path
) -> None:
    sets = scoring_sets(FINAL_RUN)
    assert sets == {
        "disease": (guard_file("disease"),),
        "chemical": (guard_file("chemical"),),
        "gene": (guard_file("gene"),),
        "species": (guard_file("species"), HOLDOUT_FILE),
    }
    folder = write_scoring_files(FINAL_RUN, corpora, tmp_path / "sets")
    assert folder == tmp_path / "sets"
    tails = {name: guard_sentences(corpora, name, 0.25) for name in ("ncbi-disease", "bc5cdr")}
    disease = read_iob(folder / guard_file("disease"))
    assert disease == tails["ncbi-disease"] + tails["bc5cdr"]
    species = read_iob(folder / guard_file("species"))
    held_out = linnaeus_held_out(corpora)
    assert species == guard_sentences(corpora, LINNAEUS.folder, 0.25) + held_out
    assert read_iob(folder / HOLDOUT_FILE) == held_out
    # every file reads as `biotag eval` reads it, with the corpus's own type spelling
    for head, files in sets.items():
        for name in files:
            documents = load_dataset(folder / name)
            gold = sum(len(document.spans) for document in documents)
            assert gold == sum(len(spans(s.tags)) for s in read_iob(folder / name)), head
    genes = load_dataset(folder / guard_file("gene"))
    assert {span.type for document in genes for span in document.spans} == {"GENE"}


@pytest.mark.slow
async def test_grouped_scoring_sends_ten_sentences_a_text_and_leaves_abstracts_alone(
    tiny_bundles_dir: Path, corpora: Path, tmp_path: Path
) -> None:
    (tmp_path / "ncbi-disease").mkdir()
    shutil.copy(corpora / "ncbi-disease" / "devel.tsv", tmp_path / "ncbi-disease" / "devel.tsv")
    (tmp_path / "abstracts.pubtator").write_text(
        "1|t|Cystic fibrosis in children.\n1|a|No more.\n1\t0\t15\tCystic fibrosis\tDisease\tD1\n\n"
    )
    sets = {"tiny-bert": ("ncbi-disease/devel.tsv", "abstracts.pubtator")}
    alone = (await evaluate_heads(tiny_bundles_dir, tmp_path, "fp32", sets=sets))["tiny-bert"]
    tens = (await evaluate_heads(tiny_bundles_dir, tmp_path, "fp32", sets=sets, group=10))[
        "tiny-bert"
    ]
    assert set(alone) == set(sets["tiny-bert"])
    assert set(tens) == {"ncbi-disease/devel.tsv"}  # an abstract is a text already
    sentences = alone["ncbi-disease/devel.tsv"]
    assert tens["ncbi-disease/devel.tsv"].documents == -(-sentences.documents // 10)
    assert tens["ncbi-disease/devel.tsv"].score.micro.gold == sentences.score.micro.gold
