"""What the reliability bench runs against: a real `biotag serve` (one bundle, N workers), and
the processes behind it (workers, the shared engine) found through /proc (no psutil here)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import http_bench
from bench.repo import REPO

BUNDLES = ("default", "albert-base")
WORK = REPO / "build" / "bench" / "reliability"
READY_TIMEOUT_S = 300.0  # ALBERT-base with 2 workers on 2 shared cores loads slowly
# the checkpoint bench/core_path.py builds (random weights, minutes): shared, not rebuilt
_ALBERT_CHECKPOINT = REPO / "build" / "bench" / "albert-base-checkpoint"
_SERIAL = itertools.count()


@dataclass(frozen=True)
class Target:
    """One server configuration the parts run against."""

    bundle: str  # "default" | "albert-base"
    workers: int
    env: dict[str, str] = field(default_factory=dict)  # extra BIOTAG_* settings

    @property
    def name(self) -> str:
        """How the report names it: ``default/w1``."""
        return f"{self.bundle}/w{self.workers}"


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def descendants(self) -> list[int]:
        """Every live process below the server, depth first."""
        return descendants(self.pid)

    def worker_pids(self) -> list[int]:
        """The processes that accept HTTP connections: the server itself with one worker, its
        uvicorn workers otherwise (those holding a listening socket on the port)."""
        listeners = _listening_inodes(self.port)
        return [pid for pid in [self.pid, *self.descendants()] if _holds_any(pid, listeners)]

    def engine_pid(self) -> int | None:
        """The shared engine process (N workers, BIOTAG_SHARED_ENGINE true), if there is one: the
        multiprocessing child that is neither a worker nor the resource tracker."""
        workers = set(self.worker_pids())
        for pid in self.descendants():
            if pid in workers or pid == self.pid:
                continue
            command = _cmdline(pid)
            if "--multiprocessing-fork" in command and "resource_tracker" not in command:
                return pid
        return None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def models_dir_for(bundle: str, work: Path = WORK) -> Path:
    """A models folder serving exactly ``bundle``: the committed models/default (linked), or an
    ALBERT-base bundle exported once into ``work`` and reused."""
    if bundle == "default":
        folder = work / "models-default"
        link = folder / "default"
        if not link.exists():
            folder.mkdir(parents=True, exist_ok=True)
            link.symlink_to(REPO / "models" / "default", target_is_directory=True)
        return folder
    if bundle == "albert-base":
        folder = work / "models-albert-base"
        if not (folder / "albert-base" / "bundle.json").is_file():
            _export_albert_base(folder / "albert-base")
        return folder
    raise ValueError(f"unknown bundle {bundle!r}; one of {', '.join(BUNDLES)}")


def _export_albert_base(bundle: Path) -> None:
    from bench.albert_base import build_albert_base  # torch: only when the bundle is missing
    from bench.core_path import _export

    checkpoint = build_albert_base(_ALBERT_CHECKPOINT)
    # exported under its own name (the folder names the bundle and its head) in a side folder,
    # moved in when whole: an interrupted export is never taken for a bundle
    partial = bundle.parent.with_name(bundle.parent.name + ".partial") / bundle.name
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _export(checkpoint, partial)
    bundle.parent.mkdir(parents=True, exist_ok=True)
    partial.rename(bundle)
    with contextlib.suppress(OSError):
        partial.parent.rmdir()


def server_env(target: Target, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The service's own defaults (not the throughput bench's deep queue), then the target's
    settings, then the caller's."""
    return (
        {"BIOTAG_MAX_QUEUE_WINDOWS": "4096", "BIOTAG_LOG_LEVEL": "warning"}
        | target.env
        | (extra_env or {})
    )


@contextlib.contextmanager
def running(
    target: Target,
    work: Path = WORK,
    extra_env: dict[str, str] | None = None,
    wait_for_ready: bool = True,
) -> Iterator[Server]:
    """`python -m biotag.cli serve` for ``target`` on a free port, on the CPU (int8 where the
    bundle has it), stopped (SIGTERM, then SIGKILL) on exit. ``wait_for_ready`` False: yields
    once /healthz answers."""
    models_dir = models_dir_for(target.bundle, work)
    work.mkdir(parents=True, exist_ok=True)
    # one log per server: tests and bench parts may run servers of the same target at once
    log = (
        work / "logs" / f"serve-{target.bundle}-w{target.workers}-{os.getpid()}-{next(_SERIAL)}.log"
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    with http_bench.serve(
        models_dir,
        "cpu",
        "int8",
        log,
        READY_TIMEOUT_S,
        target.workers,
        server_env(target, extra_env),
        wait_for_ready=wait_for_ready,
    ) as (url, process):
        yield Server(url, process, log)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads'), [] once it is gone."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    for child in children(pid):
        found.append(child)
        found.extend(descendants(child))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening (state 0A) on ``port``, IPv4 and IPv6."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _holds_any(pid: int, inodes: set[str]) -> bool:
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for descriptor in descriptors:
        with contextlib.suppress(OSError):
            target = descriptor.readlink().name
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
    return False
