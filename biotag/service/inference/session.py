"""One ONNX Runtime session: provider choice, padding, I/O binding, warm-up. Knows no text."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from biotag.service.inference.shapes import ShapeBuckets

Provider = Literal["cuda", "cpu"]
_ORT_PROVIDER = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
logger = logging.getLogger(__name__)


class SessionError(RuntimeError):
    """The session cannot be created or run on the requested provider."""


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


@dataclass(frozen=True)
class OnnxSessionOptions:
    provider: Provider
    intra_op_threads: int = 0
    cuda_device_id: int = 0
    cuda_provider_options: Mapping[str, str] = field(default_factory=dict)
    shape_buckets: ShapeBuckets | None = None  # None: every batch runs at its exact shape
    padded_batches: bool | None = None  # None: on CUDA only
    intra_op_spinning: bool = False


class OnnxSession:
    """Runs batches of token-id sequences and returns per-token logits.

    On CUDA a batch runs padded, as one tensor. On the CPU its sequences run one at a time,
    unpadded: padding costs more there than batching gains (fp32 ALBERT-base, 8 clients: 3.2
    abstracts/s batched, 4.4 one at a time), and a graph that is not batch-invariant (dynamic
    int8 scales activations over the whole input tensor) must never see another document.
    """

    def __init__(
        self,
        graph: Path,
        options: OnnxSessionOptions,
        pad_id: int,
        batch_invariant: bool,
    ) -> None:
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = options.intra_op_threads
        if threads == 0 and options.provider == "cuda":
            threads = 1
        session_options.intra_op_num_threads = threads
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.log_severity_level = 3
        if not options.intra_op_spinning:
            session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list[str | tuple[str, dict[str, object]]]
        if options.provider == "cuda":
            providers = [
                (
                    "CUDAExecutionProvider",
                    {
                        "device_id": options.cuda_device_id,
                        # grow the arena by what is asked, not in powers of two: varying
                        # shapes would otherwise ratchet GPU memory up
                        "arena_extend_strategy": "kSameAsRequested",
                    }
                    | dict(options.cuda_provider_options),
                ),
                "CPUExecutionProvider",
            ]
        else:
            providers = ["CPUExecutionProvider"]
        # On the CPU, ORT's SkipLayerNormalization kernel is slower than the LayerNormalization
        # + Add it would replace (101 vs 87 ms per int8 ALBERT-base sequence, ORT 1.32)
        disabled = ["SkipLayerNormFusion"] if options.provider == "cpu" else []
        try:
            self._session = ort.InferenceSession(
                str(graph), session_options, providers=providers, disabled_optimizers=disabled
            )
        except Exception as exc:  # ORT raises its own exception types without a common base
            raise SessionError(f"cannot load {graph.name} on {options.provider}: {exc}") from exc
        active = self._session.get_providers()[0]
        if active != _ORT_PROVIDER[options.provider]:
            raise SessionError(
                f"{graph.name}: asked for {options.provider}, ONNX Runtime chose {active}"
            )
        self.provider = options.provider
        self._device_id = options.cuda_device_id
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._pad_id = pad_id
        self._buckets = options.shape_buckets
        self.batch_invariant = batch_invariant
        padded = options.padded_batches
        if padded is None:
            padded = options.provider == "cuda"
        self._one_at_a_time = not (padded and batch_invariant)

    @property
    def one_at_a_time(self) -> bool:
        """Whether a batch runs its sequences one after another, unpadded (the CPU)."""
        return self._one_at_a_time

    def run(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        """Logits (length, labels) for each int64 sequence, special tokens included."""
        if self._one_at_a_time:
            return [self._run_padded([sequence])[0] for sequence in sequences]
        return self._run_padded(sequences)

    def computed_tokens(self, lengths: list[int]) -> int:
        """Tokens a batch of these sequence lengths costs, padding included."""
        if self._one_at_a_time:
            return sum(lengths)
        rows, width = self._padded_shape(len(lengths), max(lengths))
        return rows * width

    def _padded_shape(self, count: int, longest: int) -> tuple[int, int]:
        if self._buckets is None:
            return count, longest
        return self._buckets.rows(count), self._buckets.width(longest)

    def _run_padded(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        count = len(sequences)
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=count)
        rows, width = self._padded_shape(count, int(lengths.max()))
        input_ids = np.full((rows, width), self._pad_id, dtype=np.int64)
        for row, sequence in enumerate(sequences):
            input_ids[row, : len(sequence)] = sequence
        # filler rows attend to one pad token: a row with nothing to attend to is undefined
        row_lengths = np.ones(rows, dtype=np.int64)
        row_lengths[:count] = lengths
        attention_mask = (np.arange(width)[None, :] < row_lengths[:, None]).astype(np.int64)
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        logits = self._forward(feeds)
        return [logits[row, :length] for row, length in enumerate(lengths.tolist())]

    def _forward(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if self.provider == "cpu":
            return np.asarray(self._session.run(["logits"], feeds)[0])
        binding = self._session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output("logits", "cuda", self._device_id)
        self._session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0])

    def warm_up(self, rows: int, length: int) -> int:
        """Run the largest batch shape once so the first request does not pay for allocation;
        with shape buckets, run every bucket once. Returns the number of shapes run."""
        shapes = [(1 if self._one_at_a_time else rows, length)]
        if self._buckets is not None:
            shapes = self._buckets.all_shapes()
        for shape_rows, shape_width in shapes:
            sequence = np.full(shape_width, self._pad_id, dtype=np.int64)
            self.run([sequence] * shape_rows)
        return len(shapes)
