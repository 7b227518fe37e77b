"""Entity-level exact-match precision/recall/F1 of every head on the devel corpora.

Scoring is on words (the corpus tokens), not sub-words: each word takes the tag predicted on its
first sub-word, the sequence gets the I-after-O repair, and an entity counts only when its
boundaries and type both match the gold, as in seqeval's default mode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from transformers import PreTrainedModel

from models.recipe.corpora import Sentence, project, spans
from models.recipe.data import Example, collate
from models.recipe.heads import HEADS, CorpusSpec, eval_target_name, head_index, head_slices


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    gold: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def score(gold: list[list[str]], predicted: list[list[str]]) -> Score:
    """Exact-match entity P/R/F1 over parallel lists of word-level BIO sequences."""
    tp = fp = fn = 0
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        gold_spans, predicted_spans = spans(gold_tags), spans(predicted_tags)
        hits = len(gold_spans & predicted_spans)
        tp += hits
        fp += len(predicted_spans) - hits
        fn += len(gold_spans) - hits
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1, tp, fp, fn, tp + fn)


@torch.inference_mode()
def predict_heads(
    model: PreTrainedModel, examples: list[Example], sentences: list[Sentence], batch_size: int
) -> list[list[list[str]]]:
    """Word-level tags ``[head][sentence][word]`` for every head, from one forward pass each.

    Every head is decoded even where only some are scored: it is the same cost, and it keeps
    this function ignorant of which corpus annotates what.
    """
    predicted = [[["O"] * len(sentence.tokens) for sentence in sentences] for _ in HEADS]
    # Sorting by length keeps padding (wasted CPU) low; order does not affect results.
    order = sorted(range(len(examples)), key=lambda index: len(examples[index].input_ids))
    slices = head_slices()
    was_training = model.training
    model.eval()
    for begin in range(0, len(order), batch_size):
        batch = [examples[index] for index in order[begin : begin + batch_size]]
        tensors = collate(batch, pad_id=model.config.pad_token_id or 0)
        logits = model(
            input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]
        ).logits
        for head, (start, stop) in enumerate(slices):
            best = logits[:, :, start:stop].argmax(dim=-1).tolist()
            labels = HEADS[head].labels
            for row, example in enumerate(batch):
                words = predicted[head][example.sentence]
                for offset, position in enumerate(example.first_positions):
                    if position >= 0:
                        words[example.word_offset + offset] = labels[best[row][position]]
    model.train(was_training)
    return predicted


def evaluate_corpus(
    model: PreTrainedModel,
    corpus: CorpusSpec,
    examples: list[Example],
    sentences: list[Sentence],
    batch_size: int,
    split: str = "devel",
) -> dict[str, Score]:
    """Scores keyed ``<folder>/<split>:<Type>`` for each head the corpus annotates."""
    predicted = predict_heads(model, examples, sentences, batch_size)
    results: dict[str, Score] = {}
    for name in corpus.heads:
        index = head_index(name)
        head = HEADS[index]
        gold = [project(sentence.tags, head.entity_type) for sentence in sentences]
        results[eval_target_name(corpus, head, split)] = score(gold, predicted[index])
    return results
