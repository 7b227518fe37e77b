"""Shared helpers for the deployment checks in tests/deploy.

Nothing here needs a Docker engine or the network: Dockerfiles are parsed,
PromQL is scanned for metric and label names, and external validators
(hadolint, promtool, docker-compose) are required: `.ci/run` and the dev extra install
them, and a missing one fails its test with the command that installs it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
K8S = REPO / "deploy" / "k8s"

# --------------------------------------------------------------------------
# The metrics biotag exports (the service's contract with the dashboards,
# alerts and autoscaler). test_cpu_image_replay checks this table against a
# live /metrics, so it cannot silently drift from the service.
# name -> (type, labels)
EXPORTED_METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "biotag_http_requests_total": ("counter", frozenset({"route", "method", "status"})),
    "biotag_http_request_duration_seconds": ("histogram", frozenset({"route"})),
    "biotag_queue_depth": ("gauge", frozenset({"bundle"})),
    "biotag_queue_wait_seconds": ("histogram", frozenset({"bundle"})),
    "biotag_batch_size": ("histogram", frozenset({"bundle"})),
    "biotag_batch_tokens": ("histogram", frozenset({"bundle"})),
    "biotag_batch_padding_ratio": ("histogram", frozenset({"bundle"})),
    "biotag_inference_duration_seconds": ("histogram", frozenset({"bundle"})),
    "biotag_tokens_total": ("counter", frozenset({"bundle"})),
    "biotag_documents_total": ("counter", frozenset()),
    "biotag_entities_total": ("counter", frozenset({"model", "type"})),
    "biotag_rejections_total": ("counter", frozenset({"reason"})),
    "biotag_model_info": ("gauge", frozenset({"model", "bundle", "precision", "provider"})),
    "biotag_ready": ("gauge", frozenset()),
}

REJECTION_REASONS = frozenset(
    {
        "queue_full",
        "request_too_large",
        "too_many_documents",
        "document_too_large",
        "validation_error",
        "unknown_model",
        "not_ready",
    }
)

# Labels Prometheus attaches to every scraped series (static config, or the
# Prometheus Operator's ServiceMonitor / pod discovery).
TARGET_LABELS = frozenset(
    {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
)


def series_names() -> dict[str, frozenset[str]]:
    """Every series name the service exposes -> labels it may carry."""
    out: dict[str, frozenset[str]] = {}
    for name, (kind, labels) in EXPORTED_METRICS.items():
        if kind == "histogram":
            out[f"{name}_bucket"] = labels | {"le"}
            out[f"{name}_sum"] = labels
            out[f"{name}_count"] = labels
        else:
            out[name] = labels
    return out


_METRIC_RE = re.compile(r"\b(biotag_[A-Za-z0-9_]+)\s*(\{[^}]*\})?")
_MATCHER_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING_RE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_TEMPLATE_RE = re.compile(r"<<[^>]*>>")  # prometheus-adapter Go templates


@dataclass
class PromqlProblems:
    unknown_metrics: set[str] = field(default_factory=set)
    unknown_labels: set[tuple[str, str]] = field(default_factory=set)


def check_promql(expr: str) -> PromqlProblems:
    """Metric names unknown to the service, and label names no referenced metric has."""
    problems = PromqlProblems()
    known = series_names()
    expr = _TEMPLATE_RE.sub("", expr)
    referenced: set[str] = set()
    for match in _METRIC_RE.finditer(expr):
        name, selector = match.group(1), match.group(2) or ""
        if name not in known:
            problems.unknown_metrics.add(name)
            continue
        referenced.add(name)
        for label in _MATCHER_RE.findall(selector):
            if label not in known[name] | TARGET_LABELS:
                problems.unknown_labels.add((name, label))
    available = set(TARGET_LABELS) | {"le"}
    for name in referenced:
        available |= known[name]
    for group in _GROUPING_RE.findall(expr):
        for label in (part.strip() for part in group.split(",")):
            if label and label not in available:
                problems.unknown_labels.add(("<grouping>", label))
    return problems


def metric_families(expr: str) -> set[str]:
    """The exported metric families an expression reads (histogram suffixes stripped)."""
    out = set()
    for name in (m.group(1) for m in _METRIC_RE.finditer(_TEMPLATE_RE.sub("", expr))):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        out.add(base if base in EXPORTED_METRICS else name)
    return out


# --------------------------------------------------------------------------
# Dockerfile parsing: enough of the syntax for our own files (line
# continuations, comments, exec/shell form, multi-stage) to let the tests
# reason about, and replay, what an image build does.


@dataclass
class Instruction:
    keyword: str  # upper case
    value: str  # the rest of the line, continuations joined
    line: int

    def exec_form(self) -> list[str] | None:
        try:
            parsed = json.loads(self.value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, list) else None

    def words(self) -> list[str]:
        return shlex.split(self.value)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """ENV values in order (later wins), `${VAR}` left unexpanded."""
        out: dict[str, str] = {}
        for ins in self.all("ENV"):
            for word in ins.words():
                key, _, value = word.partition("=")
                out[key] = value
        return out


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]  # global ARGs (before the first FROM) -> default
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"{self.path.name} has no stage named {name!r}")

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def resolve(self, value: str) -> str:
        return re.sub(
            r"\$\{(\w+)\}|\$(\w+)",
            lambda m: self.args.get(m.group(1) or m.group(2), m.group(0)),
            value,
        )


def parse_dockerfile(path: Path) -> Dockerfile:
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append((start, buffer + stripped))
        buffer = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, text in logical:
        keyword, _, value = text.partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "FROM":
            words = value.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name, instructions=[]))
        elif not stages:
            if keyword == "ARG":
                key, _, default = value.partition("=")
                args[key] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, value, number))
    return Dockerfile(path, args, stages)


def pip_install_steps(stage: Stage) -> list[Instruction]:
    return [i for i in stage.all("RUN") if re.search(r"\bpip\b.*\binstall\b", i.value)]


def dockerignore_allows(ignore_file: Path, relpath: str) -> bool:
    """Whether a path survives a `*` + `!allow` style .dockerignore (last match wins)."""
    allowed = False
    for raw in ignore_file.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.rstrip("/")
        if pattern == "*" or relpath == pattern or relpath.startswith(pattern + "/"):
            allowed = negate
    return allowed


# --------------------------------------------------------------------------
# Tools and files


def require_tool(name: str, install: str) -> str:
    """A console tool on PATH or next to this interpreter (the venv); fails the test if absent."""
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(sys.executable).parent / name
    if candidate.exists() and os.access(candidate, os.X_OK):
        return str(candidate)
    pytest.fail(f"{name} is required for this check: {install}")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def compose_default(value: str) -> str:
    """Interpolate `${VAR:-default}` / `${VAR-default}` as compose does with an empty env."""
    return re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", str(value))


def duration_seconds(value: str) -> float:
    """Compose/Go style durations: 45s, 1m30s, 2m."""
    total, matched = 0.0, False
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value):
        matched = True
        total += float(amount) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    if not matched:
        raise ValueError(f"not a duration: {value!r}")
    return total


def walk_dashboard_targets(
    panels: Iterable[dict[str, Any]],
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every query target, rows' nested panels included."""
    for panel in panels:
        yield from walk_dashboard_targets(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield panel, target


def parse_constraints(path: Path) -> dict[str, str]:
    """constraints.txt -> {normalised name: exact version}.

    Raises on lines that are not exact pins (pip rejects editables and URLs as constraints).
    """
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(
            r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;]+)(\s*;.*)?", line
        )
        if not match:
            raise ValueError(f"{path.name}:{number}: not an exact `name==version` pin: {raw!r}")
        pins[normalise(match.group(1))] = match.group(3)
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def copy_build_context(stage: Stage, dest: Path) -> Path:
    """Lay out what the stage's context COPYs under `dest`, as the builder would.

    Destinations are taken relative to the stage's WORKDIR (mapped to `dest`);
    `--from=` copies are skipped. Returns the directory standing for WORKDIR.
    """
    workdirs = stage.all("WORKDIR")
    assert len(workdirs) == 1, "the replay expects one WORKDIR in the build stage"
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for ins in stage.all("COPY"):
        words = ins.words()
        if words[0].startswith("--"):
            continue
        *sources, target = words
        if target.startswith("/"):
            raise AssertionError(
                f"line {ins.line}: absolute COPY target {target} in the build stage"
            )
        target_dir = dest / target
        for src in sources:
            source = REPO / src
            if target.endswith("/") or len(sources) > 1 or target in (".", "./"):
                out = target_dir / Path(src).name
            else:
                out = target_dir
            out.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, out, ignore=ignore)
            else:
                shutil.copy2(source, out)
    return dest
