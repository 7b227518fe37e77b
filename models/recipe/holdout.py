"""A document-level held-out split of LINNAEUS train, for the species head.

LINNAEUS devel is small and unlike its test set (full-text articles of other journals), so the
species figure is checked on whole training documents kept out of training as well. Splitting by
document, not by sentence, matters: sentences of one article share its species, so a
sentence-level split would leak them and flatter the score.

The IOB file marks no document boundaries. Every article in it opens with its title, then a
one-token sentence ``Abstract`` (the PubMed-style heading), so a document starts one sentence
before each such heading: 50 documents in LINNAEUS train. The scanned 1980s articles repeat
their abstract inside the full text under an upper-case ``ABSTRACT`` after the journal header
and authors; that heading is not a boundary (counting it would cut three articles in two).

    python -m models.recipe.holdout --output build/linnaeus-holdout.tsv

writes the held-out documents as an IOB file, so `biotag eval build/linnaeus-holdout.tsv
--models species --models-dir ...` scores a bundle on them through the service, as every devel
set is scored.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Annotated

import typer

from models.recipe.corpora import DEFAULT_DATA_DIR, TYPE_ALIASES, Sentence, read_split
from models.recipe.heads import LINNAEUS

ABSTRACT_HEADING = "Abstract"
HOLDOUT_FRACTION = 0.1
HOLDOUT_SEED = 17


def document_starts(sentences: list[Sentence]) -> list[int]:
    """Index of each document's first sentence (its title); the first is always 0."""
    starts = {0}
    for index, sentence in enumerate(sentences):
        if index > 0 and len(sentence.tokens) == 1 and sentence.tokens[0] == ABSTRACT_HEADING:
            starts.add(index - 1)
    return sorted(starts)


def documents(sentences: list[Sentence]) -> list[list[Sentence]]:
    """The sentences cut into documents, in file order."""
    bounds = [*document_starts(sentences), len(sentences)] if sentences else []
    return [sentences[begin:end] for begin, end in itertools.pairwise(bounds)]


def split_documents(
    sentences: list[Sentence],
    fraction: float = HOLDOUT_FRACTION,
    seed: int = HOLDOUT_SEED,
) -> tuple[list[Sentence], list[Sentence]]:
    """``(kept for training, held out)``: a fixed-seed ``fraction`` of whole documents held out.

    At least one document is held out and one kept; both parts keep the file order.
    """
    parts = documents(sentences)
    if len(parts) < 2:
        raise ValueError(f"need at least two documents to hold one out, found {len(parts)}")
    count = min(len(parts) - 1, max(1, round(fraction * len(parts))))
    held = set(random.Random(seed).sample(range(len(parts)), count))
    kept = [s for number, part in enumerate(parts) if number not in held for s in part]
    held_out = [s for number, part in enumerate(parts) if number in held for s in part]
    return kept, held_out


def linnaeus_held_out(data_dir: Path) -> list[Sentence]:
    """The sentences of the LINNAEUS train documents that ``--linnaeus-holdout`` holds out."""
    return split_documents(read_split(data_dir, LINNAEUS.folder, "train"))[1]


def write_iob(sentences: list[Sentence], path: Path) -> None:
    """``token<TAB>tag`` lines, a blank line after each sentence: what `read_iob` reads (tags in
    the corpus's own spelling, so `biotag eval` maps their types as it maps the corpus's)."""
    corpus_spelling = {head: corpus for corpus, head in TYPE_ALIASES.items()}
    lines = []
    for sentence in sentences:
        for token, tag in zip(sentence.tokens, sentence.tags, strict=True):
            prefix, dash, entity_type = tag.partition("-")
            spelled = f"{prefix}{dash}{corpus_spelling.get(entity_type, entity_type)}"
            lines.append(f"{token}\t{spelled}\n")
        lines.append("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


app = typer.Typer(add_completion=False)


@app.command()
def main(
    output: Annotated[Path, typer.Option(help="IOB file to write the held-out documents to")],
    data_dir: Annotated[Path, typer.Option(help="folder holding the corpora")] = DEFAULT_DATA_DIR,
) -> None:
    """Write the LINNAEUS train documents that `--linnaeus-holdout` keeps out of training."""
    held_out = linnaeus_held_out(data_dir)
    write_iob(held_out, output)
    print(f"{len(documents(held_out))} documents, {len(held_out)} sentences -> {output}")


if __name__ == "__main__":
    app()
