"""Unlabeled text for domain-adaptive masked-LM pre-training, packed and masked.

Sources: the training split of every corpus (devel and test text never: it would leak into the
figures the devel runs choose by) and the PubMed XML samples (title + abstract). Neighbouring
sentences are packed into blocks of ``block`` sub-words so little compute goes to padding, and
blocks are cut only where a word starts, so whole-word masking never sees half a word.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from biotag.bulk.readers import InputFormat, open_records
from biotag.bulk.records import Document
from models.recipe.corpora import read_iob
from models.recipe.heads import DEVEL_CORPORA

IGNORE = -100  # cross_entropy's ignore_index: positions that are not predicted
MASK_PROBABILITY = 0.15


@dataclass(frozen=True)
class Text:
    source: str  # e.g. "linnaeus/train.tsv" or "pubmed/medline16n0902.xml.gz"
    text: str


def corpus_texts(data_dir: Path) -> list[Text]:
    """One text per training sentence of every corpus, tokens joined by spaces, in file order."""
    texts: list[Text] = []
    for corpus in DEVEL_CORPORA:
        path = data_dir / corpus.folder / "train.tsv"
        texts += [Text(f"{corpus.folder}/train.tsv", " ".join(s.tokens)) for s in read_iob(path)]
    return texts


def pubmed_texts(pubmed_dir: Path) -> list[Text]:
    """Title + abstract of every citation in the folder's ``*.xml`` / ``*.xml.gz`` files."""
    texts: list[Text] = []
    for path in sorted([*pubmed_dir.glob("*.xml"), *pubmed_dir.glob("*.xml.gz")]):
        with open_records(path, InputFormat.PUBMED, section_labels=False) as opened:
            texts += [
                Text(f"pubmed/{path.name}", record.text)
                for record in opened.records
                if isinstance(record, Document) and record.text.strip()
            ]
    return texts


def deduplicated(texts: list[Text]) -> list[Text]:
    """First occurrence of each text kept: corpora share sentences, which would be seen twice."""
    seen: set[str] = set()
    kept: list[Text] = []
    for text in texts:
        if text.text not in seen:
            seen.add(text.text)
            kept.append(text)
    return kept


def pack(
    pieces: list[list[int]], starts: list[list[bool]], block: int, cls_id: int, sep_id: int
) -> list[list[int]]:
    """``[CLS] ... [SEP]`` blocks of at most ``block`` ids from consecutive texts.

    ``starts[t][i]`` says whether piece ``i`` of text ``t`` begins a word; a block is cut only
    there (a single word longer than a block is cut where it must be).
    """
    budget = block - 2
    blocks: list[list[int]] = []
    current: list[int] = []
    for text_pieces, text_starts in zip(pieces, starts, strict=True):
        words: list[list[int]] = []
        for piece, start in zip(text_pieces, text_starts, strict=True):
            if start or not words:
                words.append([])
            words[-1].append(piece)
        for word in words:
            if current and len(current) + len(word) > budget:
                blocks.append([cls_id, *current, sep_id])
                current = []
            for begin in range(0, len(word), budget):
                current.extend(word[begin : begin + budget])
                if len(current) >= budget:
                    blocks.append([cls_id, *current[:budget], sep_id])
                    current = current[budget:]
    if current:
        blocks.append([cls_id, *current, sep_id])
    return blocks


def encode_texts(
    texts: list[Text], tokenizer: PreTrainedTokenizerBase, block: int
) -> tuple[list[list[int]], int]:
    """Packed blocks of every text, and the number of sub-word tokens of text they hold."""
    encoded = tokenizer([t.text for t in texts], add_special_tokens=False, verbose=False)
    pieces: list[list[int]] = encoded["input_ids"]
    starts: list[list[bool]] = []
    for number, ids in enumerate(pieces):
        words = encoded.word_ids(number)
        starts.append([i == 0 or words[i] != words[i - 1] for i in range(len(ids))])
    blocks = pack(pieces, starts, block, tokenizer.cls_token_id, tokenizer.sep_token_id)
    return blocks, sum(len(p) for p in pieces)


def step_batch(blocks: list[list[int]], batch_size: int, step: int, seed: int) -> list[int]:
    """Block indices of optimizer step ``step``: a fixed-seed shuffle per pass over the data.

    A pure function of the step, so a resumed run draws exactly the batches it would have.
    """
    per_pass = len(blocks) // batch_size
    if per_pass == 0:
        raise ValueError(f"{len(blocks)} blocks cannot fill one batch of {batch_size}")
    order = list(range(len(blocks)))
    random.Random(seed * 1_000_003 + step // per_pass).shuffle(order)
    begin = (step % per_pass) * batch_size
    return order[begin : begin + batch_size]


def whole_word_mask(
    batch: list[list[int]],
    continuation: torch.Tensor,
    special_ids: set[int],
    mask_id: int,
    generator: torch.Generator,
    probability: float = MASK_PROBABILITY,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, labels)`` with ``probability`` of the words masked whole.

    Each chosen word's sub-words are all predicted; of those, 80% become [MASK], 10% a random
    token and 10% stay, as in BERT. ``continuation[id]`` says a piece continues a word (``##``).
    """
    width = max(len(ids) for ids in batch)
    input_ids = torch.zeros((len(batch), width), dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
    special = torch.isin(input_ids, torch.tensor(sorted(special_ids))) | (attention == 0)
    starts = ~continuation[input_ids] & ~special
    chosen_start = starts & (torch.rand(input_ids.shape, generator=generator) < probability)
    # a continuation piece is chosen when the start of its word is: carry the choice rightwards
    selected = chosen_start.clone()
    for position in range(1, width):
        carry = selected[:, position - 1] & ~starts[:, position] & ~special[:, position]
        selected[:, position] |= carry
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE))
    roll = torch.rand(input_ids.shape, generator=generator)
    random_ids = torch.randint(continuation.numel(), input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[selected & (roll < 0.8)] = mask_id
    swap = selected & (roll >= 0.8) & (roll < 0.9)
    masked[swap] = random_ids[swap]
    return masked, attention, labels
