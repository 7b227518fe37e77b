"""OnnxSession on a real ONNX Runtime session (CPU): padding to shape buckets changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biotag.bundle import read_manifest
from biotag.service.inference.session import OnnxSession, OnnxSessionOptions
from biotag.service.inference.shapes import ShapeBuckets


def _engine(bundle: Path, options: OnnxSessionOptions) -> OnnxSession:
    manifest = read_manifest(bundle)
    return OnnxSession(
        bundle / manifest.graphs["fp32"].file,  # type: ignore[index]
        options,
        pad_id=manifest.pad_token_id,
        batch_invariant=True,
    )


def _bucketed(bundle: Path, buckets: ShapeBuckets | None, padded_batches: bool) -> OnnxSession:
    options = OnnxSessionOptions(
        "cpu", intra_op_threads=1, shape_buckets=buckets, padded_batches=padded_batches
    )
    return _engine(bundle, options)


@pytest.mark.slow
def test_bucketed_batches_give_the_logits_of_exact_ones(tiny_bundles_dir: Path) -> None:
    bundle = tiny_bundles_dir / "tiny-disease"
    buckets = ShapeBuckets(width_multiple=16, max_width=128, max_rows=8, max_tokens=1024)
    rng = np.random.default_rng(0)
    sequences = [rng.integers(5, 700, size=n).astype(np.int64) for n in (3, 17, 40, 33, 9)]
    exact = _bucketed(bundle, None, padded_batches=False).run(sequences)
    # padded to a bucket of 8 rows x 48 tokens, as CUDA runs batches
    bucketed_engine = _bucketed(bundle, buckets, padded_batches=True)
    bucketed = bucketed_engine.run(sequences)
    for alone, padded, sequence in zip(exact, bucketed, sequences, strict=True):
        assert padded.shape == (len(sequence), alone.shape[1])
        np.testing.assert_allclose(padded, alone, atol=1e-4)
    assert bucketed_engine.warm_up(8, 128) == len(buckets.all_shapes())


@pytest.mark.parametrize("spinning", [False, True])
def test_idle_intra_op_threads_sleep_unless_spinning_is_asked_for(
    tiny_bundles_dir: Path, spinning: bool
) -> None:
    options = OnnxSessionOptions("cpu", intra_op_threads=2, intra_op_spinning=spinning)
    engine = _engine(tiny_bundles_dir / "tiny-disease", options)
    # what ONNX Runtime itself was configured with (it reports it nowhere else); an entry
    # never set raises, and then ORT's default, spinning, applies
    options = engine._session.get_session_options()
    key = "session.intra_op.allow_spinning"
    if spinning:
        with pytest.raises(RuntimeError, match=key):
            options.get_session_config_entry(key)
    else:
        assert options.get_session_config_entry(key) == "0"
    assert engine.run([np.arange(5, 12, dtype=np.int64)])[0].shape[0] == 7
