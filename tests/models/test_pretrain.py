"""Masked-LM pre-training: whole-word masks, packed blocks, exact resume, a usable encoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from models.recipe import pretrain, train
from models.recipe.mlm_text import IGNORE, corpus_texts, pack, step_batch, whole_word_mask
from tests.models.recipe_fixtures import build_tiny_base, write_tiny_corpora, write_tiny_pubmed

CLS, SEP, MASK = 101, 102, 103


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("pretrain")
    return (
        build_tiny_base(root / "base"),
        write_tiny_corpora(root / "data", documents=4),
        write_tiny_pubmed(root / "pubmed"),
    )


def test_blocks_are_cut_only_where_a_word_starts() -> None:
    # three texts of words [1, 2 3], [4 5 6], [7]: "2 3" and "4 5 6" are one word each
    pieces = [[1, 2, 3], [4, 5, 6], [7]]
    starts = [[True, True, False], [True, False, False], [True]]
    assert pack(pieces, starts, block=6, cls_id=CLS, sep_id=SEP) == [
        [CLS, 1, 2, 3, SEP],
        [CLS, 4, 5, 6, 7, SEP],
    ]


def test_a_word_longer_than_a_block_is_cut_to_fit() -> None:
    blocks = pack([[1, 2, 3, 4, 5]], [[True, False, False, False, False]], 4, CLS, SEP)
    assert blocks == [[CLS, 1, 2, SEP], [CLS, 3, 4, SEP], [CLS, 5, SEP]]


def test_masks_cover_whole_words_and_never_specials_or_padding() -> None:
    continuation = torch.zeros(120, dtype=torch.bool)
    continuation[30:50] = True  # ids 30..49 continue a word, like "##" pieces
    row = [CLS, *[token for word in range(400) for token in (10 + word % 20, 30 + word % 20)], SEP]
    batch = [row, row[:101]]
    inputs, attention, labels = whole_word_mask(
        batch, continuation, {CLS, SEP, 0}, MASK, torch.Generator().manual_seed(0)
    )
    predicted = labels != IGNORE
    assert not predicted[:, 0].any()
    assert not predicted[attention == 0].any()
    assert not predicted[0, -1]
    # a word's two pieces are predicted together or not at all
    assert predicted[0, 1:-1:2].equal(predicted[0, 2:-1:2])
    share = predicted[0].sum().item() / 800
    assert 0.10 < share < 0.20
    original = torch.tensor(row)
    assert labels[0][predicted[0]].equal(original[predicted[0]])  # the targets are the originals
    masked_share = (inputs[predicted] == MASK).float().mean().item()
    assert 0.7 < masked_share < 0.9


def test_step_batches_are_a_fixed_shuffle_per_pass() -> None:
    blocks = [[i] for i in range(10)]
    first_pass = [i for step in range(3) for i in step_batch(blocks, 3, step, seed=1)]
    assert len(set(first_pass)) == 9  # one pass: no block twice
    assert step_batch(blocks, 3, 4, seed=1) == step_batch(blocks, 3, 4, seed=1)
    assert step_batch(blocks, 3, 3, seed=1) != step_batch(blocks, 3, 0, seed=1)


def test_pretraining_text_is_train_splits_only(tiny: tuple[Path, Path, Path]) -> None:
    _, data, _ = tiny
    texts = {t.text for t in corpus_texts(data)}
    assert "Title of train0" in texts
    assert not any("devel" in text for text in texts)


def run(tiny: tuple[Path, Path, Path], output: Path, **options: Any) -> None:
    base, data, pubmed = tiny
    settings: dict[str, Any] = {
        "steps": 12,
        "batch_size": 4,
        "block": 32,
        "threads": 1,
        "checkpoint_every": 5,
        "log_every": 1000,
    }
    pretrain.main(
        output=output, data_dir=data, pubmed_dir=pubmed, base_model=base, **(settings | options)
    )


def test_a_paused_and_resumed_pretraining_ends_with_the_uninterrupted_encoder(
    tiny: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    run(tiny, tmp_path / "whole")
    run(tiny, tmp_path / "paused", stop_at_step=7)
    assert not (tmp_path / "paused" / "model.safetensors").exists()
    run(tiny, tmp_path / "paused")
    whole = load_file(tmp_path / "whole" / "model.safetensors")
    paused = load_file(tmp_path / "paused" / "model.safetensors")
    assert whole.keys() == paused.keys()
    assert all(paused[name].equal(tensor) for name, tensor in whole.items())
    metrics = json.loads((tmp_path / "whole" / "pretrain_metrics.json").read_text())
    assert metrics["settings"]["tokens"] > 0
    assert metrics["minutes_per_1000_steps"] > 0


def test_the_pretrained_encoder_is_a_base_model_for_fine_tuning(
    tiny: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    run(tiny, tmp_path / "encoder", steps=2)
    base = load_file(tmp_path / "encoder" / "model.safetensors")
    _, data, _ = tiny
    train.main(
        output=tmp_path / "tuned",
        data_dir=data,
        base_model=tmp_path / "encoder",
        epochs=1,
        batch_size=8,
        max_length=32,
        threads=1,
        corpora=["linnaeus"],
    )
    tuned = load_file(tmp_path / "tuned" / "model.safetensors")
    # the fine-tuned model started from the pre-trained weights, not from random ones
    name = "embeddings.word_embeddings.weight"
    assert torch.allclose(tuned[f"bert.{name}"], base[name], atol=0.01)
