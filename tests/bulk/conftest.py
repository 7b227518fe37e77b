"""Shared inputs of the bulk tests: the real MEDLINE samples, read in place."""

from __future__ import annotations

from pathlib import Path

import pytest

PUBMED_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "pubmed"
MEDLINE_2016 = PUBMED_DIR / "medline16n0902.xml.gz"
PUBMED_CURRENT = PUBMED_DIR / "pubmed-current-sample.xml.gz"
REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="session")
def pubmed_samples() -> tuple[Path, Path]:
    if not (MEDLINE_2016.is_file() and PUBMED_CURRENT.is_file()):
        pytest.fail(f"the shared PubMed samples are missing from {PUBMED_DIR}")
    return MEDLINE_2016, PUBMED_CURRENT
