"""The runner in process, over HTTP and through `biotag eval`, on the tiny disease models."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from biotag.evaluation.datasets import DEFAULT_TYPE_MAP, GoldDocument, load_dataset
from biotag.evaluation.runner import (
    CHUNK_DOCUMENTS,
    CONCURRENT_CHUNKS,
    EvaluationError,
    evaluate,
    in_process,
    over_http,
    tag_all,
)
from biotag.evaluation.scoring import Counts, Span
from tests.support.cli import error_lines, run_biotag
from tests.support.tiny_corpus import LABELS, render, training_sentences


def _write_iob(path: Path, count: int, seed: int) -> Path:
    """Sentences like the tiny models' training data, with a Chemical the models never tag."""
    lines = []
    for words, tags in training_sentences(count, seed=seed):
        for word, tag in zip(words, tags, strict=True):
            label = "B-Chemical" if word == "cisplatin" else LABELS[tag]
            lines.append(f"{word}\t{label}\n")
        lines.append("\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _write_pubtator(path: Path, count: int, seed: int) -> Path:
    """Two natural sentences per abstract (title, abstract), with NCBI-style subtypes."""
    sentences = training_sentences(count * 2, seed=seed)
    blocks = []
    for number in range(count):
        pmid = str(1000 + number)
        texts, mentions = [], []
        offset = 0
        for words, tags in sentences[2 * number : 2 * number + 2]:
            text, spans = render(words)
            for index, tag in enumerate(tags):
                if tag == 1:
                    last = index
                    while last + 1 < len(tags) and tags[last + 1] == 2:
                        last += 1
                    start, end = offset + spans[index][0], offset + spans[last][1]
                    mentions.append((start, end))
            texts.append(text)
            offset += len(text) + 1
        full = f"{texts[0]} {texts[1]}"
        lines = [f"{pmid}|t|{texts[0]}", f"{pmid}|a|{texts[1]}"]
        lines += [f"{pmid}\t{s}\t{e}\t{full[s:e]}\tSpecificDisease\tD0" for s, e in mentions]
        blocks.append("\n".join(lines) + "\n")
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


async def test_tag_all_keeps_order_and_bounds_chunks() -> None:
    in_flight = 0
    most = 0
    sizes = []

    async def fake(texts: list[str]) -> list[list[Span]]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        sizes.append(len(texts))
        await asyncio.sleep(0.001)
        in_flight -= 1
        return [[Span(0, len(text), "Disease")] for text in texts]

    texts = ["x" * (i % 7 + 1) for i in range(1000)]
    result = await tag_all(texts, fake)
    assert result == [[Span(0, len(text), "Disease")] for text in texts]
    assert max(sizes) == CHUNK_DOCUMENTS
    assert most <= CONCURRENT_CHUNKS


async def test_evaluate_scores_only_the_models_types() -> None:
    documents = [
        GoldDocument("a", "cystic fibrosis and cisplatin", (Span(0, 15, "SpecificDisease"),)),
        GoldDocument("b", "cisplatin", (Span(0, 9, "Chemical"),)),
    ]

    async def fake(texts: list[str]) -> list[list[Span]]:
        return [[Span(0, 15, "Disease")] if "fibrosis" in t else [] for t in texts]

    result = await evaluate(documents, ["m"], {"m": ["Disease"]}, DEFAULT_TYPE_MAP, fake)
    assert result.score.per_type == {"Disease": Counts(gold=1, predicted=1, correct=1)}
    assert result.ignored_gold == {"Chemical": 1}
    assert result.documents == 2
    assert json.loads(json.dumps(result.as_dict()))["micro"]["f1"] == 1.0


@pytest.mark.slow
async def test_in_process_tiny_bert_finds_the_diseases(tiny_bundles_dir: Path, tmp_path) -> None:
    iob = load_dataset(_write_iob(tmp_path / "d.tsv", 120, seed=5))
    pubtator = load_dataset(_write_pubtator(tmp_path / "d.pubtator", 40, seed=6))
    async with in_process(["tiny-bert"], tiny_bundles_dir, 1) as (types, tag_chunk):
        assert types == {"tiny-bert": ["Disease"]}
        on_iob = await evaluate(iob, ["tiny-bert"], types, DEFAULT_TYPE_MAP, tag_chunk)
        on_pubtator = await evaluate(pubtator, ["tiny-bert"], types, DEFAULT_TYPE_MAP, tag_chunk)
    assert on_iob.score.micro.f1 > 0.5, on_iob.as_dict()
    assert on_iob.ignored_gold.get("Chemical", 0) > 0
    assert on_pubtator.score.micro.f1 > 0.5, on_pubtator.as_dict()
    assert on_pubtator.score.micro.gold == sum(len(d.spans) for d in pubtator)


@pytest.mark.slow
async def test_unknown_model_in_process(tiny_bundles_dir: Path) -> None:
    with pytest.raises(EvaluationError, match=r"unknown model\(s\) \['nope'\]"):
        async with in_process(["nope"], tiny_bundles_dir, 1):
            pass


@pytest.mark.slow
async def test_over_http_gives_the_in_process_figures(server, tiny_bundles_dir, tmp_path) -> None:
    documents = load_dataset(_write_iob(tmp_path / "d.tsv", 150, seed=8))
    models = ["tiny-disease", "tiny-bert"]
    async with over_http(models, server.url) as (types, tag_chunk):
        remote = await evaluate(documents, models, types, DEFAULT_TYPE_MAP, tag_chunk)
    async with in_process(models, tiny_bundles_dir, 1) as (types, tag_chunk):
        local = await evaluate(documents, models, types, DEFAULT_TYPE_MAP, tag_chunk)
    assert remote.score == local.score
    with pytest.raises(EvaluationError, match="unknown model"):
        async with over_http(["nope"], server.url):
            pass


def _eval(*args: str) -> subprocess.CompletedProcess[str]:
    return run_biotag("eval", *args, timeout=300)


def _assert_one_line_error(result: subprocess.CompletedProcess[str], match: str) -> None:
    """One ``error:`` line saying what is wrong; anything else on stderr is a log record."""
    errors = error_lines(result)
    assert len(errors) == 1
    assert match in errors[0]
    others = [line for line in result.stderr.splitlines() if line not in errors]
    assert all(line.startswith(("WARNING: [", "INFO: [")) for line in others), others


@pytest.mark.slow
def test_cli_json(tiny_bundles_dir: Path, tmp_path: Path) -> None:
    dataset = _write_iob(tmp_path / "d.tsv", 50, seed=9)
    models_dir = str(tiny_bundles_dir)
    result = _eval(str(dataset), "--models", "tiny-bert", "--models-dir", models_dir, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["models"] == ["tiny-bert"]
    assert report["documents"] == 50
    assert set(report["types"]) == {"Disease"}
    assert report["micro"]["f1"] > 0.5
    assert report["ignored_gold_types"].keys() <= {"Chemical"}

    # ten sentences to a text, as abstracts reach the service: same gold, a tenth the documents
    grouped = _eval(
        str(dataset), "--models", "tiny-bert", "--models-dir", models_dir, "--json", "--group", "10"
    )
    assert grouped.returncode == 0, grouped.stderr
    in_tens = json.loads(grouped.stdout)
    assert in_tens["documents"] == 5
    assert in_tens["micro"]["gold"] == report["micro"]["gold"]
    assert in_tens["micro"]["f1"] > 0.5

    table = _eval(str(dataset), "--models", "tiny-bert", "--models-dir", models_dir, "--limit", "5")
    assert table.returncode == 0, table.stderr
    assert "micro" in table.stdout
    assert "5 documents" in table.stdout

    unknown = _eval(str(dataset), "--models", "nope", "--models-dir", models_dir)
    _assert_one_line_error(unknown, "unknown model")


def test_cli_bad_input(tmp_path: Path) -> None:
    dataset = _write_iob(tmp_path / "d.tsv", 3, seed=1)
    _assert_one_line_error(_eval(str(tmp_path / "none.tsv"), "--models", "m"), "no such file")
    _assert_one_line_error(
        _eval(str(dataset), "--models", "m", "--format", "xml"), "unknown format"
    )
    _assert_one_line_error(_eval(str(tmp_path / "d.xml"), "--models", "m"), "--format")
    _assert_one_line_error(
        _eval(str(dataset), "--models", "m", "--type-map", "Disease"), "CORPUS_TYPE=MODEL_TYPE"
    )
