"""Frames between workers and the shared engine: whatever goes in comes out, exactly."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from biotag.service.inference.batcher import (
    BatcherStoppedError,
    QueueFullError,
    TooManySequencesError,
)
from biotag.service.multiprocess.engine_protocol import (
    Kind,
    ProtocolError,
    RemoteEngineError,
    Result,
    RunRequest,
    Status,
    decode_cancel,
    decode_hello,
    decode_result,
    decode_run,
    encode_cancel,
    encode_hello,
    encode_result,
    encode_run,
    failure,
    frame,
    kind_of,
    logits_or_raise,
    read_frame,
)

lengths = st.lists(st.integers(min_value=0, max_value=40), max_size=12)


@given(lengths=lengths, request_id=st.integers(0, 2**64 - 1), seed=st.integers(0, 1000))
def test_run_requests_round_trip(lengths: list[int], request_id: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sequences = [rng.integers(0, 2**31 - 1, size=n, dtype=np.int64) for n in lengths]
    body = encode_run(RunRequest(request_id, "disease-ä", sequences))
    assert kind_of(body) is Kind.RUN
    decoded = decode_run(body)
    assert decoded.request_id == request_id
    assert decoded.bundle == "disease-ä"
    assert len(decoded.sequences) == len(sequences)
    for got, sent in zip(decoded.sequences, sequences, strict=True):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, sent)


@given(
    lengths=lengths,
    labels=st.integers(1, 9),
    dtype=st.sampled_from([np.float32, np.float16]),
    seed=st.integers(0, 1000),
)
def test_results_keep_values_and_dtype(
    lengths: list[int], labels: int, dtype: type, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    logits = [rng.normal(size=(n, labels)).astype(dtype) for n in lengths]
    decoded = decode_result(encode_result(Result(7, Status.OK, logits)))
    assert (decoded.request_id, decoded.status) == (7, Status.OK)
    assert len(decoded.logits) == len(logits)
    for got, sent in zip(decoded.logits, logits, strict=True):
        assert got.dtype == sent.dtype
        np.testing.assert_array_equal(got, sent)


def test_errors_carry_their_status_and_message() -> None:
    decoded = decode_result(
        encode_result(Result(3, Status.FAILED, [], "CUDA error: out of memory"))
    )
    assert (decoded.status, decoded.message, decoded.logits) == (
        Status.FAILED,
        "CUDA error: out of memory",
        [],
    )
    assert decode_result(encode_result(Result(4, Status.QUEUE_FULL, []))).status is (
        Status.QUEUE_FULL
    )


@pytest.mark.parametrize(
    "error", [QueueFullError(), TooManySequencesError(), BatcherStoppedError()], ids=type
)
def test_a_refusal_in_the_engine_is_raised_again_in_the_worker(error: Exception) -> None:
    answer = decode_result(encode_result(failure(9, error)))
    with pytest.raises(type(error)):
        logits_or_raise(answer)


def test_any_other_failure_reaches_the_worker_with_its_message() -> None:
    answer = decode_result(encode_result(failure(9, RuntimeError("CUDA error: out of memory"))))
    with pytest.raises(RemoteEngineError, match="RuntimeError: CUDA error: out of memory"):
        logits_or_raise(answer)


def test_hello_and_cancel_round_trip() -> None:
    hello = {"provider": "cuda", "bundles": ["default"], "errors": {"broken": "bad graph"}}
    assert decode_hello(encode_hello(hello)) == hello
    assert decode_cancel(encode_cancel(2**40)).request_id == 2**40
    with pytest.raises(ProtocolError):
        decode_hello(encode_cancel(1))
    with pytest.raises(ProtocolError):
        kind_of(b"\x63")


def test_frames_are_read_whole_and_a_clean_end_is_none() -> None:
    async def read_all(data: bytes) -> list[bytes | None]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return [await read_frame(reader), await read_frame(reader), await read_frame(reader)]

    first, second = encode_cancel(1), encode_hello({"bundles": []})
    assert asyncio.run(read_all(frame(first) + frame(second))) == [first, second, None]
    with pytest.raises(ProtocolError):
        asyncio.run(read_all(frame(first)[:2]))
