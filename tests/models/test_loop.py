"""The training loss: each head on its own logit slice, label smoothing within that slice."""

from __future__ import annotations

import math

import torch

from models.recipe.data import IGNORE
from models.recipe.heads import HEADS, head_slices
from models.recipe.loop import multi_head_loss


def confident_logits(labels: torch.Tensor) -> torch.Tensor:
    """Logits that put (almost) all of each head's probability on its target label."""
    width = head_slices()[-1][1]
    logits = torch.zeros(labels.shape[0], labels.shape[2], width)
    for head, (start, _) in enumerate(head_slices()):
        for row in range(labels.shape[0]):
            for position in range(labels.shape[2]):
                target = int(labels[row, head, position])
                if target != IGNORE:
                    logits[row, position, start + target] = 30.0
    return logits


def species_only_labels() -> torch.Tensor:
    """One LINNAEUS-like sentence: only the species head is labelled (O, B, I, O)."""
    labels = torch.full((1, len(HEADS), 4), IGNORE, dtype=torch.long)
    species = [head.entity_type for head in HEADS].index("Species")
    labels[0, species] = torch.tensor([0, 1, 2, 0])
    return labels


def test_smoothing_spreads_a_target_over_its_own_head_labels_only() -> None:
    labels = species_only_labels()
    species = [head.entity_type for head in HEADS].index("Species")
    start, stop = head_slices()[species]
    logits = confident_logits(labels).requires_grad_()
    assert float(multi_head_loss(logits, labels).detach()) < 1e-6
    smoothed = multi_head_loss(logits, labels, label_smoothing=0.1)
    # a confident right answer now costs the smoothed mass it refuses: 0.1 * (k-1)/k * 30
    labels_in_head = stop - start
    expected = 0.1 * (labels_in_head - 1) / labels_in_head * 30.0
    assert math.isclose(float(smoothed.detach()), expected, rel_tol=1e-3)
    smoothed.backward()
    assert logits.grad is not None
    outside = torch.cat([logits.grad[..., :start], logits.grad[..., stop:]], dim=-1)
    # the other heads got no label for this sentence: smoothing must not train them towards
    # uniform
    assert torch.count_nonzero(outside) == 0
    assert torch.count_nonzero(logits.grad[..., start:stop]) > 0
