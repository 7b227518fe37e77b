"""Tiny token classifiers built and trained inside the tests: no download, seconds of CPU.

Both learn to tag disease names from template sentences, so their predictions are confident
and exercise real spans: an ALBERT with an uncased, accent-stripping SentencePiece tokenizer
trained here, and a BERT with a WordPiece tokenizer trained here.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import torch

from tests.support.tiny_corpus import (
    LABELS,
    render,
    training_sentences,
)

# trained once on corpus_text() by tokenizers' BertWordPieceTokenizer (vocab_size 400): its
# trainer breaks ties in hash order, so a vocabulary trained per run differed from run to run
# and with it the tiny BERT's weights and predictions
WORDPIECE_VOCAB = Path(__file__).with_name("tiny_bert_vocab.txt")


def corpus_text() -> list[str]:
    return [render(words)[0] for words, _ in training_sentences(400, seed=1)]


def _token_labels(
    tags: list[int], spans: list[tuple[int, int]], offsets: list[tuple[int, int]]
) -> list[int]:
    """Every token labelled: B on a B-word's first token, I on the rest of an entity, else O."""
    labels = []
    seen: set[int] = set()
    for start, end in offsets:
        word = next((i for i, (s, e) in enumerate(spans) if s <= start < e or s < end <= e), None)
        if end <= start or word is None:
            labels.append(-100)
            continue
        tag = tags[word]
        labels.append(2 if tag == 1 and word in seen else tag)
        seen.add(word)
    return labels


def _train(model: torch.nn.Module, tokenizer: object, steps: int = 400) -> None:
    torch.manual_seed(0)
    # one thread: tiny matrices gain nothing from more, and OpenMP spin-waits on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    data = [(render(words), tags) for words, tags in training_sentences(640)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for step in range(steps):
        batch = data[(step * 16) % len(data) : (step * 16) % len(data) + 16]
        encoded = tokenizer(  # type: ignore[operator]
            [text for (text, _), _ in batch],
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping").tolist()
        labels = torch.tensor(
            [
                _token_labels(tags, spans, row)
                for ((_, spans), tags), row in zip(batch, offsets, strict=True)
            ]
        )
        loss = model(**encoded, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    torch.set_num_threads(threads)


def _label_config() -> dict[str, object]:
    return {
        "num_labels": len(LABELS),
        "id2label": dict(enumerate(LABELS)),
        "label2id": {label: i for i, label in enumerate(LABELS)},
    }


def train_albert_tokenizer(
    texts: list[str], directory: Path, vocab_size: int, model_type: str
) -> Any:
    """An uncased, accent-stripping ALBERT tokenizer from a SentencePiece model trained here."""
    import sentencepiece as spm
    from transformers import AlbertTokenizer

    model_file = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model_file,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        model_type=model_type,
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"],
        minloglevel=2,
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "spiece.model").write_bytes(model_file.getvalue())
    # from_pretrained converts spiece.model into a fast tokenizer (the constructor alone does not)
    tokenizer = AlbertTokenizer.from_pretrained(
        str(directory), do_lower_case=True, keep_accents=False
    )
    tokenizer.model_max_length = 512
    return tokenizer


def build_tiny_albert(directory: Path) -> Path:
    """ALBERT + uncased SentencePiece (lower-cases, strips accents) -> checkpoint folder."""
    from transformers import AlbertConfig, AlbertForTokenClassification

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = train_albert_tokenizer(corpus_text(), directory / "sentencepiece", 1000, "bpe")
    config = AlbertConfig(
        vocab_size=len(tokenizer),
        embedding_size=64,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        **_label_config(),
    )
    torch.manual_seed(0)
    model = AlbertForTokenClassification(config)
    _train(model, tokenizer)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_bert(directory: Path) -> Path:
    """BERT + cased WordPiece -> checkpoint folder."""
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(WORDPIECE_VOCAB, directory / "vocab.txt")
    tokenizer = BertTokenizer.from_pretrained(str(directory), do_lower_case=False)
    tokenizer.model_max_length = 512
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=512,
        **_label_config(),
    )
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    _train(model, tokenizer)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
