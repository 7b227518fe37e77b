"""The TF -> HF name table: exactly the expected variables, or a one-line error naming one."""

from __future__ import annotations

import pytest

from biotag.export.errors import ExportError
from biotag.export.tf1.names import Shapes, check_names, expected_targets, is_dropped

BASE = Shapes(30000, 128, 768, 3072, 512, 2, 1, 1)


def test_albert_base_with_a_ner_head_has_the_25_encoder_tensors_and_the_head() -> None:
    targets = expected_targets(BASE, 7, pooler=False, prefix="albert.")
    assert len(targets) == 25 - 2 + 2  # 25 bert/* of the release minus the pooler, plus head
    query = targets["bert/encoder/transformer/group_0/inner_group_0/attention_1/self/query/kernel"]
    assert (
        query.key == "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight"
    )
    assert query.transpose
    assert targets["output_weights"].shape == (7, 768)
    assert not targets["output_weights"].transpose  # BioBERT multiplies by its transpose
    layer_norm = "bert/encoder/transformer/group_0/inner_group_0/LayerNorm_1/gamma"
    assert targets[layer_norm].key.endswith("albert_layers.0.full_layer_layer_norm.weight")


def test_groups_and_inner_groups_each_have_their_own_variables() -> None:
    shapes = Shapes(100, 8, 16, 32, 64, 2, 2, 3)
    targets = expected_targets(shapes, None, pooler=True, prefix="")
    blocks = {n.split("/")[3] + "/" + n.split("/")[4] for n in targets if "/group_" in n}
    assert len(blocks) == 6
    assert "encoder.albert_layer_groups.1.albert_layers.2.ffn.weight" in {
        t.key for t in targets.values()
    }


def test_no_projection_when_embedding_size_equals_hidden_size() -> None:
    shapes = Shapes(100, 16, 16, 32, 64, 2, 1, 1)
    targets = expected_targets(shapes, 3, pooler=False, prefix="albert.")
    assert not any("embedding_hidden_mapping_in" in n for n in targets)


def test_optimizer_state_and_pretraining_heads_are_dropped_but_other_cls_scopes_are_not() -> None:
    assert is_dropped("bert/embeddings/word_embeddings/adam_m")
    assert is_dropped("global_step")
    assert is_dropped("cls/predictions/output_bias")
    assert not is_dropped("cls/squad/output_weights")
    assert not is_dropped("transitions")


def _present(targets: dict) -> dict:
    return {name: target.shape for name, target in targets.items()}


def test_an_unknown_variable_is_named() -> None:
    targets = expected_targets(BASE, 7, pooler=False, prefix="albert.")
    present = _present(targets) | {"transitions": (7, 7)}
    with pytest.raises(ExportError, match="holds variable transitions,"):
        check_names(present, targets, "model.ckpt-1")


def test_a_missing_variable_is_named() -> None:
    targets = expected_targets(BASE, 7, pooler=False, prefix="albert.")
    present = _present(targets)
    del present["bert/embeddings/LayerNorm/beta"]
    with pytest.raises(ExportError, match="lacks variable bert/embeddings/LayerNorm/beta,"):
        check_names(present, targets, "model.ckpt-1")


def test_a_wrong_shape_is_named() -> None:
    targets = expected_targets(BASE, 7, pooler=False, prefix="albert.")
    present = _present(targets) | {"output_bias": (3,)}
    with pytest.raises(ExportError, match="output_bias has shape"):
        check_names(present, targets, "model.ckpt-1")
