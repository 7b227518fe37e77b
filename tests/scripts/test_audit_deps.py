"""scripts/audit-deps as `make audit` runs it: a child process on real constraints files, with
the real pip-audit service attempt (unreachable here and in CI: it falls back) and the real
safety-db database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "audit-deps"
# Jinja2 2.10: the urlize ReDoS, CVE-2020-28493 (pyup.io-39525), fixed in 2.11.3; known to
# safety-db and to PyPI's advisories alike
OLD_JINJA = "Jinja2==2.10\n"
CVE = "CVE-2020-28493"


def _audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )


def _files(tmp_path: Path, constraints: str, allowlist: str = "") -> list[str]:
    (tmp_path / "constraints.txt").write_text(constraints, encoding="utf-8")
    (tmp_path / "allow.toml").write_text(allowlist, encoding="utf-8")
    return [
        "--constraints",
        str(tmp_path / "constraints.txt"),
        "--allowlist",
        str(tmp_path / "allow.toml"),
    ]


def test_the_real_pins_pass_and_say_which_database() -> None:
    result = _audit()  # constraints.txt and the committed audit-allowlist.toml
    assert result.returncode == 0, result.stdout + result.stderr
    assert "database: " in result.stdout
    if "online audit unavailable" in result.stdout:  # here: PyPI's JSON API answers 404
        assert "safety-db 2021.7.17" in result.stdout
        assert "advisories up to 2021-07-01" in result.stdout  # its age, said every time
    assert "no known vulnerability" in result.stdout


def test_a_pin_with_a_known_advisory_fails_naming_it(tmp_path: Path) -> None:
    result = _audit(*_files(tmp_path, "requests==2.34.2\n" + OLD_JINJA))
    assert result.returncode == 1, result.stdout + result.stderr
    vulnerable = [line for line in result.stdout.splitlines() if line.startswith("VULNERABLE")]
    assert any(CVE in line and "jinja2==2.10" in line for line in vulnerable), result.stdout
    assert not any("requests" in line for line in vulnerable)


def test_the_offline_database_knows_old_django(tmp_path: Path) -> None:
    result = _audit("--offline", *_files(tmp_path, "Django==1.11.0\n"))
    assert result.returncode == 1
    assert "CVE-2019-19844" in result.stdout  # the account takeover fixed in 1.11.27
    assert "safety-db" in result.stdout


def test_an_allow_listed_advisory_passes_with_its_reason(tmp_path: Path) -> None:
    allow = f'[[advisory]]\nid = "{CVE}"\npackage = "jinja2"\nreason = "urlize is never used"\n'
    result = _audit(*_files(tmp_path, OLD_JINJA, allow))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "allowed: jinja2==2.10" in result.stdout
    assert "urlize is never used" in result.stdout
    other_package = allow.replace('package = "jinja2"', 'package = "django"')
    assert _audit(*_files(tmp_path, OLD_JINJA, other_package)).returncode == 1  # per package


def test_an_allow_list_entry_needs_a_reason(tmp_path: Path) -> None:
    result = _audit(
        *_files(tmp_path, OLD_JINJA, f'[[advisory]]\nid = "{CVE}"\npackage = "jinja2"\n')
    )
    assert result.returncode == 2
    assert "needs id, package and reason" in result.stderr


def test_a_range_is_not_an_auditable_pin(tmp_path: Path) -> None:
    result = _audit(*_files(tmp_path, "numpy>=1.26\n"))
    assert result.returncode == 2
    assert "not an exact pin" in result.stderr
