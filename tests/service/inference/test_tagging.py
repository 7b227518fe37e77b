"""Tagging through the runtime: windows of whole sentences see exactly their sentences."""

from __future__ import annotations

from pathlib import Path

import pytest

from biotag.service.config import Settings
from biotag.service.inference.runtime import running
from biotag.service.text.entities import Entity

pytestmark = pytest.mark.slow
SENTENCES = [
    "Patients with cystic fibrosis were enrolled in mice studies.",
    "The risk of Huntington disease increased among children.",
    "Treatment of leukemia with cisplatin reduced symptoms of hepatitis.",
    "No association between p53 and breast cancer was found (p = 0.03).",
]


def _spans(entities: list[Entity], shift: int = 0) -> list[tuple[int, int, str, str]]:
    return [(e.start + shift, e.end + shift, e.text, e.type) for e in entities]


@pytest.mark.parametrize("model", ["tiny-disease", "tiny-bert"])
async def test_a_window_per_sentence_tags_each_sentence_as_if_alone(
    tiny_bundles_dir: Path, model: str
) -> None:
    """A target shorter than any sentence makes each sentence its own window: the document's
    entities are then exactly those of its sentences tagged one by one, at their offsets."""
    document = " ".join(SENTENCES)
    settings = Settings(models_dir=tiny_bundles_dir, intra_op_threads=1, window_target_tokens=8)
    async with running(settings) as runtime:
        (in_document, *alone) = (
            await runtime.tagger.tag([document, *SENTENCES], [model])
        ).documents
    expected = []
    shift = 0
    for sentence, entities in zip(SENTENCES, alone, strict=True):
        expected += _spans(entities, shift)
        shift += len(sentence) + 1
    assert len(expected) >= 4
    assert _spans(in_document) == expected
    for entity in in_document:
        assert document[entity.start : entity.end] == entity.text


async def test_short_and_whole_model_windows_find_the_same_diseases(tiny_bundles_dir: Path) -> None:
    document = " ".join(SENTENCES * 6)  # ~300 tokens: several windows at the default target
    found = []
    for target in (0, 128):
        settings = Settings(
            models_dir=tiny_bundles_dir, intra_op_threads=1, window_target_tokens=target
        )
        async with running(settings) as runtime:
            (entities,) = (await runtime.tagger.tag([document], ["tiny-bert"])).documents
        found.append({(e.start, e.end, e.type) for e in entities})
    assert len(found[0]) >= 24
    assert found[0] == found[1]
