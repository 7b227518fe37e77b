"""One request's documents -> entities of the requested models. Knows no HTTP.

Each document is tokenised once per distinct tokenizer, cut into windows, run once per bundle
(one inference serves every requested head of that bundle), and decoded per head.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from biotag.service.inference.batcher import WindowRunner
from biotag.service.inference.registry import LoadedBundle, Registry
from biotag.service.text.chunking import EncodedDocument, Window, plan_sentence_windows
from biotag.service.text.decoding import decode_words, index_words, softmax
from biotag.service.text.entities import Entity

SCORE_DECIMALS = 4


class UnknownModelError(LookupError):
    def __init__(self, names: list[str], served: list[str]) -> None:
        super().__init__(f"unknown model(s) {names}; served: {served}")
        self.names = names


@dataclass(frozen=True)
class Tagged:
    models: list[str]  # the models that ran, grouped by bundle
    documents: list[list[Entity]]  # per document, in request order, sorted by position


@dataclass(frozen=True)
class _DocumentPlan:
    encoded: EncodedDocument
    windows: list[Window]


class Tagger:
    def __init__(self, registry: Registry, runners: Mapping[str, WindowRunner]) -> None:
        self._registry = registry
        self._runners = runners  # bundle name -> what runs its windows

    @property
    def model_names(self) -> list[str]:
        return sorted(self._registry.models)

    def resolve(self, requested: list[str] | None) -> dict[str, list[str]]:
        """Bundle name -> requested model names in it (all served models when none requested)."""
        names = list(dict.fromkeys(requested)) if requested else self.model_names
        unknown = [name for name in names if name not in self._registry.models]
        if unknown:
            raise UnknownModelError(unknown, self.model_names)
        by_bundle: dict[str, list[str]] = {}
        for name in names:
            by_bundle.setdefault(self._registry.models[name].name, []).append(name)
        return by_bundle

    async def tag(self, texts: list[str], models: list[str] | None) -> Tagged:
        """Entities of the requested models (all served models when None) per document.

        Raises UnknownModelError; QueueFullError when a bundle's queue cannot take the windows
        now; TooManySequencesError when it never could.
        """
        plan = self.resolve(models)
        bundles = [self._registry.bundles[name] for name in plan]
        encoded_by_tokenizer: dict[str, list[EncodedDocument]] = {}
        for bundle in bundles:
            if bundle.tokenizer_key not in encoded_by_tokenizer:
                encoded_by_tokenizer[bundle.tokenizer_key] = await asyncio.to_thread(
                    bundle.tokenizer.encode, texts
                )
        tasks = [
            asyncio.ensure_future(
                self._run_bundle(
                    bundle, plan[bundle.name], texts, encoded_by_tokenizer[bundle.tokenizer_key]
                )
            )
            for bundle in bundles
        ]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:  # e.g. one bundle's queue is full: withdraw the others' windows
                task.cancel()
            raise
        merged: list[list[Entity]] = [[] for _ in texts]
        for per_document in results:
            for index, entities in enumerate(per_document):
                merged[index].extend(entities)
        for entities in merged:
            entities.sort(key=lambda e: (e.start, e.end, e.model))
        return Tagged([name for names in plan.values() for name in names], merged)

    async def _run_bundle(
        self,
        bundle: LoadedBundle,
        model_names: list[str],
        texts: list[str],
        encoded: list[EncodedDocument],
    ) -> list[list[Entity]]:
        # in a thread: grouping the sentences of 64 documents of 200,000 characters and
        # building their windows takes ~0.15 s
        plans, sequences = await asyncio.to_thread(_plan_windows, bundle, encoded)
        window_logits = await self._runners[bundle.name].run(sequences) if sequences else []
        return await asyncio.to_thread(
            _decode_all, bundle, model_names, texts, plans, window_logits
        )


def _plan_windows(
    bundle: LoadedBundle, encoded: list[EncodedDocument]
) -> tuple[list[_DocumentPlan], list[np.ndarray]]:
    """Each document's windows of whole sentences, and the token ids of every window in order."""
    plans = [
        _DocumentPlan(
            doc,
            plan_sentence_windows(
                len(doc.ids),
                doc.sentence_starts,
                bundle.window_capacity,
                bundle.window_target,
                bundle.window_stride,
            ),
        )
        for doc in encoded
    ]
    sequences = [
        bundle.tokenizer.window_ids(plan.encoded, window)
        for plan in plans
        if len(plan.encoded.ids)
        for window in plan.windows
    ]
    return plans, sequences


def _document_logits(
    plan: _DocumentPlan, window_logits: list[np.ndarray], prefix: int
) -> np.ndarray:
    """Per-token logits of a whole document, each token from the window that owns it."""
    parts = []
    for window, logits in zip(plan.windows, window_logits, strict=True):
        content = logits[prefix : prefix + (window.end - window.start)]
        parts.append(content[window.keep_start - window.start : window.keep_end - window.start])
    return np.concatenate(parts).astype(np.float32, copy=False)


def _decode_all(
    bundle: LoadedBundle,
    model_names: list[str],
    texts: list[str],
    plans: list[_DocumentPlan],
    window_logits: list[np.ndarray],
) -> list[list[Entity]]:
    prefix = len(bundle.tokenizer.prefix_ids)
    results: list[list[Entity]] = []
    cursor = 0
    for text, plan in zip(texts, plans, strict=True):
        if len(plan.encoded.ids) == 0:
            results.append([])
            continue
        count = len(plan.windows)
        logits = _document_logits(plan, window_logits[cursor : cursor + count], prefix)
        cursor += count
        entities = []
        words = index_words(text, plan.encoded.offsets)
        for name in model_names:
            served = bundle.heads[name]
            probabilities = softmax(logits[:, served.head.logit_slice])
            for span in decode_words(text, words, probabilities, served.table, bundle.decoding):
                entities.append(
                    Entity(
                        start=span.start,
                        end=span.end,
                        text=text[span.start : span.end],
                        type=span.entity_type,
                        score=round(span.score, SCORE_DECIMALS),
                        model=name,
                    )
                )
        results.append(entities)
    return results
