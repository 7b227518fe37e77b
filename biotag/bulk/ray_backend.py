"""`biotag tag --ray [ADDRESS]`: the same run on a Ray cluster (optional extra ``biotag[ray]``).

Ray Data reads the inputs as a dataset (one row per input file, ``flat_map`` streams each file
into rows with the readers of `biotag.bulk.readers`), ``map_batches`` tags the rows with an
actor class that starts the service's runtime once per actor (tokenizer, ONNX Runtime session,
batcher) and runs the same per-document function as in process (a failed chunk is retried
document by document), one actor per GPU with ``num_gpus=1``, CPU actors elsewhere. Order is
preserved, so the driver writes each file's part, errors file and manifest entry exactly as
the in-process run does, and ``--resume`` works the same. Input files must be readable by
every node (a shared file system); outputs are written by the driver.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from biotag.bulk.engines import describe_models, in_process
from biotag.bulk.inputs import InputFile
from biotag.bulk.pipeline import (
    Options,
    Outcome,
    Run,
    _Part,
    _tag_documents,
    _write_chunk,
    run_identity,
)
from biotag.bulk.progress import Progress
from biotag.bulk.readers import InputFormat, open_records
from biotag.bulk.records import Deletion, Document, Invalid, ReaderError, Record, Skipped
from biotag.bulk.writer import document_problem
from biotag.service.text.entities import Entity

END = "end"  # the row after a file's last record
FAILED_FILE = "failed-file"  # the file could not be read on (its reason in "reason")


def file_rows(
    row: dict[str, Any], section_labels: bool, limit: int | None
) -> Iterator[dict[str, Any]]:
    """One input file (``row``: index, path, format) -> a row per record, then an END row."""
    base = {"file": int(row["file"])}
    documents = 0

    def out(
        kind: str,
        identifier: str = "",
        text: str = "",
        title_end: int = -1,
        fields: bytes = b"{}",
        reason: str = "",
    ) -> dict[str, Any]:
        return {
            **base,
            "kind": kind,
            "id": identifier,
            "text": text,
            "title_end": title_end,
            "fields": fields,
            "reason": reason,
        }

    try:
        with open_records(Path(row["path"]), InputFormat(row["format"]), section_labels) as opened:
            for record in opened.records:
                if isinstance(record, Document):
                    if limit is not None and documents >= limit:
                        break
                    documents += 1
                    title_end = -1 if record.title_end is None else record.title_end
                    yield out(
                        "document", record.id, record.text, title_end, orjson.dumps(record.fields)
                    )
                elif isinstance(record, Deletion):
                    yield out("deleted", record.id)
                elif isinstance(record, Skipped):
                    yield out("skipped", record.id, reason=record.reason)
                else:
                    yield out("invalid", record.id, reason=record.reason)
    except ReaderError as exc:
        yield out(FAILED_FILE, reason=str(exc))
        return
    yield out(END)


class TaggingActor:
    """A Ray actor: the service's runtime, started once, tags the rows of each batch."""

    def __init__(self, models: list[str], models_dir: str | None, threads: int | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.context = in_process(models, Path(models_dir) if models_dir else None, threads)
        self.engine = self.loop.run_until_complete(self.context.__aenter__())

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        kinds = batch["kind"]
        indices = [i for i, kind in enumerate(kinds) if kind == "document"]
        documents = [Document(str(batch["id"][i]), str(batch["text"][i])) for i in indices]
        results = self.loop.run_until_complete(_tag_documents(self.engine, documents))
        entities = [b""] * len(kinds)
        errors = [""] * len(kinds)
        for index, result in zip(indices, results, strict=True):
            if isinstance(result, str):
                errors[index] = result
            else:
                entities[index] = orjson.dumps(result)
        return {
            **batch,
            "entities": np.array(entities, dtype=object),
            "error": np.array(errors, dtype=object),
        }

    def __del__(self) -> None:
        try:
            self.loop.run_until_complete(self.context.__aexit__(None, None, None))
            self.loop.close()
        except Exception:  # an actor torn down with its process
            pass


def _record(row: dict[str, Any]) -> tuple[Record, list[Entity] | str | None]:
    kind, identifier = str(row["kind"]), str(row["id"])
    if kind == "deleted":
        return Deletion(identifier), None
    if kind == "skipped":
        return Skipped(identifier, str(row["reason"])), None
    if kind == "invalid":
        return Invalid(identifier, str(row["reason"])), None
    title_end = int(row["title_end"])
    document = Document(
        identifier,
        str(row["text"]),
        None if title_end < 0 else title_end,
        orjson.loads(row["fields"]),
    )
    if row["error"]:
        return document, str(row["error"])
    return document, [Entity(**entity) for entity in orjson.loads(row["entities"])]


def _cluster(address: str | None) -> dict[str, float]:
    import ray

    if not ray.is_initialized():
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    # ray ships cluster_resources without annotations
    return dict(ray.cluster_resources())  # type: ignore[no-untyped-call]


def run_on_ray(
    address: str | None,
    inputs: list[InputFile],
    options: Options,
    progress: Progress,
    models: list[str] | None,
    models_dir: Path | None,
    actors: int | None = None,
) -> Outcome:
    import ray.data

    resources = _cluster(address)
    began = time.monotonic()  # after the cluster is up; actors starting up are counted
    gpus = resources.get("GPU", 0.0)
    names, identity = describe_models(models, models_dir, "cuda" if gpus else "cpu")
    state = Run(names, run_identity(identity, options), options, progress)
    pending = state.to_do(inputs)
    if not pending:
        state.outcome.wall_s = time.monotonic() - began
        return state.outcome
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # parts in reading order, as in process
    num_gpus: int | None = None
    num_cpus: int | None = None
    if gpus:
        size, num_gpus = actors or int(gpus), 1
        threads = None
    else:
        cpus = max(1, int(resources.get("CPU", 1)))
        size = actors or max(1, cpus // 2)
        threads = max(1, cpus // size - 1) if cpus > size else 1
        num_cpus = threads
    dataset = ray.data.from_items(
        [
            {"file": i, "path": str(f.path.resolve()), "format": f.format.value}
            for i, f in enumerate(pending)
        ]
    ).flat_map(partial(file_rows, section_labels=options.section_labels, limit=options.limit))
    tagged = dataset.map_batches(
        TaggingActor,
        fn_constructor_kwargs={
            "models": names,
            "models_dir": str(models_dir) if models_dir else None,
            "threads": threads,
        },
        batch_size=options.chunk_documents,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=size),
        num_gpus=num_gpus,
        num_cpus=num_cpus,
    )
    parts: dict[int, _Part] = {}
    waiting: list[tuple[Record, list[Entity] | str | None]] = []

    def flush(part: _Part) -> None:
        records = [record for record, _ in waiting]
        # as `_write_chunk` reads them: a result per document the output format can carry
        results = [
            result
            for record, result in waiting
            if isinstance(record, Document)
            and result is not None
            and document_problem(options.output, record) is None
        ]
        characters = _write_chunk(part, records, results)
        progress.advance(sum(isinstance(r, Document) for r in records), characters, 0)
        waiting.clear()

    try:
        for row in tagged.iter_rows():
            index = int(row["file"])
            source = pending[index]
            part = parts.get(index) or parts.setdefault(index, state.start(source))
            kind = str(row["kind"])
            if kind in (END, FAILED_FILE):
                if kind == END:
                    flush(part)
                    state.finish(source, parts.pop(index))
                else:
                    waiting.clear()
                    state.fail(source, parts.pop(index), str(row["reason"]))
                continue
            waiting.append(_record(row))
            if len(waiting) >= options.chunk_documents:
                flush(part)
    finally:
        for part in parts.values():  # stopped before their END row: not finished
            part.writer.discard()
    state.outcome.wall_s = time.monotonic() - began
    return state.outcome
