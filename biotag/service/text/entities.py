"""The value a tagger returns for each mention: a leaf module, so that formatters, bulk
writers and readers of results import it without the inference machinery."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entity:
    """One mention: ``text == document[start:end]`` (code points, end exclusive)."""

    start: int
    end: int
    text: str
    type: str
    score: float  # mean probability of the type over the mention's words, 4 decimals
    model: str
