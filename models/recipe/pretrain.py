"""Domain-adaptive masked-LM pre-training of the MiniLM encoder on our unlabeled text.

    python -m models.recipe.pretrain --output build/minilm-bio --steps 1000

Continues BERT's masked-LM objective (whole-word masking, 15% of words) from the MiniLM package's
weights on the corpora's training sentences and the PubMed samples, so the encoder sees
biomedical vocabulary in context before fine-tuning. The MiniLM package ships no MLM head: it
starts from random weights (tied to the word embeddings) and learns during the warm-up.

Writes an encoder folder (``config.json``, ``model.safetensors``, tokenizer) that
``models.recipe.train --base-model`` accepts, plus ``pretrain_metrics.json``. A resume state is
written every ``--checkpoint-every`` steps: rerunning the same command continues exactly.
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
from torch.nn import functional
from transformers import BertForMaskedLM, get_linear_schedule_with_warmup

from models.recipe.checkpoint import default_base_model, load_tokenizer
from models.recipe.corpora import DEFAULT_DATA_DIR, REPO_ROOT
from models.recipe.loop import make_optimizer
from models.recipe.mlm_text import (
    IGNORE,
    MASK_PROBABILITY,
    corpus_texts,
    deduplicated,
    encode_texts,
    pubmed_texts,
    step_batch,
    whole_word_mask,
)
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

DEFAULT_PUBMED_DIR = REPO_ROOT / ".." / "shared" / "data" / "pubmed"
METRICS_FILE = "pretrain_metrics.json"

app = typer.Typer(add_completion=False)
console = Console() if sys.stdout.isatty() else Console(width=160)


def masked_lm_loss(
    model: BertForMaskedLM, input_ids: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy on the masked positions only: the vocabulary projection is most of an MLM
    step's compute, and it is needed at ~15% of the positions."""
    hidden = model.bert(input_ids=input_ids, attention_mask=attention).last_hidden_state
    chosen = labels != IGNORE
    if not chosen.any():  # possible only for tiny batches; keep the graph so backward() works
        nothing: torch.Tensor = hidden.sum() * 0.0
        return nothing
    logits = model.cls(hidden[chosen])
    return functional.cross_entropy(logits, labels[chosen])


@app.command()
def main(
    output: Annotated[Path, typer.Option(help="encoder folder to write")],
    steps: Annotated[int, typer.Option(min=1, help="optimizer steps in all")] = 1000,
    data_dir: Annotated[Path, typer.Option(help="folder holding the corpora")] = DEFAULT_DATA_DIR,
    pubmed_dir: Annotated[Path, typer.Option(help="PubMed XML samples")] = DEFAULT_PUBMED_DIR,
    base_model: Annotated[Path | None, typer.Option(help="MiniLM folder")] = None,
    lr: float = 1e-4,
    batch_size: int = 32,
    block: Annotated[int, typer.Option(help="sub-words per packed block")] = 128,
    warmup_ratio: float = 0.06,
    weight_decay: float = 0.01,
    mask_probability: float = MASK_PROBABILITY,
    seed: int = 13,
    threads: int = 2,
    checkpoint_every: CheckpointEvery = 50,
    stop_at_step: StopAtStep = None,
    max_minutes: MaxMinutes = None,
    log_every: int = 50,
) -> None:
    """Masked-LM steps on the unlabeled text; write the encoder and pretrain_metrics.json."""
    started = time.monotonic()
    deadline = started + max_minutes * 60 if max_minutes else None
    torch.set_num_threads(threads)
    base = base_model or default_base_model()
    tokenizer = load_tokenizer(base)
    texts = deduplicated(corpus_texts(data_dir) + pubmed_texts(pubmed_dir))
    blocks, tokens = encode_texts(texts, tokenizer, block)
    sources = sorted({t.source for t in texts})
    settings: dict[str, Any] = {
        "steps": steps,
        "lr": lr,
        "batch_size": batch_size,
        "block": block,
        "warmup_ratio": warmup_ratio,
        "weight_decay": weight_decay,
        "mask_probability": mask_probability,
        "seed": seed,
        "base_model": str(base),
        "sources": sources,
        "tokens": tokens,  # a changed corpus changes the count, and so the digest
    }
    try:
        state = load_state(output, settings_hash(settings), settings)
    except SettingsMismatchError as error:
        console.print("[red]error:[/red]", escape(str(error)))  # paths may hold [ ]
        raise typer.Exit(2) from error
    if state is not None and state["step"] >= steps:
        console.print(f"{output} is already finished; delete it to pre-train again")
        return
    console.print(
        f"{len(texts)} texts from {len(sources)} sources, {tokens:,} sub-word tokens, "
        f"{len(blocks)} blocks of <= {block}; {len(blocks) // batch_size} steps per pass"
    )

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = BertForMaskedLM.from_pretrained(base)
    model.train()
    optimizer = make_optimizer(model, lr, weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, round(warmup_ratio * steps), steps)
    step, losses, earlier_seconds = 0, [], 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng_states(state["rng"])
        step, losses, earlier_seconds = state["step"], state["losses"], state["seconds"]
        console.print(f"resuming at step {step} from {output}")
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    continuation = torch.tensor([piece.startswith("##") for piece in pieces])
    specials = set(tokenizer.all_special_ids)
    session_began, session_steps = time.monotonic(), 0

    def seconds_so_far() -> float:
        return earlier_seconds + time.monotonic() - session_began

    def snapshot() -> None:
        save_training_state(
            output,
            settings,
            model,
            optimizer,
            scheduler,
            step=step,
            losses=losses,
            seconds=seconds_so_far(),
        )

    window: list[float] = []
    while step < steps:
        if (stop_at_step is not None and step >= stop_at_step) or (
            deadline is not None and time.monotonic() > deadline
        ):
            snapshot()
            console.print(f"paused at step {step}/{steps}; rerun the same command to resume")
            return
        # masks depend on (seed, step) only, so a resumed run masks what it would have
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
        batch = [blocks[i] for i in step_batch(blocks, batch_size, step, seed)]
        inputs, attention, labels = whole_word_mask(
            batch, continuation, specials, tokenizer.mask_token_id, generator, mask_probability
        )
        loss = masked_lm_loss(model, inputs, attention, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        session_steps += 1
        window.append(float(loss.detach()))
        if step % log_every == 0 or step == steps:
            losses.append({"step": step, "loss": sum(window) / len(window)})
            per_step = (time.monotonic() - session_began) / session_steps
            console.print(
                f"  step {step}/{steps} mlm loss {losses[-1]['loss']:.4f} "
                f"lr {scheduler.get_last_lr()[0]:.2e} {per_step * 1000 / 60:.1f} min/1000 steps",
                highlight=False,
            )
            window = []
        if step % checkpoint_every == 0 and step < steps:
            snapshot()

    model.bert.save_pretrained(output)  # the encoder alone: what --base-model expects
    tokenizer.save_pretrained(output)
    snapshot()
    seconds = seconds_so_far()
    write_json(
        output / METRICS_FILE,
        {
            "command": " ".join(["python -m models.recipe.pretrain", *sys.argv[1:]]),
            "settings": settings,
            "texts": len(texts),
            "blocks": len(blocks),
            "seconds": seconds,
            "minutes_per_1000_steps": seconds / steps * 1000 / 60,
            "losses": losses,
        },
    )
    console.print(f"done: {steps} steps in {seconds / 60:.1f} min -> {output}")


if __name__ == "__main__":
    app()
