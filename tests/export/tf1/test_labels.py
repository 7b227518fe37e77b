"""BioBERT label lists: read safely, and reduced to the rows the service decodes."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from biotag.export.errors import ExportError
from biotag.export.tf1.labels import head_labels, parse_labels, read_label2id
from tests.export.tf1.paths import FIXTURES


def test_biobert_label2id_pickle_in_id_order() -> None:
    labels = read_label2id(FIXTURES / "ner" / "label2id.pkl")
    assert labels == ["[PAD]", "B", "I", "O", "X", "[CLS]", "[SEP]"]


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch pwned",))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "label2id.pkl"
    path.write_bytes(pickle.dumps({"O": 0, "B": _Exploit()}))
    with pytest.raises(ExportError, match="not a plain label->id pickle"):
        read_label2id(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("value", [["O", "B"], {"O": 0, "B": 2}, {"O": 0, "B": True}, {1: 0}])
def test_anything_but_a_str_to_id_dict_is_refused(tmp_path: Path, value: object) -> None:
    path = tmp_path / "label2id.pkl"
    path.write_bytes(pickle.dumps(value))
    with pytest.raises(ExportError):
        read_label2id(path)


def test_biobert_labels_keep_b_i_o_typed_with_the_entity_type() -> None:
    head = head_labels(["[PAD]", "B", "I", "O", "X", "[CLS]", "[SEP]"], "Disease")
    assert head.rows == [1, 2, 3]
    assert head.labels == ["B-Disease", "I-Disease", "O"]


def test_untyped_labels_need_an_entity_type() -> None:
    with pytest.raises(ExportError, match="pass --entity-type"):
        head_labels(["[PAD]", "B", "I", "O", "X", "[CLS]", "[SEP]"], None)


def test_typed_labels_pass_through() -> None:
    head = head_labels(["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"], None)
    assert head.rows == [0, 1, 2, 3, 4]


def test_labels_no_scheme_explains_are_refused() -> None:
    with pytest.raises(ExportError, match="neither 'O'"):
        head_labels(["O", "POSITIVE"], None)


def test_labels_from_a_comma_list_or_a_file(tmp_path: Path) -> None:
    assert parse_labels("[PAD], B,I,O") == ["[PAD]", "B", "I", "O"]
    path = tmp_path / "labels.txt"
    path.write_text("O\nB-Gene\nI-Gene\n")
    assert parse_labels(str(path)) == ["O", "B-Gene", "I-Gene"]
