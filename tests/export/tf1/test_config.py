"""albert_config.json: google-research keys mapped, never Hugging Face's xxlarge defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biotag.export.errors import ExportError
from biotag.export.tf1.config import find_config, hf_config, read_config
from tests.export.tf1.paths import FIXTURES


def _write(tmp_path: Path, **changes: object) -> Path:
    config = json.loads((FIXTURES / "ner" / "albert_config.json").read_text())
    config.update(changes)
    config = {k: v for k, v in config.items() if v is not None}
    path = tmp_path / "albert_config.json"
    path.write_text(json.dumps(config))
    return path


def test_albert_gelu_is_the_tanh_approximation() -> None:
    config = hf_config(read_config(FIXTURES / "ner" / "albert_config.json"), "AlbertModel")
    assert config["hidden_act"] == "gelu_new"
    assert config["layer_norm_eps"] == 1e-12
    assert config["num_hidden_layers"] == 3
    assert config["embedding_size"] == 8


def test_a_missing_size_is_refused_rather_than_defaulted(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="lacks num_attention_heads"):
        read_config(_write(tmp_path, num_attention_heads=None))


def test_optional_keys_take_google_research_defaults(tmp_path: Path) -> None:
    config = read_config(_write(tmp_path, num_hidden_groups=None, inner_group_num=None))
    assert (config["num_hidden_groups"], config["inner_group_num"]) == (1, 1)


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="'rotary_dim'"):
        read_config(_write(tmp_path, rotary_dim=8))


def test_an_unknown_activation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not an ALBERT activation"):
        read_config(_write(tmp_path, hidden_act="swiglu"))


def test_experimental_variants_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="net_structure_type=1"):
        read_config(_write(tmp_path, net_structure_type=1))


def test_no_config_asks_for_one(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="pass --config"):
        find_config(tmp_path, None)
