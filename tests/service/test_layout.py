"""Who may import whom in biotag/service: the rooms of DESIGN.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import biotag

PACKAGE = Path(biotag.__file__).parent
SERVICE = "biotag.service"
# room -> module prefixes its code must never import
FORBIDDEN = {
    f"{SERVICE}.text": (
        f"{SERVICE}.inference",
        f"{SERVICE}.api",
        f"{SERVICE}.multiprocess",
        "onnxruntime",
        "asyncio",
        "fastapi",
        "starlette",
    ),
    f"{SERVICE}.inference": (f"{SERVICE}.api", f"{SERVICE}.multiprocess", "fastapi", "starlette"),
    SERVICE: ("torch", "transformers", "tensorflow", "biotag.export", "biotag.bulk"),
}


def imported_modules(source: str) -> set[str]:
    """Every module an import statement of ``source`` names, at any depth (lazy imports in
    functions count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(module: str, source: str) -> list[str]:
    found = []
    for room, forbidden in FORBIDDEN.items():
        if module != room and not module.startswith(f"{room}."):
            continue
        for name in sorted(imported_modules(source)):
            for prefix in forbidden:
                if name == prefix or name.startswith(f"{prefix}."):
                    found.append(f"{module} imports {name} ({room} must not import {prefix})")
    return found


def _modules() -> dict[str, Path]:
    return {
        ".".join(("biotag", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): path
        for path in PACKAGE.rglob("*.py")
    }


def test_every_room_exists() -> None:
    rooms = {p.name for p in (PACKAGE / "service").iterdir() if (p / "__init__.py").is_file()}
    assert rooms == {"api", "text", "inference", "multiprocess"}


def test_no_room_imports_what_it_must_not() -> None:
    problems = [
        problem
        for module, path in _modules().items()
        for problem in violations(module, path.read_text(encoding="utf-8"))
    ]
    assert problems == []


def test_a_forbidden_import_is_caught_wherever_it_stands() -> None:
    lazy = "def f():\n    import onnxruntime as ort\n    return ort\n"
    assert violations(f"{SERVICE}.text.decoding", lazy)
    upward = "from biotag.service.api.errors import ApiError\n"
    assert violations(f"{SERVICE}.inference.batcher", upward)
    assert violations(f"{SERVICE}.multiprocess.engine_server", "import torch\n")
    assert violations(f"{SERVICE}.text.formats", "from biotag.service import inference\n")
    assert not violations(f"{SERVICE}.api.routes", upward)
    assert not violations("biotag.export.graphs", "import torch\n")
