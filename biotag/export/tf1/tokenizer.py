"""ALBERT's SentencePiece ``.model`` -> a fast ``tokenizer.json`` that tokenizes like ALBERT.

Not transformers' converter: in v5 it makes SentencePiece's user-defined symbols (ALBERT's
``( ) " - . – £ €``) added tokens, which split the text first and give each remaining chunk a
``▁`` prefix (``IL-6`` -> ``▁il - ▁6`` where SentencePiece gives ``▁il - 6``); on ALBERT-style
models that changed most sentences. Here the pieces go into a plain Unigram model (user-defined
pieces score 0, so the lattice always keeps them whole) behind ALBERT's preprocessing
(google-research ``tokenization.preprocess_text``: whitespace collapsed, ````/``''`` -> ``"``,
NFKD with accents dropped, lower-cased) and the model's own precompiled normalizer. Pieces
ending in digit + comma are penalised as ``encode_pieces`` re-splits them (``1,200`` ->
``1`` ``,`` ``200``). The ``.model`` is decoded by hand: no ``sentencepiece`` or protobuf at
export time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    normalizers,
    pre_tokenizers,
    processors,
)
from tokenizers.models import Unigram

from biotag.export.errors import ExportError
from biotag.export.tf1.wire import WireError, fields, first_bytes, first_int, float32

SPECIAL_TOKENS = ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6
_UNIGRAM = 1
DIGIT_COMMA_PENALTY = 100.0
# what Python's str.split() splits on (preprocess_text collapses it before anything else)
_PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class SentencePieceModel:
    pieces: list[tuple[str, float, int]]  # piece, score, type
    unk_id: int
    precompiled_charsmap: bytes

    def id_of(self, piece: str) -> int:
        for index, (text, _, _) in enumerate(self.pieces):
            if text == piece:
                return index
        raise ExportError(f"the SentencePiece model has no {piece} piece (ALBERT's models do)")


def read_model(path: Path) -> SentencePieceModel:
    """Decode the ``ModelProto`` fields a Unigram tokenizer needs."""
    try:
        proto = fields(path.read_bytes())
        pieces = []
        for raw in proto.get(1, []):
            piece = fields(raw)  # type: ignore[arg-type]
            score = piece.get(2)
            pieces.append(
                (
                    first_bytes(piece, 1).decode("utf-8"),
                    float32(score[0]) if score else 0.0,
                    first_int(piece, 3, _NORMAL),
                )
            )
        trainer = fields(first_bytes(proto, 2))
        normalizer = fields(first_bytes(proto, 3))
    except (OSError, WireError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} is not a SentencePiece model: {exc}") from exc
    if not pieces:
        raise ExportError(f"{path} is not a SentencePiece model (no pieces)")
    if first_int(trainer, 3, _UNIGRAM) != _UNIGRAM:
        raise ExportError(f"{path} is not a Unigram SentencePiece model (ALBERT's are)")
    if first_int(trainer, 35, 0):
        raise ExportError(f"{path} uses byte fallback, which ALBERT's models never do")
    return SentencePieceModel(pieces, first_int(trainer, 40, 0), first_bytes(normalizer, 2))


def _score(piece: str, score: float, kind: int) -> float:
    if kind in (_CONTROL, _UNUSED, _BYTE):
        return score - 1e4  # never produced from text
    if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
        return score - DIGIT_COMMA_PENALTY
    return score


def build_tokenizer(model: SentencePieceModel, lowercase: bool) -> Tokenizer:
    """The tokenizer, with ``[CLS] ... [SEP]`` around each sequence as ALBERT was trained."""
    vocab = [(piece, _score(piece, score, kind)) for piece, score, kind in model.pieces]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=model.unk_id, byte_fallback=False))
    collapse = normalizers.Replace(Regex(f"[{_PY_WHITESPACE}]+"), " ")
    steps: list[normalizers.Normalizer] = [
        collapse,
        normalizers.Strip(),
        normalizers.Replace("``", '"'),
        normalizers.Replace("''", '"'),
        normalizers.NFKD(),
        normalizers.StripAccents(),
    ]
    if lowercase:
        steps.append(normalizers.Lowercase())
    if model.precompiled_charsmap:
        steps.append(normalizers.Precompiled(model.precompiled_charsmap))
    steps += [collapse, normalizers.Strip()]  # SentencePiece's remove_extra_whitespaces
    tokenizer.normalizer = normalizers.Sequence(steps)
    # words split first so that no token covers a space: a word's first token starts at its
    # first character, which is where the service looks for it
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    # as in every Hugging Face tokenizer, "[SEP]" typed in the text becomes the special token
    # (SentencePiece spells it out); tokenizer.json cannot store `encode_special_tokens`
    present = [token for token in SPECIAL_TOKENS if any(p[0] == token for p in model.pieces)]
    tokenizer.add_special_tokens([AddedToken(token, special=True) for token in present])
    cls, sep = model.id_of("[CLS]"), model.id_of("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return tokenizer
