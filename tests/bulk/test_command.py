"""`biotag tag` as a user runs it, on the real MEDLINE samples and the committed default
bundle: every record tagged, a killed run resumed to the same bytes, the same entities as
POST /tag and through `--url`, PubTator output that the `bioc` library reads back."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from bioc import pubtator

from biotag.bulk.readers import InputFormat, open_records
from biotag.bulk.records import Document
from tests.bulk.conftest import MEDLINE_2016, PUBMED_CURRENT, REPO_MODELS
from tests.conftest import RunningServer, ready_server
from tests.support.cli import error_lines, run_biotag

pytestmark = pytest.mark.slow
SAMPLES = [str(MEDLINE_2016), str(PUBMED_CURRENT)]
PARTS = ["medline16n0902.jsonl", "pubmed-current-sample.jsonl"]


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _documents(path: Path) -> list[Document]:
    with open_records(path, InputFormat.PUBMED) as opened:
        return [r for r in opened.records if isinstance(r, Document)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, pubmed_samples: object) -> Path:
    """One uninterrupted run over both samples."""
    out = tmp_path_factory.mktemp("reference")
    result = run_biotag("tag", *SAMPLES, "--output", str(out), "--models-dir", str(REPO_MODELS))
    assert result.returncode == 0, result.stderr
    assert "tagged 608 documents" in result.stderr
    assert "deleted citations 1" in result.stderr
    return out


def test_every_record_of_both_samples_is_tagged(reference: Path) -> None:
    medline = _lines(reference / PARTS[0])
    assert len(medline) == 605
    assert medline[-1] == {"id": "26432306", "source": str(MEDLINE_2016), "deleted": True}
    assert [line["id"] for line in medline[:-1]] == [d.id for d in _documents(MEDLINE_2016)]
    assert sum(bool(line["entities"]) for line in medline[:-1]) > 500
    assert len(_lines(reference / PARTS[1])) == 4
    assert sorted(p.name for p in reference.iterdir()) == ["biotag-manifest.json", *PARTS]


def test_a_killed_run_resumes_to_the_same_bytes(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "biotag.cli", "tag", str(PUBMED_CURRENT), str(MEDLINE_2016)]
    command += ["--output", str(out), "--models-dir", str(REPO_MODELS)]
    partial = out / f"{PARTS[0]}.tmp"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            manifest = out / "biotag-manifest.json"
            if manifest.is_file() and partial.is_file() and partial.stat().st_size > 0:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)  # no clean-up of any kind
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert not (out / PARTS[0]).exists()  # the half part never looks finished
    assert (out / PARTS[1]).exists()
    again = run_biotag("tag", str(PUBMED_CURRENT), str(MEDLINE_2016), "--output", str(out),
                       "--models-dir", str(REPO_MODELS), "--resume")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "tagged 604 documents" in again.stderr
    assert "kept from before (--resume): 4 documents" in again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["biotag-manifest.json", *PARTS]
    for part in PARTS:
        assert (out / part).read_bytes() == (reference / part).read_bytes()
    refused = run_biotag("tag", *SAMPLES, "--output", str(out), "--models-dir", str(REPO_MODELS))
    assert "--resume" in error_lines(refused)[0]


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("bulk-server") / "server.log"
    with ready_server(REPO_MODELS, log) as running:
        yield running


def test_entities_are_what_post_tag_returns_and_url_agrees(
    reference: Path, default_server: RunningServer, tmp_path: Path
) -> None:
    count = 48
    documents = _documents(MEDLINE_2016)[:count]
    expected = _lines(reference / PARTS[0])[:count]
    with default_server.client() as client:
        for start in range(0, count, 16):
            batch = documents[start : start + 16]
            body = {"documents": [{"id": d.id, "text": d.text} for d in batch]}
            answer = client.post("/tag", json=body)
            assert answer.status_code == 200, answer.text
            for got, line in zip(answer.json()["documents"], expected[start:], strict=False):
                assert (got["id"], got["entities"]) == (line["id"], line["entities"])
    out = tmp_path / "http"
    limit = ["--limit", str(count), "--concurrency", "2"]
    result = run_biotag(
        "tag", str(MEDLINE_2016), "--output", str(out), "--url", default_server.url, *limit
    )
    assert result.returncode == 0, result.stderr
    assert _lines(out / PARTS[0]) == expected


def test_pubtator_output_read_back_by_the_bioc_library(reference: Path, tmp_path: Path) -> None:
    count = 40
    out = tmp_path / "pubtator"
    result = run_biotag("tag", *SAMPLES, "--output", str(out), "--models-dir", str(REPO_MODELS),
                        "--format", "pubtator", "--limit", str(count))  # fmt: skip
    assert result.returncode == 0, result.stderr
    for source, part in zip((MEDLINE_2016, PUBMED_CURRENT), PARTS, strict=True):
        name = part.replace(".jsonl", ".pubtator")
        read = pubtator.loads((out / name).read_text(encoding="utf-8"))
        documents = _documents(source)[:count]
        expected = [line for line in _lines(reference / part) if "entities" in line][:count]
        assert [d.pmid for d in read] == [d.id for d in documents]
        for got, document, line in zip(read, documents, expected, strict=True):
            flat = got.title if got.abstract is None else f"{got.title} {got.abstract}"
            assert flat == document.text
            assert [(a.start, a.end, a.text, a.type) for a in got.annotations] == [
                (e["start"], e["end"], e["text"], e["type"])
                for e in line["entities"]  # type: ignore[attr-defined]
            ]


def test_bad_input_exits_2(tmp_path: Path) -> None:
    missing = run_biotag("tag", str(tmp_path / "none-*.xml"), "--output", str(tmp_path / "o"))
    assert "no such file" in error_lines(missing)[0]
    unknown = run_biotag("tag", str(PUBMED_CURRENT), "--output", str(tmp_path / "o"),
                         "--models-dir", str(REPO_MODELS), "--models", "nope")  # fmt: skip
    assert "unknown model" in error_lines(unknown)[0]
    unreachable = run_biotag("tag", str(PUBMED_CURRENT), "--output", str(tmp_path / "o"),
                             "--url", "http://127.0.0.1:9")  # fmt: skip
    assert "cannot reach" in error_lines(unreachable)[0]
    both = run_biotag("tag", str(PUBMED_CURRENT), "--output", str(tmp_path / "o"),
                      "--url", "http://127.0.0.1:9", "--ray", "local")  # fmt: skip
    assert "not both" in error_lines(both)[0]
    if importlib.util.find_spec("ray") is None:
        no_ray = run_biotag("tag", str(PUBMED_CURRENT), "--output", str(tmp_path / "o"),
                            "--ray", "local")  # fmt: skip
        assert "biotag[ray]" in error_lines(no_ray)[0]


def test_worker_processes_write_the_same_parts(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "workers"
    result = run_biotag("tag", *SAMPLES, "--output", str(out), "--models-dir", str(REPO_MODELS),
                        "--workers", "2", "--limit", "100")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "tagged 104 documents" in result.stderr
    medline = (reference / PARTS[0]).read_bytes().splitlines(keepends=True)
    assert (out / PARTS[0]).read_bytes() == b"".join(medline[:100])
    assert (out / PARTS[1]).read_bytes() == (reference / PARTS[1]).read_bytes()
    manifest = orjson.loads((out / "biotag-manifest.json").read_bytes())
    assert sorted(manifest["parts"]) == ["medline16n0902", "pubmed-current-sample"]


def test_url_waits_out_503_and_retry_after(reference: Path, tmp_path: Path) -> None:
    """A service whose queue holds one chunk's windows (263 and 216 for the first two) but not
    two: the second chunk is refused with 503 and Retry-After, then tagged once there is room."""
    log = tmp_path / "server.log"
    with ready_server(REPO_MODELS, log, BIOTAG_MAX_QUEUE_WINDOWS="300") as server:
        out = tmp_path / "retried"
        flags = ["--url", server.url, "--limit", "128", "--concurrency", "2"]
        result = run_biotag("tag", str(MEDLINE_2016), "--output", str(out), *flags)
        assert result.returncode == 0, result.stderr
        with server.client() as client:
            metrics = client.get("/metrics").text
    queue_full = 'biotag_rejections_total{reason="queue_full"}'
    refused = [
        line for line in metrics.splitlines()
        if line.startswith(queue_full) and not line.endswith(" 0.0")
    ]  # fmt: skip
    assert refused, "no request was refused: the retry path did not run"
    medline = (reference / PARTS[0]).read_bytes().splitlines(keepends=True)
    assert (out / PARTS[0]).read_bytes() == b"".join(medline[:128])
