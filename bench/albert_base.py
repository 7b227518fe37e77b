"""A BioALBERT-base-sized checkpoint (random weights) with a SentencePiece tokenizer.

Same compute as BioALBERT-base: 12 layers, hidden 768, embedding 128, 12 heads, FFN 3072,
vocabulary 30,000. The tokenizer is trained on the NCBI abstracts so token counts per abstract
are realistic. The classifier's weights are scaled up so that labels are decisive, as in a
fine-tuned model (otherwise random logits make parity figures meaningless), and its bias is set
so that about as many tokens fall inside entities as in real abstracts (otherwise two thirds of
all tokens become entities and the responses, not the model, dominate every measurement).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.abstracts import ncbi_abstracts
from tests.support.tiny_models import train_albert_tokenizer

LABELS = ["O", "B-Disease", "I-Disease"]
BASE_SIZES = {
    "embedding_size": 128,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
VOCAB_SIZE = 30000
ENTITY_TOKEN_SHARE = 0.06  # NCBI-disease: ~6% of sub-word tokens lie inside a disease mention


def build_albert_base(directory: Path, texts: list[str] | None = None, seed: int = 0) -> Path:
    """The checkpoint in ``directory`` (kept if there), tokenizer trained on ``texts``
    (default: the NCBI abstracts)."""
    from transformers import AlbertForTokenClassification

    if (directory / "config.json").is_file():
        return directory
    texts = texts or ncbi_abstracts()
    tokenizer = train_albert_tokenizer(texts, directory / "sentencepiece", VOCAB_SIZE, "unigram")
    torch.manual_seed(seed)
    config = classifier_config(VOCAB_SIZE, BASE_SIZES)
    model = AlbertForTokenClassification(config).eval()
    make_labels_realistic(model, tokenizer, texts[:40])
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def classifier_config(vocab_size: int, sizes: dict[str, int], **extra: Any) -> Any:
    """An ALBERT token-classifier configuration with LABELS, 512 positions."""
    from transformers import AlbertConfig

    return AlbertConfig(
        vocab_size=vocab_size,
        max_position_embeddings=512,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        **sizes,
        **extra,
    )


def make_labels_realistic(model: torch.nn.Module, tokenizer: Any, texts: list[str]) -> None:
    """Decisive logits, and an O bias that leaves ENTITY_TOKEN_SHARE of the tokens of ``texts``
    labelled as entities (label 0 is O)."""
    classifier = model.classifier  # type: ignore[attr-defined]
    with torch.no_grad():
        classifier.weight.mul_(50.0)
        classifier.bias.zero_()
        margins = []
        for text in texts:
            encoded = tokenizer(text, return_tensors="pt", truncation=True, max_length=512)
            logits = model(**encoded).logits[0]
            margins.append(logits[:, 1:].max(dim=-1).values - logits[:, 0])
        classifier.bias[0] = torch.quantile(torch.cat(margins), 1.0 - ENTITY_TOKEN_SHARE)
