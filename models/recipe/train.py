"""Train one MiniLM encoder with four NER heads and save the exporter's checkpoint.

    python -m models.recipe.train --output build/schedule [--epochs N] [--linnaeus-holdout]
    python -m models.recipe.train --output build/default-checkpoint --final \\
        --schedule-from build/schedule/devel_metrics.json

Reads the corpora in place from ``../shared/data/bioner/`` (relative to the repository root).
A devel run scores every head on devel after each epoch and keeps the best mean devel F1; a
``--final`` run trains on train + devel (less each devel set's last ``--guard-fraction``, kept out
so int8 can be checked on unseen text) for the devel run's best epoch count and keeps the last.
Every ``--checkpoint-every`` steps and at each epoch end a resume state is written to the
output folder, so rerunning the same command after an interruption continues exactly where it
stopped (same batches, same RNG draws); ``--max-minutes`` and ``--stop-at-step`` pause a run the
same way.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer
from rich.console import Console
from rich.markup import escape
from transformers import get_linear_schedule_with_warmup

from models.recipe.checkpoint import (
    base_model_digest,
    build_model,
    default_base_model,
    load_tokenizer,
    save_checkpoint,
)
from models.recipe.corpora import DEFAULT_DATA_DIR
from models.recipe.data import length_bucketed_batches
from models.recipe.evaluate import Score, evaluate_corpus
from models.recipe.heads import DEVEL_CORPORA
from models.recipe.loop import EpochProgress, make_optimizer, train_epoch
from models.recipe.report import EpochRecord, metrics_report, results_table, selection_f1
from models.recipe.resume import (
    CheckpointEvery,
    MaxMinutes,
    SettingsMismatchError,
    StopAtStep,
    load_state,
    restore_rng_states,
    save_training_state,
    settings_hash,
    write_json,
)
from models.recipe.schedule import ScheduleError, chosen_record, chosen_schedule
from models.recipe.splits import GUARD_FRACTION, epoch_sample, scored_sets, training_pools

METRICS_FILE = "devel_metrics.json"

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


def command() -> str:
    return " ".join(["python -m models.recipe.train", *sys.argv[1:]])


@app.command()
def main(
    output: Annotated[Path, typer.Option(help="checkpoint folder to write")],
    epochs: Annotated[int, typer.Option(min=1)] = 5,
    data_dir: Annotated[Path, typer.Option(help="folder holding the corpora")] = DEFAULT_DATA_DIR,
    max_minutes: MaxMinutes = None,
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
    checkpoint_every: CheckpointEvery = 300,
    stop_at_step: StopAtStep = None,
    final: Annotated[
        bool, typer.Option(help="train on train + devel, keep the last epoch")
    ] = False,
    schedule_from: Annotated[
        Path | None, typer.Option(help="devel run's devel_metrics.json: take its best epoch count")
    ] = None,
    linnaeus_holdout: Annotated[
        bool, typer.Option(help="train on 90%% of LINNAEUS train documents, score the other 10%%")
    ] = False,
    guard_fraction: Annotated[
        float,
        typer.Option(min=0.0, max=0.5, help="--final: devel tail kept out, to check int8 on"),
    ] = GUARD_FRACTION,
    pack_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="share of training chunks that join the sentences after them into one chunk "
            "(served windows hold several sentences)",
        ),
    ] = 0.0,
    label_smoothing: Annotated[
        float,
        typer.Option(min=0.0, max=0.5, help="share of each target spread over its head's labels"),
    ] = 0.0,
) -> None:
    """Train the four-head model; write the kept checkpoint and devel_metrics.json."""
    started = time.monotonic()
    deadline = started + max_minutes * 60 if max_minutes else None
    torch.set_num_threads(threads)  # the cores are shared: never grab more than asked
    base = base_model or default_base_model()
    keep = parse_negative_keep(negative_keep)
    folders = set(corpora) if corpora else {c.folder for c in DEVEL_CORPORA}
    settings: dict[str, Any] = {
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "max_length": max_length,
        "warmup_ratio": warmup_ratio,
        "weight_decay": weight_decay,
        "seed": seed,
        "negative_keep": keep,
        "bc5cdr_disease": bc5cdr_disease,
        "corpora": sorted(folders),
        "base_model": str(base),
        "base_model_sha256": base_model_digest(base),
        "data_dir": str(data_dir.resolve()),
        "limit_train": limit_train,
        "limit_devel": limit_devel,
        "final": final,
        "linnaeus_holdout": linnaeus_holdout,
        "guard_fraction": guard_fraction if final else 0.0,
        "pack_share": pack_share,
        "label_smoothing": label_smoothing,
    }
    schedule: dict[str, Any] = {"chosen_on": None}
    try:
        if schedule_from is not None:
            settings = chosen_schedule(schedule_from, settings)
            schedule = chosen_record(schedule_from)
        state = load_state(output, settings_hash(settings), settings)
    except (ScheduleError, SettingsMismatchError) as error:
        console.print("[red]error:[/red]", escape(str(error)))  # paths may hold [ ]
        raise typer.Exit(2) from error
    if state is not None and state["finished"]:
        console.print(f"{output} is already finished; delete it to train again")
        return
    epochs = settings["epochs"]

    seed_everything(seed)
    tokenizer = load_tokenizer(base)
    model = build_model(base)
    limits = (limit_train, limit_devel)
    pools = training_pools(
        data_dir,
        folders,
        bc5cdr_disease,
        tokenizer,
        max_length,
        keep,
        final,
        linnaeus_holdout,
        limits,
        settings["guard_fraction"],
        pack_share,
        seed,
    )
    for pool in pools:
        console.print(
            f"train {pool.folder}: {len(pool.positives) + len(pool.negatives)} chunks, "
            f"{len(pool.positives)} with entities, keep {pool.keep:.0%} of the rest per epoch"
        )
    scored = scored_sets(
        data_dir,
        folders,
        tokenizer,
        final,
        linnaeus_holdout,
        limit_devel,
        settings["guard_fraction"],
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
    kept: EpochRecord | None = None
    first_epoch, progress, earlier_seconds = 1, EpochProgress(), 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = [EpochRecord.from_dict(r) for r in state["history"]]
        kept = EpochRecord.from_dict(state["kept"]) if state["kept"] else None
        first_epoch, progress = state["epoch"], EpochProgress(**state["progress"])
        rng.setstate(state["epoch_rng"])  # the epoch's start: its sample and batches replay
        restore_rng_states(state["rng"])  # dropout continues where it stopped
        earlier_seconds = state["elapsed_seconds"]
        console.print(f"resuming epoch {first_epoch} at step {progress.steps} from {output}")

    def snapshot(epoch: int, epoch_progress: EpochProgress, epoch_rng: object) -> None:
        save_training_state(
            output,
            settings,
            model,
            optimizer,
            scheduler,
            epoch_rng=epoch_rng,
            epoch=epoch,
            progress=vars(epoch_progress).copy(),
            history=[r.as_dict() for r in history],
            kept=kept.as_dict() if kept else None,
            elapsed_seconds=earlier_seconds + time.monotonic() - started,
            finished=epoch > epochs,
        )

    for epoch in range(first_epoch, epochs + 1):
        console.rule(f"epoch {epoch}/{epochs}")
        epoch_rng = rng.getstate()
        sample = epoch_sample(pools, rng)
        batches = length_bucketed_batches([len(e.input_ids) for e in sample], batch_size, rng)
        done_before = (epoch - 1) * steps_per_epoch

        def pause(current: EpochProgress, done_before: int = done_before) -> bool:
            reached = stop_at_step is not None and done_before + current.steps >= stop_at_step
            return reached or (deadline is not None and time.monotonic() > deadline)

        def after_step(
            current: EpochProgress,
            epoch: int = epoch,
            done_before: int = done_before,
            epoch_rng: object = epoch_rng,
        ) -> None:
            if (done_before + current.steps) % checkpoint_every == 0:
                snapshot(epoch, current, epoch_rng)

        args = (
            optimizer,
            scheduler,
            progress,
            pause,
            after_step,
            console,
            log_every,
            label_smoothing,
        )
        if not train_epoch(model, sample, batches, *args):
            snapshot(epoch, progress, epoch_rng)
            console.print(
                f"paused at step {done_before + progress.steps} (epoch {epoch}, step "
                f"{progress.steps}/{len(batches)}); rerun the same command to resume"
            )
            return
        eval_began = time.monotonic()
        scores: dict[str, Score] = {}
        for t in scored:
            scores |= evaluate_corpus(
                model, t.corpus, t.examples, t.sentences, eval_batch_size, t.split
            )
        record = EpochRecord(
            epoch=epoch,
            train_loss=progress.loss,
            train_chunks=progress.examples,
            train_seconds=progress.seconds,
            chunks_per_second=progress.examples_per_second,
            eval_seconds=time.monotonic() - eval_began,
            scores=scores,
            mean_f1=selection_f1(scores),
        )
        history.append(record)
        mean = "n/a (final run)" if record.mean_f1 is None else f"{record.mean_f1:.4f}"
        console.print(
            f"epoch {epoch}: loss {record.train_loss:.4f}, {record.chunks_per_second:.1f} "
            f"chunks/s over {record.train_seconds / 60:.1f} min; mean devel F1 {mean}"
        )
        for key, s in scores.items():
            console.print(f"  {key:28} P {s.precision:.4f} R {s.recall:.4f} F1 {s.f1:.4f}")
        if final or kept is None or (record.mean_f1 or 0.0) > (kept.mean_f1 or 0.0):
            kept = record
            save_checkpoint(model, tokenizer, output)
            console.print(f"  saved epoch {epoch} as the checkpoint in {output}")
        # the report before the state: a crash between them replays the epoch's end, whereas
        # the other order could leave a finished state beside an unfinished report
        report = metrics_report(settings, schedule, history, kept, epoch == epochs)
        write_json(output / METRICS_FILE, report | {"command": command()})
        progress = EpochProgress()
        snapshot(epoch + 1, progress, rng.getstate())
    assert kept is not None  # epochs >= 1, so at least one epoch was scored
    if kept.scores:  # a --final run without the holdout scores nothing
        console.print(results_table(history, kept))
    console.print(f"done; kept epoch {kept.epoch} -> {output}")


if __name__ == "__main__":
    app()
