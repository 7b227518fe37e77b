"""One training epoch of the multi-head model: per-head loss on its own logit slice."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.nn import functional
from transformers import BertForTokenClassification

from models.recipe.data import IGNORE, Example, collate
from models.recipe.heads import head_slices


@dataclass
class EpochProgress:
    """How far an epoch got: saved in the resume state so a resumed epoch reports as a whole."""

    steps: int = 0
    examples: int = 0
    loss_sum: float = 0.0
    seconds: float = 0.0

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.steps, 1)

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds else 0.0


def multi_head_loss(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Cross-entropy of each head on its own slice, averaged over all labelled (head, token).

    ``labels`` is [batch, heads, length] with IGNORE wherever a head gets no loss, so a LINNAEUS
    sentence moves only the species slice while a BC5CDR sentence moves disease and chemical.
    Token-level averaging keeps one labelled word worth the same whichever head it trains;
    corpus balance is set by sampling, not by loss weights. ``label_smoothing`` spreads that
    share of each target over the head's own labels (never over another head's).
    """
    total = logits.new_zeros(())
    count = 0
    for head, (start, stop) in enumerate(head_slices()):
        target = labels[:, head, :]
        valid = int((target != IGNORE).sum())
        if valid == 0:
            continue
        total = total + functional.cross_entropy(
            logits[:, :, start:stop].reshape(-1, stop - start),
            target.reshape(-1),
            ignore_index=IGNORE,
            reduction="sum",
            label_smoothing=label_smoothing,
        )
        count += valid
    return total / max(count, 1)


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW without decay on biases and LayerNorm weights (the usual BERT fine-tuning split)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # The fused kernel updates all 22.7M parameters in one pass: 19 ms a step instead of 130
    # (2-core AMD EPYC with AVX-512, 2026-12-02, batch 32 x 48 sub-words), 13% of a step.
    return torch.optim.AdamW(groups, lr=lr, fused=True)


def train_epoch(
    model: BertForTokenClassification,
    examples: list[Example],
    batches: list[list[int]],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    progress: EpochProgress,
    pause: Callable[[EpochProgress], bool],
    after_step: Callable[[EpochProgress], None],
    console: Console,
    log_every: int,
    label_smoothing: float = 0.0,
) -> bool:
    """Train on ``batches[progress.steps:]``; False when ``pause`` stopped it before the end.

    ``progress`` is updated in place; ``after_step`` sees it after every optimizer step (the
    caller saves resume states there). The batches are the caller's, so a resumed epoch replays
    exactly the order an uninterrupted one would have used.
    """
    model.train()
    began = time.monotonic() - progress.seconds
    window_loss, window_steps = 0.0, 0
    columns = (
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("train", total=len(batches), loss=progress.loss)
        bar.update(task, completed=progress.steps)
        for batch_indices in batches[progress.steps :]:
            if pause(progress):
                return False
            tensors = collate(
                [examples[i] for i in batch_indices], pad_id=model.config.pad_token_id or 0
            )
            logits = model(
                input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]
            ).logits
            loss = multi_head_loss(logits, tensors["labels"], label_smoothing)
            loss.backward()
            # Clipping guards the freshly initialised classifier's first large gradients.
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach())
            progress.loss_sum += value
            progress.steps += 1
            progress.examples += len(batch_indices)
            progress.seconds = time.monotonic() - began
            window_loss += value
            window_steps += 1
            bar.update(task, advance=1, loss=progress.loss)
            if progress.steps % log_every == 0:
                # Plain log lines too, because rich's live bar is silent when logging to a file.
                console.print(
                    f"  step {progress.steps}/{len(batches)} loss {window_loss / window_steps:.4f} "
                    f"lr {scheduler.get_last_lr()[0]:.2e} "
                    f"{progress.examples_per_second:.1f} sent/s "
                    f"{progress.seconds / 60:.1f} min",
                    highlight=False,
                )
                window_loss, window_steps = 0.0, 0
            after_step(progress)
    return True
