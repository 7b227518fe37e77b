"""The template corpus the tiny test models learn from: disease names in sentences, with
their tags. Pure Python (no torch), so tests that only need the sentences run without the
export extra."""

from __future__ import annotations

import random
import re

DISEASES = (
    "breast cancer",
    "cystic fibrosis",
    "Ménière disease",
    "Sjögren syndrome",
    "Crohn disease",
    "Duchenne muscular dystrophy",
    "ataxia telangiectasia",
    "Huntington disease",
    "diabetes mellitus",
    "tuberculosis",
    "hepatitis",
    "Parkinson disease",
    "ovarian cancer",
    "Alzheimer disease",
    "leukemia",
)
FILLERS = (
    "mice",
    "patients",
    "BRCA1",
    "TNF-alpha",
    "cisplatin",
    "the cohort",
    "children",
    "controls",
    "p53",
    "insulin",
)
TEMPLATES = (
    "Patients with {d} were enrolled in {f} studies .",
    "The risk of {d} increased among {f} .",
    "{d} is caused by mutations in {f} .",
    "We studied {d} and {d2} in {f} .",
    "No association between {f} and {d} was found ( p = 0.03 ) .",
    "{f} levels were normal in {d} .",
    "Treatment of {d} with {f} reduced symptoms of {d2} .",
    "The {f} group showed no signs of {d} .",
)
LABELS = ["O", "B-Disease", "I-Disease"]
_WORD = re.compile(r"\w+|[^\w\s]")


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def training_sentences(count: int, seed: int = 0) -> list[tuple[list[str], list[int]]]:
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        template = rng.choice(TEMPLATES)
        words: list[str] = []
        tags: list[int] = []
        for piece in template.split(" "):
            if piece in ("{d}", "{d2}"):
                disease = _words(rng.choice(DISEASES))
                words += disease
                tags += [1] + [2] * (len(disease) - 1)
            elif piece == "{f}":
                filler = _words(rng.choice(FILLERS))
                words += filler
                tags += [0] * len(filler)
            else:
                words.append(piece)
                tags.append(0)
        sentences.append((words, tags))
    return sentences


def render(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Natural text from words (no space before closing punctuation) and each word's span."""
    text = ""
    spans = []
    for word in words:
        if text and word not in ".,;:)" and not text.endswith("("):
            text += " "
        spans.append((len(text), len(text) + len(word)))
        text += word
    return text, spans
