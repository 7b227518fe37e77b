"""Train one MiniLM encoder with four NER heads and save the exporter's checkpoint.

    python -m models.recipe.train --output build/default-checkpoint [--epochs N] [--max-minutes M]

Reads the corpora in place from ``../shared/data/bioner/`` (relative to the repository root),
scores every head on devel after each epoch and keeps the epoch with the best mean F1.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer
from rich.console import Console
from transformers import get_linear_schedule_with_warmup

from models.recipe.checkpoint import (
    build_model,
    default_base_model,
    load_tokenizer,
    save_checkpoint,
)
from models.recipe.corpora import Sentence, read_iob
from models.recipe.data import Example, encode
from models.recipe.evaluate import Score, evaluate_corpus
from models.recipe.heads import DEVEL_CORPORA, CorpusSpec, training_corpora
from models.recipe.loop import make_optimizer, train_epoch
from models.recipe.report import EpochRecord, results_table

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT / ".." / "shared" / "data" / "bioner"
EVAL_MAX_LENGTH = 512  # devel sentences are scored whole (split only past BERT's 512 positions)

app = typer.Typer(add_completion=False)
# A log file gets a wide console: rich would otherwise wrap lines and the table at 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=160)


def parse_negative_keep(values: list[str]) -> dict[str, float]:
    """``linnaeus=0.25`` -> fraction of a corpus's entity-free chunks drawn each epoch."""
    keep: dict[str, float] = {}
    for value in values:
        folder, sep, fraction = value.partition("=")
        if not sep or not 0.0 <= float(fraction) <= 1.0:
            raise typer.BadParameter(f"expected CORPUS=FRACTION in [0, 1], got {value!r}")
        keep[folder] = float(fraction)
    return keep


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_split(data_dir: Path, corpus: CorpusSpec, split: str, limit: int | None) -> list[Sentence]:
    path = data_dir / corpus.folder / f"{split}.tsv"
    if not path.is_file():
        raise typer.BadParameter(f"missing corpus file {path}; see --data-dir")
    sentences = read_iob(path)
    return sentences[:limit] if limit else sentences


def epoch_sample(
    pools: list[tuple[list[Example], list[Example], float]], rng: random.Random
) -> list[Example]:
    """All chunks with an entity plus a fixed-size random share of entity-free ones.

    An exact count (not a coin per chunk) keeps every epoch the same length, so the LR schedule
    computed up front ends exactly at the last step. Redrawing per epoch shows the model more
    distinct negatives over the run than one fixed subsample would.
    """
    chosen: list[Example] = []
    for positives, negatives, keep in pools:
        chosen.extend(positives)
        chosen.extend(rng.sample(negatives, round(keep * len(negatives))))
    return chosen


