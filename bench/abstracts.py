"""Real PubMed abstracts for benchmarks: the NCBI disease corpus, read in place."""

from __future__ import annotations

from pathlib import Path

NCBI_ABSTRACTS = Path(__file__).resolve().parents[2] / "shared/data/bioner/ncbi-disease/abstracts"


def read_pubtator_texts(path: Path) -> list[str]:
    """title + " " + abstract of every document in a PubTator file."""
    texts: list[str] = []
    title = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if "|t|" in line:
            title = line.split("|t|", 1)[1]
        elif "|a|" in line:
            texts.append(f"{title} {line.split('|a|', 1)[1]}")
    return texts


def ncbi_abstracts() -> list[str]:
    if not NCBI_ABSTRACTS.is_dir():
        raise SystemExit(f"benchmark data not found: {NCBI_ABSTRACTS}")
    return read_pubtator_texts(NCBI_ABSTRACTS / "train.pubtator") + read_pubtator_texts(
        NCBI_ABSTRACTS / "devel.pubtator"
    )
