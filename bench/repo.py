"""The repository's root, and the environment that runs its code in a child process."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the repository importable and output unbuffered."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(":") if p]
    if str(REPO) not in paths:
        paths.append(str(REPO))
    env["PYTHONPATH"] = ":".join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env | (extra or {})