@app.command()
def main(
    output: Annotated[Path, typer.Option(help="checkpoint folder to write")],
    epochs: Annotated[int, typer.Option(min=1)] = 5,
    data_dir: Annotated[Path, typer.Option(help="folder holding the corpora")] = DEFAULT_DATA_DIR,
    max_minutes: Annotated[float | None, typer.Option(help="stop training after this")] = None,
    lr: float = 1e-4,
    batch_size: int = 32,
    max_length: Annotated[int, typer.Option(help="sub-words per training chunk")] = 128,
    warmup_ratio: float = 0.06,
    weight_decay: float = 0.01,
    negative_keep: Annotated[
        list[str], typer.Option(help="CORPUS=FRACTION of entity-free chunks per epoch")
    ] = ["linnaeus=0.25"],  # noqa: B006 - typer reads list defaults, they are not mutated
    bc5cdr_disease: Annotated[
        bool, typer.Option(help="train the disease head on BC5CDR too")
    ] = True,
    corpora: Annotated[
        list[str] | None, typer.Option(help="train and score only these folders (ablations)")
    ] = None,
    seed: int = 13,
    threads: int = 2,
    limit_train: Annotated[int | None, typer.Option(help="sentences per corpus (smoke)")] = None,
    limit_devel: Annotated[int | None, typer.Option(help="sentences per corpus (smoke)")] = None,
    eval_batch_size: int = 64,
    log_every: int = 50,
    base_model: Annotated[Path | None, typer.Option(help="MiniLM folder")] = None,
) -> None:
    """Train the four-head model and write the best-by-mean-devel-F1 checkpoint."""
    started = time.monotonic()
    deadline = started + max_minutes * 60 if max_minutes else None
    torch.set_num_threads(threads)  # the cores are shared: never grab more than asked
    seed_everything(seed)
    base = base_model or default_base_model()
    tokenizer = load_tokenizer(base)
    model = build_model(base)
    keep = parse_negative_keep(negative_keep)

    pools: list[tuple[list[Example], list[Example], float]] = []
    chosen = set(corpora) if corpora else {c.folder for c in DEVEL_CORPORA}
    for corpus in [c for c in training_corpora(bc5cdr_disease) if c.folder in chosen]:
        chunks = encode(
            load_split(data_dir, corpus, "train", limit_train),
            corpus,
            tokenizer,
            max_length,
            split_with_gold=True,
        )
        positives = [c for c in chunks if any(v > 0 for row in c.labels for v in row)]
        negatives = [c for c in chunks if not any(v > 0 for row in c.labels for v in row)]
        pools.append((positives, negatives, keep.get(corpus.folder, 1.0)))
        console.print(
            f"train {corpus.folder}: {len(chunks)} chunks, {len(positives)} with "
            f"entities, keep {keep.get(corpus.folder, 1.0):.0%} of the rest per epoch"
        )
    devel = []
    for corpus in [c for c in DEVEL_CORPORA if c.folder in chosen]:
        sentences = load_split(data_dir, corpus, "devel", limit_devel)
        devel.append(
            (
                corpus,
                sentences,
                encode(sentences, corpus, tokenizer, EVAL_MAX_LENGTH, split_with_gold=False),
            )
        )

    rng = random.Random(seed)
    per_epoch = len(epoch_sample(pools, random.Random(seed)))
    steps_per_epoch = -(-per_epoch // batch_size)
    optimizer = make_optimizer(model, lr, weight_decay)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(warmup_ratio * steps_per_epoch * epochs), steps_per_epoch * epochs
    )
    console.print(
        f"{per_epoch} training chunks per epoch, {steps_per_epoch} steps, {epochs} epochs"
    )

    history: list[EpochRecord] = []
    best: EpochRecord | None = None
    report: dict[str, Any] = {
        "command": " ".join(["python -m models.recipe.train", *sys.argv[1:]]),
        "base_model": str(base),
        "settings": {
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "max_length": max_length,
            "warmup_ratio": warmup_ratio,
            "weight_decay": weight_decay,
            "seed": seed,
            "negative_keep": keep,
            "bc5cdr_disease": bc5cdr_disease,
            "corpora": sorted(chosen),
            "limit_train": limit_train,
            "limit_devel": limit_devel,
        },
    }
    for epoch in range(1, epochs + 1):
        console.rule(f"epoch {epoch}/{epochs}")
        stats = train_epoch(
            model,
            epoch_sample(pools, rng),
            optimizer,
            scheduler,
            batch_size,
            rng,
            deadline,
            console,
            log_every,
        )
        eval_began = time.monotonic()
        scores: dict[str, Score] = {}
        for corpus, sentences, examples in devel:
            scores.update(evaluate_corpus(model, corpus, examples, sentences, eval_batch_size))
        record = EpochRecord(
            epoch=epoch,
            train_loss=stats.loss,
            train_chunks=stats.examples,
            train_seconds=stats.seconds,
            chunks_per_second=stats.examples_per_second,
            eval_seconds=time.monotonic() - eval_began,
            stopped_early=stats.stopped_early,
            scores=scores,
            mean_f1=sum(s.f1 for s in scores.values()) / len(scores),
        )
        history.append(record)
        console.print(
            f"epoch {epoch}: loss {stats.loss:.4f}, {stats.examples_per_second:.1f} "
            f"chunks/s over {stats.seconds / 60:.1f} min; mean devel F1 {record.mean_f1:.4f}"
        )
        for key, s in scores.items():
            console.print(f"  {key:28} P {s.precision:.4f} R {s.recall:.4f} F1 {s.f1:.4f}")
        if best is None or record.mean_f1 > best.mean_f1:
            best = record
            save_checkpoint(model, tokenizer, output)
            console.print(f"  saved best checkpoint to {output}")
        report |= {
            "best_epoch": best.epoch,
            "best_mean_f1": best.mean_f1,
            "best_scores": best.as_dict()["scores"],
            "history": [r.as_dict() for r in history],
            "elapsed_minutes": (time.monotonic() - started) / 60,
        }
        output.mkdir(parents=True, exist_ok=True)
        (output / "devel_metrics.json").write_text(json.dumps(report, indent=2) + "\n")
        if stats.stopped_early:
            console.print(f"--max-minutes {max_minutes} reached; stopping after epoch {epoch}")
            break
    assert best is not None  # epochs >= 1, so at least one epoch was scored
    console.print(results_table(history, best))
    console.print(
        f"done in {(time.monotonic() - started) / 60:.1f} min; best epoch {best.epoch} -> {output}"
    )


if __name__ == "__main__":
    app()
