"""A tiny BERT base and tiny IOB corpora in the shared data layout, for the recipe's tests.

The base is random (no training): the recipe tests check plumbing (resume, splits, records),
not accuracy, so seconds of CPU suffice.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from tests.support.tiny_corpus import training_sentences
from tests.support.tiny_models import WORDPIECE_VOCAB

# corpus folder -> the tag its entities get (BC2GM spells its type GENE)
CORPUS_TYPES = {
    "ncbi-disease": "Disease",
    "bc5cdr": "Chemical",
    "bc2gm": "GENE",
    "linnaeus": "Species",
}


def build_tiny_base(directory: Path, seed: int = 0) -> Path:
    """A random 2-layer BERT encoder with a fast WordPiece tokenizer, like the MiniLM folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(WORDPIECE_VOCAB, directory / "vocab.txt")
    tokenizer = BertTokenizerFast(vocab_file=str(directory / "vocab.txt"), do_lower_case=False)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _document(rng: random.Random, entity_type: str, title: str, sentences: int) -> list[str]:
    """A title, the ``Abstract`` heading LINNAEUS articles have, then tagged sentences."""
    lines = ["Title\tO", "of\tO", f"{title}\tO", "", "Abstract\tO", ""]
    for words, tags in training_sentences(sentences, seed=rng.randrange(10**6)):
        for word, tag in zip(words, tags, strict=True):
            label = ("O", f"B-{entity_type}", f"I-{entity_type}")[tag]
            lines.append(f"{word}\t{label}")
        lines.append("")
    return lines


def write_tiny_corpora(data_dir: Path, documents: int = 10, sentences: int = 6) -> Path:
    """train.tsv and devel.tsv of every corpus folder the recipe reads."""
    rng = random.Random(0)
    for folder, entity_type in CORPUS_TYPES.items():
        (data_dir / folder).mkdir(parents=True, exist_ok=True)
        for split, count in (("train", documents), ("devel", 2)):
            lines = [
                line
                for number in range(count)
                for line in _document(rng, entity_type, f"{split}{number}", sentences)
            ]
            (data_dir / folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return data_dir


def write_tiny_pubmed(pubmed_dir: Path, citations: int = 6) -> Path:
    """A gzipped PubMed XML sample with ``citations`` titled abstracts."""
    import gzip

    articles = "".join(
        f"<PubmedArticle><MedlineCitation><PMID Version='1'>{number}</PMID><Article>"
        f"<ArticleTitle>Patients with breast cancer study {number} .</ArticleTitle><Abstract>"
        "<AbstractText>The risk of cystic fibrosis increased among mice . "
        "Treatment of hepatitis with insulin reduced symptoms of leukemia .</AbstractText>"
        "</Abstract></Article></MedlineCitation></PubmedArticle>"
        for number in range(1, citations + 1)
    )
    pubmed_dir.mkdir(parents=True, exist_ok=True)
    xml = f"<?xml version='1.0'?><PubmedArticleSet>{articles}</PubmedArticleSet>"
    (pubmed_dir / "sample.xml.gz").write_bytes(gzip.compress(xml.encode()))
    return pubmed_dir
