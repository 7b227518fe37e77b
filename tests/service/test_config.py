"""Settings: every one documented for users and settable from the environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from biotag.service.config import Settings
from tests.support.cli import run_biotag

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_described_and_in_the_readme_table(name: str) -> None:
    field = Settings.model_fields[name]
    assert field.description
    assert f"BIOTAG_{name.upper()}" in README.read_text(encoding="utf-8")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOTAG_WORKERS", "3")
    monkeypatch.setenv("BIOTAG_CUDA_PROVIDER_OPTIONS", '{"gpu_mem_limit": "1073741824"}')
    monkeypatch.setenv("BIOTAG_CUDA_WIDTH_MULTIPLE", "0")
    settings = Settings()
    assert settings.workers == 3
    assert settings.cuda_provider_options == {"gpu_mem_limit": "1073741824"}
    assert settings.cuda_width_multiple == 0


def _readme_setting_rows() -> dict[str, str]:
    readme = README.read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`BIOTAG_"):
            for variable in re.findall(r"`(BIOTAG_[A-Z_]+)`", cells[0]):
                rows[variable] = cells[1]
    return rows


def _as_readme_default(value: object) -> str | None:
    """How the README writes a plain default; None for those it describes in words."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, int | str):
        return f"`{value}`"
    return None


def test_readme_lists_every_setting_with_its_default() -> None:
    rows = _readme_setting_rows()
    variables = {f"BIOTAG_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert set(rows) == set(variables)
    for variable, field in variables.items():
        expected = _as_readme_default(field.default)
        if expected is not None:
            parts = rows[variable].split(" / ")  # BIOTAG_HOST / BIOTAG_PORT share a row
            assert any(part.startswith(expected) for part in parts), variable


def test_serve_help_lists_every_environment_variable() -> None:
    shown = run_biotag("serve", "--help", timeout=60)
    assert shown.returncode == 0, shown.stderr
    for name in Settings.model_fields:
        assert f"BIOTAG_{name.upper()}" in shown.stdout
