"""Every export test needs the export extra (torch, transformers, onnx). A run that deselects
slow tests (`pytest -m "not slow"`) in an environment without it does not import these modules
at all; any other run without it fails on them, as it should."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_EXPORT_EXTRA = ("torch", "transformers", "onnx")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    fast_only = config.getoption("markexpr") == "not slow"
    missing = any(importlib.util.find_spec(name) is None for name in _EXPORT_EXTRA)
    return True if fast_only and missing else None
