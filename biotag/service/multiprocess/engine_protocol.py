"""Frames between server workers and the shared engine process (one Unix socket per worker).

Every frame is a little-endian u32 length, then a body whose first byte is its kind:

- engine -> worker, once after connecting: HELLO + JSON (the bundles served and why others are
  not);
- worker -> engine: RUN (request id, bundle name, token-id sequences) and CANCEL (request id:
  the worker no longer waits, so its windows leave the queue);
- engine -> worker: RESULT (request id, status, then the per-token logits of each sequence or
  an error message).

Sequences travel as int32 ids (vocabularies are far below 2**31) and logits in the dtype the
graph produced, so an fp16 graph's logits cost half the bytes.
"""

from __future__ import annotations

import asyncio
import enum
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from biotag.service.inference.batcher import (
    BatcherStoppedError,
    QueueFullError,
    TooManySequencesError,
)

_LENGTH = struct.Struct("<I")
_KIND = struct.Struct("<B")
_RUN = struct.Struct("<BQHI")  # kind, request id, name length, sequence count
_CANCEL = struct.Struct("<BQ")  # kind, request id
_RESULT = struct.Struct("<BQB")  # kind, request id, status
_LOGITS = struct.Struct("<II3s")  # sequence count, labels, dtype ("<f4" / "<f2")
_IDS = np.dtype("<i4")  # token ids on the wire
MAX_FRAME_BYTES = 1 << 30


class Kind(enum.IntEnum):
    HELLO = 0
    RUN = 1
    CANCEL = 2
    RESULT = 3


class Status(enum.IntEnum):
    OK = 0
    QUEUE_FULL = 1
    TOO_MANY_SEQUENCES = 2
    STOPPED = 3
    FAILED = 4


class ProtocolError(ValueError):
    """A frame that does not follow this module's layout."""


class RemoteEngineError(RuntimeError):
    """The engine process could not run a request (its message says why)."""


# the batcher's refusals travel as a status and are raised again on the worker's side
_REFUSALS: tuple[tuple[type[Exception], Status], ...] = (
    (QueueFullError, Status.QUEUE_FULL),
    (TooManySequencesError, Status.TOO_MANY_SEQUENCES),
    (BatcherStoppedError, Status.STOPPED),
)


@dataclass(frozen=True)
class RunRequest:
    request_id: int
    bundle: str
    sequences: list[np.ndarray]


@dataclass(frozen=True)
class Cancel:
    request_id: int


@dataclass(frozen=True)
class Result:
    request_id: int
    status: Status
    logits: list[np.ndarray]  # per sequence (tokens, labels); empty unless OK
    message: str = ""


def failure(request_id: int, error: Exception) -> Result:
    """The answer to a request whose windows could not run."""
    status = next((s for kind, s in _REFUSALS if isinstance(error, kind)), Status.FAILED)
    message = f"{type(error).__name__}: {error}" if status is Status.FAILED else ""
    return Result(request_id, status, [], message)


def logits_or_raise(result: Result) -> list[np.ndarray]:
    """The logits of an answered request, or the error it stands for."""
    if result.status is Status.OK:
        return result.logits
    refusal = next((kind for kind, s in _REFUSALS if s is result.status), None)
    raise refusal() if refusal is not None else RemoteEngineError(result.message)


def frame(body: bytes) -> bytes:
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next frame's body, or None at a clean end of stream."""
    try:
        header = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("stream ended inside a frame header") from exc
        return None
    (size,) = _LENGTH.unpack(header)
    if size == 0 or size > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {size} bytes")
    return await reader.readexactly(size)


def kind_of(body: bytes) -> Kind:
    try:
        return Kind(body[0])
    except ValueError as exc:
        raise ProtocolError(f"unknown frame kind {body[0]}") from exc


def encode_hello(info: dict[str, Any]) -> bytes:
    return _KIND.pack(Kind.HELLO) + json.dumps(info).encode()


def decode_hello(body: bytes) -> dict[str, Any]:
    if kind_of(body) is not Kind.HELLO:
        raise ProtocolError("the engine did not start with a hello")
    info: dict[str, Any] = json.loads(body[1:])
    return info


def _pack_rows(arrays: list[np.ndarray], dtype: np.dtype[Any]) -> bytes:
    """Each array's row count (int32), then all rows back to back in ``dtype``."""
    lengths = np.fromiter((len(a) for a in arrays), dtype="<i4", count=len(arrays))
    values = np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)
    return lengths.tobytes() + values.tobytes()


def _unpack_rows(
    body: bytes, offset: int, count: int, dtype: np.dtype[Any], width: int | None = None
) -> list[np.ndarray]:
    """The ``count`` arrays `_pack_rows` wrote at ``offset`` (rows of ``width`` values, or
    single values), as views of ``body``."""
    if count == 0:
        return []
    lengths = np.frombuffer(body, dtype="<i4", count=count, offset=offset)
    values = np.frombuffer(body, dtype=dtype, offset=offset + 4 * count)
    if width is not None:
        values = values.reshape(-1, width)
    if len(values) != int(lengths.sum()):
        raise ProtocolError(f"{len(values)} rows for arrays of {int(lengths.sum())} in all")
    return np.split(values, np.cumsum(lengths)[:-1])


def encode_run(request: RunRequest) -> bytes:
    name = request.bundle.encode()
    header = _RUN.pack(Kind.RUN, request.request_id, len(name), len(request.sequences))
    return header + name + _pack_rows(request.sequences, _IDS)


def decode_run(body: bytes) -> RunRequest:
    _, request_id, name_length, count = _RUN.unpack_from(body)
    bundle = body[_RUN.size : _RUN.size + name_length].decode()
    rows = _unpack_rows(body, _RUN.size + name_length, count, _IDS)
    return RunRequest(request_id, bundle, [ids.astype(np.int64) for ids in rows])


def encode_cancel(request_id: int) -> bytes:
    return _CANCEL.pack(Kind.CANCEL, request_id)


def decode_cancel(body: bytes) -> Cancel:
    _, request_id = _CANCEL.unpack_from(body)
    return Cancel(request_id)


def encode_result(result: Result) -> bytes:
    header = _RESULT.pack(Kind.RESULT, result.request_id, result.status)
    if result.status is not Status.OK:
        return header + result.message.encode()
    if not result.logits:
        return header + _LOGITS.pack(0, 0, b"<f4")
    dtype = np.dtype(result.logits[0].dtype).newbyteorder("<")
    labels = result.logits[0].shape[1]
    logits_header = _LOGITS.pack(len(result.logits), labels, dtype.str.encode())
    return header + logits_header + _pack_rows(result.logits, dtype)


def decode_result(body: bytes) -> Result:
    _, request_id, status_code = _RESULT.unpack_from(body)
    status = Status(status_code)
    cursor = _RESULT.size
    if status is not Status.OK:
        return Result(request_id, status, [], body[cursor:].decode(errors="replace"))
    count, labels, dtype = _LOGITS.unpack_from(body, cursor)
    logits = _unpack_rows(body, cursor + _LOGITS.size, count, np.dtype(dtype.decode()), labels)
    return Result(request_id, status, logits)
