"""Turn corpus sentences into sub-word examples with one label row per head, and batch them."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from models.recipe.corpora import Sentence, project
from models.recipe.heads import HEADS, CorpusSpec, head_index

IGNORE = -100  # cross_entropy's ignore_index: special tokens, later sub-words, untrained heads


@dataclass(frozen=True)
class Example:
    """A chunk of at most ``max_length`` sub-words (specials included) of one sentence, or in
    training of neighbouring sentences (``pack_neighbours``)."""

    input_ids: list[int]
    labels: list[list[int]]  # [head][position], IGNORE where the head gets no loss
    sentence: int  # index of the sentence in its corpus split
    word_offset: int  # index of this chunk's first word inside the sentence
    first_positions: list[int]  # per word of the chunk: its first sub-word position, or -1


def _chunk_bounds(
    word_lengths: list[int], tags: tuple[str, ...] | None, budget: int
) -> list[tuple[int, int]]:
    """Split words into ``[start, stop)`` runs of at most ``budget`` sub-words.

    Long sentences are split rather than truncated so no gold entity is dropped. With ``tags``
    (training only) a cut is moved back so it does not fall inside an entity; at prediction time
    no gold is used.
    """
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < len(word_lengths):
        stop, used = start, 0
        while stop < len(word_lengths) and used + word_lengths[stop] <= budget:
            used += word_lengths[stop]
            stop += 1
        stop = max(stop, start + 1)  # a single over-long word still makes (a clipped) chunk
        if tags is not None and stop < len(word_lengths):
            cut = stop
            while cut > start + 1 and tags[cut].startswith("I-"):
                cut -= 1
            if cut > start + 1:
                stop = cut
        bounds.append((start, stop))
        start = stop
    return bounds


def encode(
    sentences: list[Sentence],
    corpus: CorpusSpec,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    split_with_gold: bool,
) -> list[Example]:
    """Sub-word examples; labels sit on each word's first sub-word only."""
    if not sentences:
        return []
    encoded = tokenizer(
        [list(sentence.tokens) for sentence in sentences],
        is_split_into_words=True,
        add_special_tokens=False,
    )
    trained = {head_index(name): HEADS[head_index(name)] for name in corpus.heads}
    budget = max_length - 2  # [CLS] and [SEP]
    examples: list[Example] = []
    for number, sentence in enumerate(sentences):
        pieces: list[list[int]] = [[] for _ in sentence.tokens]
        for piece, word in zip(encoded["input_ids"][number], encoded.word_ids(number), strict=True):
            if word is not None:
                pieces[word].append(piece)
        label_ids = {
            index: [head.labels.index(tag) for tag in project(sentence.tags, head.entity_type)]
            for index, head in trained.items()
        }
        lengths = [len(word_pieces) for word_pieces in pieces]
        tags = sentence.tags if split_with_gold else None
        for start, stop in _chunk_bounds(lengths, tags, budget):
            input_ids = [tokenizer.cls_token_id]
            labels = [[IGNORE] for _ in HEADS]
            first_positions: list[int] = []
            for word in range(start, stop):
                word_pieces = pieces[word][: budget - (len(input_ids) - 1)]
                # A word the tokenizer drops (e.g. a lone control character) has no position;
                # it is predicted as O and cannot carry a training label.
                first_positions.append(len(input_ids) if word_pieces else -1)
                for offset, piece in enumerate(word_pieces):
                    input_ids.append(piece)
                    for index, row in enumerate(labels):
                        first = offset == 0 and index in label_ids
                        row.append(label_ids[index][word] if first else IGNORE)
            input_ids.append(tokenizer.sep_token_id)
            for row in labels:
                row.append(IGNORE)
            examples.append(Example(input_ids, labels, number, start, first_positions))
    return examples


def _joined(run: list[Example], cls_id: int, sep_id: int) -> Example:
    """One chunk of ``run``'s sub-words between a single [CLS] and [SEP]; it keeps the index of
    its first sentence (training chunks are never mapped back to words)."""
    input_ids = [cls_id]
    labels: list[list[int]] = [[IGNORE] for _ in run[0].labels]
    first_positions: list[int] = []
    for example in run:
        shift = len(input_ids) - 1
        input_ids.extend(example.input_ids[1:-1])
        for row, part in zip(labels, example.labels, strict=True):
            row.extend(part[1:-1])
        first_positions.extend(p + shift if p >= 0 else -1 for p in example.first_positions)
    input_ids.append(sep_id)
    for row in labels:
        row.append(IGNORE)
    return Example(input_ids, labels, run[0].sentence, run[0].word_offset, first_positions)


def pack_neighbours(
    examples: list[Example], max_length: int, share: float, rng: random.Random
) -> list[Example]:
    """Training chunks where a ``share`` of them open a run that joins the chunks after them,
    in corpus order, while the run fits in ``max_length`` sub-words.

    The service cuts an abstract between sentences into windows of up to the bundle's max
    length, so a served window mostly holds several sentences, while a sentence sent alone is a
    window of its own; a model trained on lone sentences only reads the first case out of
    distribution. The corpora run document by document, so a run's sentences are mostly
    neighbours in one abstract. ``share`` 0 returns ``examples`` untouched, drawing nothing.
    """
    if share <= 0 or not examples:
        return examples
    cls_id, sep_id = examples[0].input_ids[0], examples[0].input_ids[-1]
    packed: list[Example] = []
    index = 0
    while index < len(examples):
        run = [examples[index]]
        length = len(examples[index].input_ids)
        index += 1
        if rng.random() < share:
            while (
                index < len(examples) and length + len(examples[index].input_ids) - 2 <= max_length
            ):
                length += len(examples[index].input_ids) - 2
                run.append(examples[index])
                index += 1
        packed.append(_joined(run, cls_id, sep_id) if len(run) > 1 else run[0])
    return packed


def length_bucketed_batches(
    lengths: list[int], batch_size: int, rng: random.Random, pool_batches: int = 50
) -> list[list[int]]:
    """Shuffle, sort within pools of ``pool_batches`` batches by length, shuffle batch order.

    Batches then hold similar lengths (little padding, which is most of the CPU saving) while
    the order of the data still changes every epoch.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    pool = batch_size * pool_batches
    for begin in range(0, len(order), pool):
        chunk = sorted(order[begin : begin + pool], key=lambda index: lengths[index])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch: ``input_ids``/``attention_mask`` [B, L] and ``labels`` [B, heads, L]."""
    width = max(len(example.input_ids) for example in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), len(HEADS), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(examples):
        size = len(example.input_ids)
        input_ids[row, :size] = torch.tensor(example.input_ids)
        attention[row, :size] = 1
        labels[row, :, :size] = torch.tensor(example.labels)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
