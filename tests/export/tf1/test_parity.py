"""Converted folders load into transformers with no missing or unexpected weight, and compute
what TensorFlow computed (make_fixtures.py's independent forward pass)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biotag.export.tf1.convert import Tf1Options, convert
from tests.export.tf1.paths import FIXTURES, PARITY, SPM

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("fixture", "options"),
    [
        ("ner", Tf1Options(spm_model=SPM, entity_type="Disease")),
        ("bf16", Tf1Options(spm_model=SPM, entity_type="Disease")),
        ("same-size", Tf1Options(spm_model=SPM, entity_type="Disease")),
        ("groups", Tf1Options(spm_model=SPM, labels=["O", "B-Disease", "I-Disease"])),
        ("pretrained", Tf1Options(spm_model=SPM)),
    ],
)
def test_transformers_reproduces_tensorflow(
    tmp_path: Path, fixture: str, options: Tf1Options
) -> None:
    import torch
    from transformers import AlbertModel, AutoModelForTokenClassification

    plan = convert(FIXTURES / fixture, tmp_path / "hf", options, require_head=False)
    kind = AutoModelForTokenClassification if plan.head_labels else AlbertModel
    model, info = kind.from_pretrained(
        str(tmp_path / "hf"), output_loading_info=True, attn_implementation="eager"
    )
    assert not info["missing_keys"]
    assert not info["unexpected_keys"]
    assert not info["mismatched_keys"]
    ids, lengths = (
        np.load(PARITY / f"{fixture}-input_ids.npy"),
        np.load(PARITY / f"{fixture}-lengths.npy"),
    )
    expected = np.load(PARITY / f"{fixture}-{'logits' if plan.head_labels else 'hidden'}.npy")
    for i, length in enumerate(lengths):
        with torch.no_grad():
            output = model.eval()(input_ids=torch.tensor(ids[i : i + 1, :length]))
        if plan.head_labels:
            got, want = output.logits[0].numpy(), expected[i, :length][:, plan.head_labels.rows]
        else:
            got, want = output.last_hidden_state[0].numpy(), expected[i, :length]
            if i == 0:
                pooled = np.load(PARITY / f"{fixture}-pooled.npy")
                np.testing.assert_allclose(output.pooler_output.numpy(), pooled, atol=1e-5)
        np.testing.assert_allclose(got, want, atol=1e-4)
