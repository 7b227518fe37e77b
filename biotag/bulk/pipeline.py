"""One run of `biotag tag`: each input file, in order, streamed in chunks through the engine
(several chunks in flight, written back in reading order) into its part, then the manifest.

A chunk that fails is retried one document at a time, so one bad document fails alone; failed
and skipped records go to the part's ``NAME.errors.jsonl``. A file that cannot be read on
fails whole (its part is discarded, the run goes on); an engine that is gone stops the run.
Either way the parts already finished stay finished, and ``--resume`` picks up from there.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from biotag import __version__
from biotag.bulk.engines import DocumentError, Engine
from biotag.bulk.inputs import InputFile
from biotag.bulk.manifest import Identity, file_sha256, open_manifest
from biotag.bulk.progress import Counts, Progress
from biotag.bulk.readers import open_records
from biotag.bulk.records import Deletion, Document, Invalid, ReaderError, Record, Skipped
from biotag.bulk.writer import (
    TEMPORARY_SUFFIX,
    PartFormat,
    PartWriter,
    TaggedRecord,
    document_problem,
    write_atomically,
)
from biotag.service.text.entities import Entity

CHUNK_DOCUMENTS = 64  # the service's default per-request limit (BIOTAG_MAX_DOCUMENTS)
CHUNKS_IN_FLIGHT = 8
ERRORS_SUFFIX = ".errors.jsonl"


@dataclass(frozen=True)
class Options:
    output_dir: Path
    output: PartFormat = PartFormat.JSONL
    section_labels: bool = True
    resume: bool = False
    force: bool = False
    chunk_documents: int = CHUNK_DOCUMENTS
    chunks_in_flight: int = CHUNKS_IN_FLIGHT
    limit: int | None = None  # documents per file, for smoke runs


@dataclass
class Outcome:
    counts: Counts = field(default_factory=Counts)  # tagged in this run
    resumed: Counts = field(default_factory=Counts)  # in finished parts kept from before
    failed_files: dict[str, str] = field(default_factory=dict)  # input -> why
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.counts.failed or self.resumed.failed or self.failed_files)


def run_identity(models: dict[str, dict[str, Any]], options: Options) -> Identity:
    return {
        "biotag": __version__,
        "output": options.output.value,
        "section_labels": options.section_labels,
        "limit": options.limit,
        "models": models,
    }


def _chunks(records: Iterator[Record], size: int, limit: int | None) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    documents = 0
    for record in records:
        if isinstance(record, Document):
            if limit is not None and documents >= limit:
                break
            documents += 1
        chunk.append(record)
        if documents and documents % size == 0 and isinstance(record, Document):
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Part:
    """The state of one input file's part while it is written."""

    def __init__(self, writer: PartWriter, source: str, output: PartFormat) -> None:
        self.writer = writer
        self.source = source
        self.output = output
        self.counts = Counts()
        self.errors: list[bytes] = []

    def error(self, identifier: str, kind: str, reason: str) -> None:
        line = {"id": identifier, "source": self.source, "kind": kind, "reason": reason}
        self.errors.append(orjson.dumps(line) + b"\n")


async def _tag_documents(engine: Engine, documents: list[Document]) -> list[list[Entity] | str]:
    """Entities per document, or why it failed (a failed chunk is retried one by one)."""
    if not documents:
        return []
    try:
        return list(await engine.tag([d.text for d in documents]))
    except DocumentError as exc:
        if len(documents) == 1:
            return [str(exc)]
    results: list[list[Entity] | str] = []
    for document in documents:
        results.extend(await _tag_documents(engine, [document]))
    return results


def _write_chunk(part: _Part, chunk: list[Record], results: list[list[Entity] | str]) -> int:
    """Write a tagged chunk in reading order; returns the characters tagged."""
    written: list[TaggedRecord | Deletion] = []
    characters = 0
    outcomes = iter(results)
    for record in chunk:
        if isinstance(record, Document):
            problem = document_problem(part.output, record)
            result = problem if problem is not None else next(outcomes)
            if isinstance(result, str):
                part.counts.failed += 1
                part.error(record.id, "failed", result)
                continue
            written.append(TaggedRecord(record, result))
            part.counts.documents += 1
            characters += len(record.text)
            part.counts.entities.update(entity.type for entity in result)
        elif isinstance(record, Deletion):
            part.counts.deleted += 1
            written.append(record)
        elif isinstance(record, Skipped):
            part.counts.skipped += 1
            part.error(record.id, "skipped", record.reason)
        elif isinstance(record, Invalid):
            part.counts.failed += 1
            part.error(record.id, "failed", record.reason)
    part.writer.write(written)
    part.counts.characters += characters
    return characters


