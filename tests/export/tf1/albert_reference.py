"""google-research/albert's own tokenization steps, the oracle the tokenizer tests compare with.

``preprocess_text`` and ``encode_pieces`` as in google-research/albert ``tokenization.py``
(the functions every ALBERT fine-tuning script ran, BioALBERT's included), over the
``sentencepiece`` library.
"""

from __future__ import annotations

import unicodedata

import sentencepiece as spm


def preprocess(text: str, lower: bool = True) -> str:
    out = " ".join(text.strip().split()).replace("``", '"').replace("''", '"')
    out = "".join(c for c in unicodedata.normalize("NFKD", out) if not unicodedata.combining(c))
    return out.lower() if lower else out


def encode_pieces(sp: spm.SentencePieceProcessor, text: str) -> list[str]:
    """SentencePiece's pieces, with ALBERT's re-split of pieces ending digit + comma."""
    new: list[str] = []
    for piece in sp.encode(text, out_type=str):
        if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
            cur = sp.encode(piece[:-1].replace("▁", ""), out_type=str)
            if piece[0] != "▁" and cur[0][0] == "▁":
                cur = cur[1:] if len(cur[0]) == 1 else [cur[0][1:], *cur[1:]]
            new += [*cur, piece[-1]]
        else:
            new.append(piece)
    return new
