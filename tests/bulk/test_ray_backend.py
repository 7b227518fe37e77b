"""The Ray path on a real local cluster (one for the session, ``ray.init(num_cpus=2)``): the same
parts, byte for byte, as the in-process run. Needs the ray extra, which `make test` installs:
without it these tests fail, as a missing tool should."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from biotag.bulk.engines import in_process
from biotag.bulk.inputs import expand
from biotag.bulk.pipeline import Options, run
from biotag.bulk.progress import Progress
from biotag.bulk.ray_backend import END, FAILED_FILE, file_rows
from biotag.bulk.writer import PartFormat
from tests.bulk.conftest import MEDLINE_2016, PUBMED_CURRENT, REPO_MODELS
from tests.bulk.readers.test_pubmed import CURRENT


def test_file_rows_end_each_file_or_say_why_it_failed(tmp_path: Path) -> None:
    rows = list(file_rows({"file": 3, "path": str(PUBMED_CURRENT), "format": "pubmed"}, True, 2))
    assert [r["kind"] for r in rows] == ["document", "document", END]
    assert {r["file"] for r in rows} == {3}
    broken = tmp_path / "broken.xml.gz"
    broken.write_bytes(gzip.compress(b"<PubmedArticleSet><PubmedArticle>")[:-8])
    failed = list(file_rows({"file": 0, "path": str(broken), "format": "pubmed"}, True, None))
    assert [r["kind"] for r in failed] == [FAILED_FILE]
    assert failed[0]["reason"]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _progress() -> Progress:
    return Progress(4, 1, quiet=True, stream=io.StringIO())


@pytest.mark.slow
# Ray Data 2.60's own DataContext() sets its deprecated fields (use_push_based_shuffle,
# use_polars...) while constructing itself: the warnings say nothing about biotag's calls
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
@pytest.mark.parametrize("output", [PartFormat.JSONL, PartFormat.PUBTATOR])
async def test_the_ray_path_writes_the_in_process_bytes(
    ray_cluster: None, tmp_path: Path, output: PartFormat
) -> None:
    from biotag.bulk.ray_backend import run_on_ray

    update = tmp_path / "update.xml"  # markup, versions, a book, no text, no PMID, deletions
    update.write_text(CURRENT, encoding="utf-8")
    ids = tmp_path / "ids.jsonl"  # "a|b" cannot head PubTator lines: fails there alone
    ids.write_text('{"id": "a|b", "text": "Aspirin."}\n{"id": "c", "text": "Asthma."}\n')
    files = expand([str(MEDLINE_2016), str(PUBMED_CURRENT), str(update), str(ids)])
    local = Options(output_dir=tmp_path / "local", output=output, limit=60)
    async with in_process(None, REPO_MODELS, intra_op_threads=1) as engine:
        expected = await run(engine, files, local, _progress())
    remote = Options(output_dir=tmp_path / "ray", output=output, limit=60)
    outcome = run_on_ray(None, files, remote, _progress(), None, REPO_MODELS)
    assert outcome.counts == expected.counts
    failed = 2 if output is PartFormat.PUBTATOR else 1
    assert (expected.counts.deleted, expected.counts.skipped, expected.counts.failed) == (
        2,
        1,
        failed,
    )
    names = sorted(p.name for p in local.output_dir.iterdir() if p.name != "biotag-manifest.json")
    assert names == sorted(
        p.name for p in remote.output_dir.iterdir() if p.name != "biotag-manifest.json"
    )
    for name in names:
        assert (remote.output_dir / name).read_bytes() == (local.output_dir / name).read_bytes()
    resumed = Options(output_dir=remote.output_dir, output=output, limit=60, resume=True)
    again = run_on_ray(None, files, resumed, _progress(), None, REPO_MODELS)
    assert (again.counts.documents, again.resumed.documents) == (0, expected.counts.documents)
