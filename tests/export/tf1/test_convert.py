"""TF1 directory -> Hugging Face folder: the weights land where Hugging Face ALBERT reads them,
and every checkpoint that cannot be converted faithfully is refused in one line naming why."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from biotag.export.errors import ExportError
from biotag.export.tf1.convert import Tf1Options, convert
from biotag.export.tf1.export import Tf1Flags, exporter
from biotag.export.tf1.tensorbundle import find_prefix, open_bundle
from tests.export.tf1.paths import FIXTURES, SPM, copy_fixture

NER = Tf1Options(spm_model=SPM, entity_type="Disease")
QUERY = "bert/encoder/transformer/group_0/inner_group_0/attention_1/self/query/kernel"
HF_QUERY = "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight"


def _config(folder: Path, **changes: object) -> None:
    path = folder / "albert_config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def test_ner_checkpoint_becomes_a_token_classifier(tmp_path: Path) -> None:
    convert(FIXTURES / "ner", tmp_path / "hf", NER, require_head=True)
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["architectures"] == ["AlbertForTokenClassification"]
    assert config["id2label"] == {"0": "B-Disease", "1": "I-Disease", "2": "O"}
    assert config["hidden_act"] == "gelu_new"
    weights = load_file(tmp_path / "hf" / "model.safetensors")
    assert not any("pooler" in key or "predictions" in key for key in weights)
    source = open_bundle(find_prefix(FIXTURES / "ner"))
    np.testing.assert_array_equal(weights[HF_QUERY], source.read(QUERY).T)
    # the B, I, O rows of BioBERT's [PAD] B I O X [CLS] [SEP] head, in that order
    np.testing.assert_array_equal(weights["classifier.weight"], source.read("output_weights")[1:4])
    assert (tmp_path / "hf" / "tokenizer.json").is_file()
    assert "tensorflow" not in sys.modules


def test_embedding_size_equal_to_hidden_size_gets_an_identity_projection(tmp_path: Path) -> None:
    convert(FIXTURES / "same-size", tmp_path / "hf", NER, require_head=True)
    weights = load_file(tmp_path / "hf" / "model.safetensors")
    np.testing.assert_array_equal(
        weights["albert.encoder.embedding_hidden_mapping_in.weight"], np.eye(16)
    )
    assert not weights["albert.encoder.embedding_hidden_mapping_in.bias"].any()


def test_groups_and_inner_groups(tmp_path: Path) -> None:
    labels = ["O", "B-Disease", "I-Disease"]
    convert(FIXTURES / "groups", tmp_path / "hf", Tf1Options(spm_model=SPM, labels=labels), True)
    weights = load_file(tmp_path / "hf" / "model.safetensors")
    layers = {
        k.split(".albert_layers.")[0][-1] + k.split(".albert_layers.")[1][0]
        for k in weights
        if ".albert_layers." in k
    }
    assert layers == {"00", "01", "10", "11"}
    assert all(w.dtype == np.float32 for w in weights.values())  # float16 widened


def test_pretrained_checkpoint_converts_to_an_encoder_with_its_pooler(tmp_path: Path) -> None:
    convert(FIXTURES / "pretrained", tmp_path / "hf", Tf1Options(spm_model=SPM), False)
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["architectures"] == ["AlbertModel"]
    weights = load_file(tmp_path / "hf" / "model.safetensors")
    assert "pooler.weight" in weights
    assert "encoder.albert_layer_groups.0.albert_layers.0.ffn.weight" in weights


def _refused(directory: Path, options: Tf1Options, match: str, head: bool = True) -> None:
    with pytest.raises(ExportError, match=match) as raised:
        convert(directory, directory.parent / "out", options, require_head=head)
    assert "\n" not in str(raised.value)


def test_pretrained_checkpoint_is_not_servable() -> None:
    _refused(FIXTURES / "pretrained", NER, r"pre-trained ALBERT .* nothing to serve")


def test_labels_not_matching_the_head_are_refused() -> None:
    options = Tf1Options(spm_model=SPM, labels=["O", "B-Disease", "I-Disease"])
    _refused(FIXTURES / "ner", options, r"the head has 7 outputs .* sequence classifier")


def test_no_label_list_is_refused(tmp_path: Path) -> None:
    folder = copy_fixture("ner", tmp_path / "ner")
    (folder / "label2id.pkl").unlink()
    _refused(folder, NER, r"no label list: pass --labels")


def test_a_variable_the_config_implies_but_the_checkpoint_lacks(tmp_path: Path) -> None:
    folder = copy_fixture("ner", tmp_path / "ner")
    _config(folder, num_hidden_groups=2)
    _refused(folder, NER, r"lacks variable bert/encoder/transformer/group_1/inner_group_0/")


def test_a_variable_the_config_does_not_imply(tmp_path: Path) -> None:
    folder = copy_fixture("groups", tmp_path / "groups")
    _config(folder, num_hidden_groups=1)
    options = Tf1Options(spm_model=SPM, labels=["O", "B-Disease", "I-Disease"])
    _refused(folder, options, r"holds variable bert/encoder/transformer/group_1/")


def test_a_shape_the_config_contradicts(tmp_path: Path) -> None:
    folder = copy_fixture("ner", tmp_path / "ner")
    _config(folder, intermediate_size=64)
    _refused(folder, NER, r"has shape \[16, 32\], the config implies \[16, 64\]")


def test_a_tf2_keras_port_is_refused() -> None:
    _refused(FIXTURES / "keras-names", NER, r"TF2/Keras ALBERT port .*layer_normalization")


def test_partitioned_variables_are_refused() -> None:
    _refused(FIXTURES / "partitioned", NER, r"word_embeddings is partitioned \(2 slices\)")


def test_a_sentencepiece_model_of_another_vocabulary(tmp_path: Path) -> None:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["a small corpus of words for a tiny model"] * 20),
        model_writer=model,
        vocab_size=30,
        hard_vocab_limit=False,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        minloglevel=2,
    )
    other = tmp_path / "other.model"
    other.write_bytes(model.getvalue())
    options = Tf1Options(spm_model=other, entity_type="Disease")
    _refused(FIXTURES / "ner", options, r"other.model has \d+ pieces but the model's vocab")


def test_no_sentencepiece_model_is_refused() -> None:
    _refused(FIXTURES / "ner", Tf1Options(entity_type="Disease"), r"pass --spm-model")


def test_a_missing_data_shard_is_refused(tmp_path: Path) -> None:
    folder = copy_fixture("ner", tmp_path / "ner")
    (folder / "model.ckpt-1234.data-00001-of-00003").unlink()
    _refused(folder, NER, r"data shard .*data-00001-of-00003 is missing")


def test_tf1_flags_on_a_hugging_face_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="--labels apply to TF1 checkpoints only"):
        exporter(tmp_path, Tf1Flags(labels="O,B,I"), lambda *a, **k: None)


def test_a_hugging_face_folder_takes_the_ordinary_path(tmp_path: Path) -> None:
    def ordinary(*args: object, **kwargs: object) -> None:
        return None

    assert exporter(tmp_path, Tf1Flags(), ordinary) is ordinary
    shutil.copytree(FIXTURES / "ner", tmp_path / "tf1")
    assert exporter(tmp_path / "tf1", Tf1Flags(), ordinary) is not ordinary


def test_a_weight_that_is_not_a_float_is_refused(tmp_path: Path) -> None:
    from tests.export.tf1.bundle_writer import table_entries, write_table

    folder = copy_fixture("ner", tmp_path / "ner")
    index = folder / "model.ckpt-1234.index"
    entries = [
        (key, b"\x08\x03" + value[2:] if key == b"bert/embeddings/LayerNorm/beta" else value)
        for key, value in table_entries(index)
    ]
    assert entries[1][1][:2] == b"\x08\x03"  # the first variable, now int32
    write_table(index, entries, snappy=False)
    _refused(
        folder, NER, r"variable bert/embeddings/LayerNorm/beta is int32; weights must be floats"
    )


def test_a_corrupt_data_shard_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = copy_fixture("bf16", tmp_path / "bf16")
    data = folder / "model.ckpt-1234.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[50] ^= 0x01
    data.write_bytes(bytes(raw))
    _refused(folder, NER, r"CRC32C mismatch in bert/embeddings/\w+: the data file is corrupt")


def test_a_head_bias_without_its_weights_is_refused(tmp_path: Path) -> None:
    from tests.export.tf1.bundle_writer import table_entries, write_table

    folder = copy_fixture("ner", tmp_path / "ner")
    index = folder / "model.ckpt-1234.index"
    entries = [(k, v) for k, v in table_entries(index) if not k.startswith(b"output_weights")]
    write_table(index, entries, snappy=False)
    _refused(folder, NER, r"lacks variable output_weights beside its output_bias")
