"""The labelled files a published bundle's heads are scored on, and scoring them as served.

A devel run's checkpoint never saw devel, so its heads are scored on the devel sets. A final run
trained on devel except each set's last ``guard_fraction`` (``models.recipe.splits``): its heads
are scored on those tails, pooled per head into one IOB file each (``guard/<head>.tsv``: NCBI's
and BC5CDR's tails for disease, the LINNAEUS devel tail and, with ``--linnaeus-holdout``, the
held-out train documents for species), plus the LINNAEUS holdout alone. Pooling matters because
the comparison int8 against fp32 must not hang on one mention: NCBI's tail holds 169 diseases,
LINNAEUS devel's only 20 species. The files are derived from the corpora and the manifest's
``training`` record, so anyone can write them again:

    python -m models.recipe.scoring --bundle models/default --output build/scoring
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from biotag.bundle import read_manifest
from biotag.evaluation.datasets import detect_format, grouped, load_dataset, parse_type_map
from biotag.evaluation.runner import Evaluation, evaluate, in_process
from models.recipe.corpora import DEFAULT_DATA_DIR, Sentence
from models.recipe.holdout import linnaeus_held_out, write_iob
from models.recipe.splits import guard_sentences

ScoringSets = dict[str, tuple[str, ...]]  # head -> files (relative to a data folder)

# head -> devel files it is scored on (IOB; PubTator abstracts for NCBI too)
DEVEL_SETS: ScoringSets = {
    "disease": (
        "ncbi-disease/devel.tsv",
        "ncbi-disease/abstracts/devel.pubtator",
        "bc5cdr/devel.tsv",
    ),
    "chemical": ("bc5cdr/devel.tsv",),
    "gene": ("bc2gm/devel.tsv",),
    "species": ("linnaeus/devel.tsv",),
}
# head -> corpora whose devel tail a final run keeps out for it
GUARD_SOURCES = {
    "disease": ("ncbi-disease", "bc5cdr"),
    "chemical": ("bc5cdr",),
    "gene": ("bc2gm",),
    "species": ("linnaeus",),
}
HOLDOUT_FILE = "linnaeus/holdout.tsv"


def guard_file(head: str) -> str:
    return f"guard/{head}.tsv"


def guard_fraction(training: Mapping[str, object]) -> float:
    """The devel tail a run kept out of training (0 for a devel run and older final runs)."""
    value = training.get("guard_fraction") or 0.0
    return float(value) if isinstance(value, int | float) else 0.0


def scoring_sets(training: Mapping[str, object]) -> ScoringSets:
    """What each head is scored on, for a checkpoint trained as ``training`` records."""
    if not guard_fraction(training):
        return DEVEL_SETS
    sets: ScoringSets = {head: (guard_file(head),) for head in GUARD_SOURCES}
    if "linnaeus_holdout" in training:
        sets["species"] = (*sets["species"], HOLDOUT_FILE)
    return sets


def write_scoring_files(training: Mapping[str, object], data_dir: Path, output: Path) -> Path:
    """Write the guard files of a final run under ``output`` and return the folder to score
    from: ``output``, or ``data_dir`` itself when the sets are the corpora's devel files."""
    fraction = guard_fraction(training)
    if not fraction:
        return data_dir
    held_out = linnaeus_held_out(data_dir) if "linnaeus_holdout" in training else []
    for head, folders in GUARD_SOURCES.items():
        sentences: list[Sentence] = []
        for folder in folders:
            sentences += guard_sentences(data_dir, folder, fraction)
        if head == "species":
            sentences += held_out
        write_iob(sentences, output / guard_file(head))
    if held_out:
        write_iob(held_out, output / HOLDOUT_FILE)
    return output


async def evaluate_heads(
    models_dir: Path,
    data_dir: Path,
    cpu_precision: str,
    heads: list[str] | None = None,
    sets: ScoringSets = DEVEL_SETS,
    group: int = 1,
) -> dict[str, dict[str, Evaluation]]:
    """Each head (default: all) alone on its sets, as `biotag eval --models HEAD --group GROUP`
    does; with ``group`` > 1 only the sentence files (IOB) are scored, abstracts being texts
    already."""
    results: dict[str, dict[str, Evaluation]] = {}
    mapping = parse_type_map([])
    for head in heads or list(sets):
        async with in_process([head], models_dir, None, cpu_precision) as (
            model_types,
            tag_chunk,
        ):
            for dataset in sets[head]:
                if group > 1 and detect_format(data_dir / dataset) != "iob":
                    continue
                documents = grouped(load_dataset(data_dir / dataset), group)
                results.setdefault(head, {})[dataset] = await evaluate(
                    documents, [head], model_types, mapping, tag_chunk
                )
    return results


app = typer.Typer(add_completion=False)


@app.command()
def main(
    bundle: Annotated[Path, typer.Option(help="a published bundle folder")],
    output: Annotated[Path, typer.Option(help="folder to write the files to")],
    data_dir: Annotated[Path, typer.Option(help="folder holding the corpora")] = DEFAULT_DATA_DIR,
) -> None:
    """Write the files a bundle's `evaluation` was scored on (a final run's guard tails)."""
    training = read_manifest(bundle).training
    folder = write_scoring_files(training, data_dir, output)
    for head, files in scoring_sets(training).items():
        print(head, " ".join(str(folder / name) for name in files))


if __name__ == "__main__":
    app()