async def _tag_file(
    engine: Engine, source: InputFile, options: Options, progress: Progress, part: _Part
) -> None:
    in_flight: deque[tuple[list[Record], asyncio.Future[list[list[Entity] | str]]]] = deque()

    async def drain_one(position: int) -> None:
        chunk, future = in_flight.popleft()
        characters = _write_chunk(part, chunk, await future)
        documents = sum(isinstance(r, Document) for r in chunk)
        progress.advance(documents, characters, position, engine.tokens())

    with open_records(source.path, source.format, options.section_labels) as opened:
        try:
            for chunk in _chunks(opened.records, options.chunk_documents, options.limit):
                documents = [
                    r
                    for r in chunk
                    if isinstance(r, Document) and document_problem(options.output, r) is None
                ]
                in_flight.append((chunk, asyncio.ensure_future(_tag_documents(engine, documents))))
                if len(in_flight) >= options.chunks_in_flight:
                    await drain_one(opened.position())
            while in_flight:
                await drain_one(opened.position())
        finally:
            for _, future in in_flight:
                future.cancel()


def remove_leftovers(directory: Path) -> None:
    """Temporary files of a run that was killed: never finished, never trusted."""
    for leftover in directory.glob(f"*{TEMPORARY_SUFFIX}"):
        leftover.unlink()


class Run:
    """The output folder's side of a run, whatever tags the documents: which inputs are still
    to do, and each part started, failed or finished (errors file, part, manifest)."""

    def __init__(
        self, models: list[str], identity: Identity, options: Options, progress: Progress
    ) -> None:
        self.models = models
        self.identity = identity
        self.options = options
        self.progress = progress
        self.directory = options.output_dir
        self.directory.mkdir(parents=True, exist_ok=True)
        self.manifest = open_manifest(self.directory, identity, options.resume, options.force)
        remove_leftovers(self.directory)
        self.outcome = Outcome()
        self.today = date.today()

    def to_do(self, inputs: list[InputFile]) -> list[InputFile]:
        """The inputs without a finished part (those are counted as kept)."""
        pending = []
        for source in inputs:
            manifest, options = self.manifest, self.options
            if options.resume and manifest.finished(
                source.part, source.path, self.identity, options.force
            ):
                self.outcome.resumed.add(Counts.from_dict(manifest.parts[source.part]["counts"]))
                self.progress.file_done(source.size)
            else:
                pending.append(source)
        return pending

    def start(self, source: InputFile) -> _Part:
        writer = PartWriter(
            self.directory,
            source.part,
            self.options.output,
            self.models,
            str(source.path),
            self.today,
        )
        return _Part(writer, str(source.path), self.options.output)

    def fail(self, source: InputFile, part: _Part, why: str) -> None:
        part.writer.discard()
        self.outcome.failed_files[str(source.path)] = why
        self.progress.note(f"error: {source.path}: {why}; its part is not written")
        self.progress.file_done(source.size)

    def finish(self, source: InputFile, part: _Part) -> None:
        errors_file = close_part(self.directory, source, part)
        self.record(source, part.writer.path.name, part.counts, errors_file)

    def record(self, source: InputFile, file: str, counts: Counts, errors_file: str | None) -> None:
        """A part now in place under its final name: into the manifest, then the counts."""
        self.manifest.parts[source.part] = {
            "file": file,
            "input": str(source.path),
            "input_bytes": source.size,
            "input_sha256": file_sha256(source.path),
            "input_format": source.format.value,
            "errors_file": errors_file,
            "counts": counts.as_dict(),
            "identity": self.identity,
        }
        self.manifest.save()
        self.outcome.counts.add(counts)
        self.progress.file_done(source.size)


def close_part(directory: Path, source: InputFile, part: _Part) -> str | None:
    """Write the part's errors file (or remove a stale one), then the part itself, atomically;
    returns the errors file's name, if any."""
    errors_path = directory / f"{source.part}{ERRORS_SUFFIX}"
    if part.errors:
        write_atomically(errors_path, b"".join(part.errors))
    else:
        errors_path.unlink(missing_ok=True)
    part.writer.commit()
    return errors_path.name if part.errors else None


async def run(
    engine: Engine, inputs: list[InputFile], options: Options, progress: Progress
) -> Outcome:
    loop = asyncio.get_running_loop()
    began = loop.time()
    state = Run(engine.models, run_identity(engine.identity, options), options, progress)
    for source in state.to_do(inputs):
        part = state.start(source)
        try:
            await _tag_file(engine, source, options, progress, part)
        except ReaderError as exc:
            state.fail(source, part, str(exc))
            continue
        except BaseException:
            part.writer.discard()
            raise
        state.finish(source, part)
    state.outcome.wall_s = loop.time() - began
    return state.outcome
