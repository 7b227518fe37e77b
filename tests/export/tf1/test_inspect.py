"""`biotag inspect` on an ALBERT-base-sized index alone, as a BioALBERT release ships it."""

from __future__ import annotations

from pathlib import Path

from biotag.export.tf1.convert import Tf1Options
from biotag.export.tf1.inspect import describe
from biotag.export.tf1.names import Shapes, expected_targets
from tests.export.tf1.bundle_writer import write_index
from tests.export.tf1.paths import FIXTURES


def _bioalbert_base_index(folder: Path) -> None:
    """The 97 entries of BioALBERT-base's pre-training index: 32 tensors x {value, adam_m,
    adam_v} + global_step (shapes from the real release's index)."""
    shapes = {
        name: target.shape
        for name, target in expected_targets(
            Shapes(30000, 128, 768, 3072, 512, 2, 1, 1), None, pooler=True, prefix=""
        ).items()
    }
    shapes |= {
        "cls/predictions/output_bias": (30000,),
        "cls/predictions/transform/dense/kernel": (768, 128),
        "cls/predictions/transform/dense/bias": (128,),
        "cls/predictions/transform/LayerNorm/gamma": (128,),
        "cls/predictions/transform/LayerNorm/beta": (128,),
        "cls/seq_relationship/output_weights": (2, 768),
        "cls/seq_relationship/output_bias": (2,),
    }
    shapes |= {f"{n}/{slot}": s for n, s in list(shapes.items()) for slot in ("adam_m", "adam_v")}
    shapes["global_step"] = ()
    assert len(shapes) == 97
    folder.mkdir()
    write_index(folder / "model.ckpt-best.index", shapes, snappy=True)


def test_describes_an_albert_base_pretraining_index(tmp_path: Path) -> None:
    _bioalbert_base_index(tmp_path / "bioalbert")
    rows = dict(describe(tmp_path / "bioalbert", Tf1Options()))
    assert "Snappy-compressed" in rows["files"]
    assert "missing" in rows["files"]  # the data shard is not needed
    assert rows["architecture"] == "google-research ALBERT"
    assert rows["sizes"] == (
        "vocabulary 30,000, embedding 128, hidden 768, FFN 3,072, max positions 512"
    )
    assert rows["layers"].startswith("1 group(s) of shared layers, 1 inner group(s) each")
    assert "pass --config" in rows["layers"]
    assert rows["head"].startswith("pre-training heads only")
    assert (
        rows["ignored"] == "64 Adam slots (adam_m, adam_v), global_step, pre-training heads cls/*"
    )
    assert rows["weights"] == "25 tensors, 11,683,584 parameters, float32"
    assert "nothing to serve" in rows["export"]


def test_a_config_gives_the_layer_and_head_counts(tmp_path: Path) -> None:
    _bioalbert_base_index(tmp_path / "bioalbert")
    config = tmp_path / "albert_config.json"
    config.write_text(
        '{"vocab_size": 30000, "embedding_size": 128, "hidden_size": 768, '
        '"num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, '
        '"max_position_embeddings": 512, "type_vocab_size": 2}'
    )
    rows = dict(describe(tmp_path / "bioalbert", Tf1Options(config=config)))
    assert rows["layers"].startswith("12 layers in 1 group(s) of shared layers")
    assert "12 attention heads" in rows["layers"]


def test_a_hugging_face_folder_is_described_too(tmp_path: Path) -> None:
    from biotag.export.tf1.convert import convert
    from tests.export.tf1.paths import SPM

    convert(
        FIXTURES / "ner", tmp_path / "hf", Tf1Options(spm_model=SPM, entity_type="Disease"), True
    )
    rows = dict(describe(tmp_path / "hf", Tf1Options()))
    assert rows["architecture"] == "AlbertForTokenClassification"
    assert rows["labels"] == "B-Disease, I-Disease, O"
    assert rows["export"] == "would write heads hf"
