"""Settings: every one documented for users and settable from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from biotag.service.config import Settings

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
