"""Runs in process on the committed default bundle: failures go to the errors file and the run
goes on; a rerun keeps exactly the finished parts."""

from __future__ import annotations

import gzip
import io
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from biotag.bulk.engines import Engine, in_process
from biotag.bulk.inputs import expand
from biotag.bulk.manifest import ManifestError
from biotag.bulk.pipeline import Options, Outcome, run
from biotag.bulk.progress import Progress
from biotag.bulk.writer import PartFormat
from tests.bulk.conftest import REPO_MODELS

TEXTS = [
    "Cisplatin-induced nephrotoxicity was reduced in mice lacking the p53 gene.",
    "Aspirin may trigger asthma in children.",
    "BRCA1 mutations raise the risk of breast cancer in women.",
]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with in_process(None, REPO_MODELS, intra_op_threads=1) as opened:
        yield opened


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


def _inputs(tmp_path: Path) -> list[Path]:
    good = _jsonl(
        tmp_path / "good.jsonl", [{"id": f"g{i}", "text": t} for i, t in enumerate(TEXTS)]
    )
    mixed = _jsonl(
        tmp_path / "mixed.jsonl",
        [{"id": "ok", "title": TEXTS[0], "abstract": TEXTS[1]}, {"id": "empty", "text": " "}],
    )
    with (tmp_path / "mixed.jsonl").open("ab") as handle:
        handle.write(b"not json\n")
    return [good, mixed]


async def _run(engine: Engine, paths: list[Path], out: Path, **options: object) -> Outcome:
    files = expand([str(p) for p in paths])
    progress = Progress(len(files), sum(f.size for f in files), quiet=True, stream=io.StringIO())
    return await run(engine, files, Options(output_dir=out, **options), progress)  # type: ignore[arg-type]


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_failed_and_skipped_records_and_the_exit_status(
    engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    outcome = await _run(engine, _inputs(tmp_path), out)
    assert not outcome.ok
    assert (outcome.counts.documents, outcome.counts.skipped, outcome.counts.failed) == (4, 1, 1)
    good = _lines(out / "good.jsonl")
    assert [line["id"] for line in good] == ["g0", "g1", "g2"]
    cisplatin = good[0]["entities"][0]  # type: ignore[index]
    assert (cisplatin["text"], cisplatin["type"]) == ("Cisplatin", "Chemical")  # type: ignore[index]
    assert not (out / "good.errors.jsonl").exists()
    errors = _lines(out / "mixed.errors.jsonl")
    assert [(e["id"], e["kind"]) for e in errors] == [("empty", "skipped"), ("line 3", "failed")]
    assert [line["id"] for line in _lines(out / "mixed.jsonl")] == ["ok"]
    assert sorted(p.name for p in out.iterdir()) == [
        "biotag-manifest.json", "good.jsonl", "mixed.errors.jsonl", "mixed.jsonl"
    ]  # fmt: skip


async def test_a_file_that_cannot_be_read_fails_alone(engine: Engine, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(b'{"id": "a", "text": "x"}\n' * 50)[:-30])
    good = _jsonl(tmp_path / "good.jsonl", [{"id": "g", "text": TEXTS[0]}])
    out = tmp_path / "out"
    outcome = await _run(engine, [broken, good], out)
    assert list(outcome.failed_files) == [str(broken)]
    assert not outcome.ok
    assert sorted(p.name for p in out.iterdir()) == ["biotag-manifest.json", "good.jsonl"]


async def test_resume_keeps_finished_parts_and_redoes_changed_inputs(
    engine: Engine, tmp_path: Path
) -> None:
    first, second = _inputs(tmp_path)
    out = tmp_path / "out"
    await _run(engine, [first, second], out)
    before = (out / "good.jsonl").read_bytes()
    (out / "stale.jsonl.tmp").write_text("half a part")  # what a killed run leaves
    with pytest.raises(ManifestError, match="--resume"):
        await _run(engine, [first, second], out)
    resumed = await _run(engine, [first, second], out, resume=True)
    assert resumed.counts.documents == 0
    assert resumed.resumed.documents == 4
    assert not resumed.ok  # the kept part's failure still counts
    assert not (out / "stale.jsonl.tmp").exists()
    _jsonl(second, [{"id": "new", "text": TEXTS[2]}])
    again = await _run(engine, [first, second], out, resume=True)
    assert (again.counts.documents, again.resumed.documents) == (1, 3)
    assert again.ok
    assert (out / "good.jsonl").read_bytes() == before
    assert not (out / "mixed.errors.jsonl").exists()
    with pytest.raises(ManifestError, match="output: 'jsonl' -> 'pubtator'"):
        await _run(engine, [first, second], out, resume=True, output=PartFormat.PUBTATOR)


async def test_ids_pubtator_cannot_carry_fail_alone(engine: Engine, tmp_path: Path) -> None:
    source = _jsonl(
        tmp_path / "ids.jsonl", [{"id": "a|b", "text": TEXTS[0]}, {"id": "c", "text": TEXTS[1]}]
    )
    out = tmp_path / "out"
    outcome = await _run(engine, [source], out, output=PartFormat.PUBTATOR)
    assert (outcome.counts.documents, outcome.counts.failed) == (1, 1)
    assert (out / "ids.pubtator").read_text().startswith("c|t|Aspirin")
    assert _lines(out / "ids.errors.jsonl")[0]["id"] == "a|b"
