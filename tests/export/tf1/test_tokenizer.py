"""tokenizer.json built from ALBERT's SentencePiece model tokenizes like ALBERT itself.

The oracle is google-research's own pipeline (``preprocess_text`` + ``encode_pieces`` over the
``sentencepiece`` library) on the fixture model, trained with ALBERT's flags (user-defined
``( ) " - . – £ €``). Offsets must point at the exact characters of the input.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sentencepiece as spm
from tokenizers import Tokenizer

from biotag.export.errors import ExportError
from biotag.export.tf1.tokenizer import build_tokenizer, read_model
from tests.export.tf1.albert_reference import encode_pieces, preprocess
from tests.export.tf1.paths import NCBI_ABSTRACTS, SPM

ADVERSARIAL = [
    "Ménière's disease and Sjögren syndrome in São Paulo.",
    "TNF-α and IFN-γ levels rose; β-catenin fell (Δ = 3).",
    "ΑΒΓΔ uppercase Greek ΣΩ and final-sigma ς.",
    "Doses of 10–20 mg — twice daily — were given.",
    "The\u00a0BRCA1\u00a0gene was\u202fmutated\u2009here.",
    "Patients 😀 reported pain 🤒 after 2 days 👩‍⚕️.",
    "First line.\r\nSecond line.\r\n",
    "Too    many     spaces   here .",
    "\tTabs\tand\nnewlines\n\n",
    "a\u2028b\u2029c\u0085d\u000be\u000cf\u001cg",
    "x\u3000y\u2003z",
    "He said ``hello'' to the ''doctor``.",
    "About 1,200,000 cells, 3,4-dihydroxy and 12, 13 patients.",
    "ﬁbrosis and ﬂuid; Ⅳ stage; 5 µg/ml; 37 ℃; x² + y³.",
    "İstanbul ß Straße ǅ ﬀ.",
    "zero\u200bwidth and soft\u00adhyphen.",
    "中文 文本 and 日本語 テキスト.",
    "£5 and €10 and $3.",
    "  leading and trailing  ",
    "",
    "   ",
    "Ａｂｃ fullwidth ＡＢＣ１２３.",
    "e\u0301 combining acute and a\u0308.",
    "Résumé naïve coöperate façade.",
    "“Curly quotes” and ‘single’ quotes.",
    "IL-6/IL-10 ratio (p<0.05) [n=12] {x}.",
    "Ⅷ factor VIII deficiency (hemophilia A).",
]
# the one kind of text tokenized differently on purpose (see test_special_tokens_in_the_text)
SPECIAL_IN_TEXT = "The [CLS] token and [SEP] and [MASK] appear as text."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


@pytest.fixture(scope="module")
def albert() -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(SPM))


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    # through JSON, as a bundle carries it
    return Tokenizer.from_str(build_tokenizer(read_model(SPM), lowercase=True).to_str())


def ncbi_sentences() -> list[str]:
    sentences = []
    for name in ("train.pubtator", "devel.pubtator"):
        for line in (NCBI_ABSTRACTS / name).read_text().splitlines():
            parts = line.split("|", 2)
            if len(parts) == 3 and parts[1] in ("t", "a"):
                sentences += [s for s in _SENTENCE_END.split(parts[2]) if s.strip()]
    return sentences


def _assert_offsets_point_at_the_text(tokenizer: Tokenizer, text: str) -> None:
    encoding = tokenizer.encode(text, add_special_tokens=False)
    previous = 0
    for token, (start, end) in zip(encoding.tokens, encoding.offsets, strict=True):
        assert previous <= start < end <= len(text), (text, token, start, end)
        previous = start
        assert not text[start].isspace(), (text, token)  # no token covers a space
        piece = token.removeprefix("▁")
        if piece and piece != '"':  # a `` or '' -> " covers one of its two characters
            # the characters it covers normalise to (a superset of) the piece
            assert piece in preprocess(text[start:end]).replace(" ", ""), (text, token)


def test_identical_ids_on_adversarial_texts(albert, tokenizer) -> None:
    for text in ADVERSARIAL:
        expected = [albert.piece_to_id(p) for p in encode_pieces(albert, preprocess(text))]
        assert tokenizer.encode(text, add_special_tokens=False).ids == expected, text


def test_identical_pieces_on_adversarial_texts_but_an_unknown_emoji_variation(
    albert, tokenizer
) -> None:
    """StripAccents drops every nonspacing mark; ALBERT drops only those with a combining
    class, so it keeps U+FE0F (emoji presentation) inside the surface text of an <unk>."""
    for text in ADVERSARIAL:
        expected = encode_pieces(albert, preprocess(text))
        got = tokenizer.encode(text, add_special_tokens=False).tokens
        if "\ufe0f" in text:
            assert got != expected
            expected = [p.replace("\ufe0f", "") for p in expected]
        assert got == expected, text


def test_offsets_map_back_to_the_exact_characters(tokenizer) -> None:
    for text in ADVERSARIAL:
        _assert_offsets_point_at_the_text(tokenizer, text)


def test_identical_pieces_on_at_least_995_permille_of_ncbi_sentences(albert, tokenizer) -> None:
    sentences = ncbi_sentences()
    assert len(sentences) > 5000
    same = sum(
        tokenizer.encode(s, add_special_tokens=False).tokens == encode_pieces(albert, preprocess(s))
        for s in sentences
    )
    assert same / len(sentences) >= 0.995
    for sentence in sentences[:500]:
        _assert_offsets_point_at_the_text(tokenizer, sentence)


def test_ids_are_the_sentencepiece_ids_with_cls_and_sep(albert, tokenizer) -> None:
    text = "Germline BRCA1 mutations (17q21) predispose to breast cancer."
    expected = [albert.piece_to_id(p) for p in encode_pieces(albert, preprocess(text))]
    cls, sep = albert.piece_to_id("[CLS]"), albert.piece_to_id("[SEP]")
    assert tokenizer.encode(text).ids == [cls, *expected, sep]


def test_special_tokens_in_the_text(albert, tokenizer) -> None:
    """Literal "[SEP]" in the input becomes the special token, as in every Hugging Face
    tokenizer (SentencePiece spells it out as ▁ [ se p ]); PubMed text never holds it."""
    encoding = tokenizer.encode(SPECIAL_IN_TEXT, add_special_tokens=False)
    sep = encoding.ids.index(albert.piece_to_id("[SEP]"))
    start, end = encoding.offsets[sep]
    assert SPECIAL_IN_TEXT[start:end] == "[SEP]"


def test_cased_models_keep_case() -> None:
    cased = build_tokenizer(read_model(SPM), lowercase=False)
    assert cased.normalizer.normalize_str("BRCA1 Ménière") == "BRCA1 Meniere"


def test_not_a_sentencepiece_model(tmp_path: Path) -> None:
    path = tmp_path / "vocab.model"
    path.write_text("[PAD]\n[UNK]\n")
    with pytest.raises(ExportError, match="not a SentencePiece model"):
        read_model(path)
