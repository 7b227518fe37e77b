"""Replay the CPU image's build outside Docker, then run the service it installs.

The steps are parsed from docker/Dockerfile.cpu, not copied: the `build`
stage's venv creation, COPY layout, ENV and its one `pip install` line run in
a fresh venv under tmp_path (from PyPI, honouring constraints.txt), and the
server is started the way the image starts it (ENTRYPOINT + CMD, with the
runtime stage's ENV) against the test suite's tiny bundles. A change to the
recipe that breaks the install, the CLI or the image's settings fails here.
A build step the replay does not understand fails too, on purpose.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from deploy_support import (
    DOCKER,
    EXPORTED_METRICS,
    REPO,
    copy_build_context,
    normalise,
    parse_constraints,
    parse_dockerfile,
)

pytestmark = pytest.mark.slow

VENV_IN_IMAGE = "/opt/venv"
START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def _http(
    method: str, url: str, body: dict | None = None, timeout: float = 30
) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"} if data else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


@pytest.fixture(scope="module")
def replayed_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CPU image's /opt/venv, built by replaying the Dockerfile's build stage."""
    df = parse_dockerfile(DOCKER / "Dockerfile.cpu")
    build = df.stage("build")
    root = tmp_path_factory.mktemp("cpu-image")
    venv = root / "venv"
    workdir = copy_build_context(build, root / "src")

    # The host's pip settings (index mirror, certificates) still apply, as a
    # builder's would; the Dockerfile's ENV goes on top, in order.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    for ins in build.instructions:
        if ins.keyword == "ENV":
            for word in ins.words():
                key, _, value = word.partition("=")
                env[key] = _expand(value.replace(VENV_IN_IMAGE, str(venv)), env)
        elif ins.keyword == "RUN":
            command = ins.value
            if re.fullmatch(r"python3? -m venv " + re.escape(VENV_IN_IMAGE), command):
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            elif re.search(r"\bpip\b.*\binstall\b", command):
                subprocess.run(
                    ["/bin/sh", "-c", command.replace(VENV_IN_IMAGE, str(venv))],
                    cwd=workdir,
                    env=env,
                    check=True,
                    timeout=900,
                )
            else:
                pytest.fail(
                    f"Dockerfile.cpu:{ins.line}: build step the replay does not know: {command}"
                )
        elif ins.keyword not in ("COPY", "WORKDIR", "ARG", "LABEL"):
            pytest.fail(
                f"Dockerfile.cpu:{ins.line}: instruction the replay does not know: {ins.keyword}"
            )
    assert (venv / "bin" / "biotag").exists(), "the install did not provide the `biotag` command"
    return venv


def test_installed_packages_are_exactly_the_pinned_ones(replayed_venv: Path) -> None:
    freeze = subprocess.run(
        [str(replayed_venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    installed = {normalise(p["name"]): p["version"] for p in json.loads(freeze.stdout)}
    pins = parse_constraints(REPO / "constraints.txt")
    for name in ("torch", "transformers", "onnxruntime-gpu"):
        assert name not in installed, f"the CPU image would carry {name}"
    assert "onnxruntime" in installed
    # pip and setuptools come with the venv itself, not from the install step.
    unpinned = {
        n: v
        for n, v in installed.items()
        if n not in ("biotag", "pip", "setuptools", "wheel") and pins.get(n) != v
    }
    assert not unpinned, f"installed without an exact pin in constraints.txt: {unpinned}"


def test_service_from_replayed_image_tags(
    replayed_venv: Path, tiny_bundles_dir: Path, tmp_path: Path
) -> None:
    df = parse_dockerfile(DOCKER / "Dockerfile.cpu")
    runtime = df.final
    command = runtime.all("ENTRYPOINT")[0].exec_form() + runtime.all("CMD")[0].exec_form()
    port = _free_port()

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BIOTAG_", "VIRTUAL_ENV", "PYTHON"))
    }
    for key, value in runtime.env().items():
        env[key] = _expand(value.replace(VENV_IN_IMAGE, str(replayed_venv)), env)
    # Only what differs between a container and this test: paths and port.
    env.update({"BIOTAG_MODELS_DIR": str(tiny_bundles_dir), "BIOTAG_PORT": str(port)})
    executable = str(replayed_venv / "bin" / command[0])
    args = [
        executable,
        *command[1:],
        "--models-dir",
        str(tiny_bundles_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log_path = tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        server = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            status = None
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    status, _ = _http("GET", f"{base}/readyz", timeout=2)
                except OSError:
                    status = None
                if status == 200:
                    break
                time.sleep(0.5)
            assert status == 200, (
                f"/readyz never became 200 (last {status}):\n{log_path.read_text()}"
            )

            # The image's HEALTHCHECK script agrees.
            health = subprocess.run(
                [str(replayed_venv / "bin" / "python"), str(DOCKER / "healthcheck.py")],
                env=env,
                timeout=10,
                check=False,
            )
            assert health.returncode == 0

            status, body = _http(
                "POST",
                f"{base}/tag",
                {
                    "documents": [
                        {"id": "d1", "text": "Patients with cystic fibrosis and type 2 diabetes."}
                    ],
                },
            )
            assert status == 200, body
            assert "documents" in json.loads(body)

            # The metrics the dashboard, alerts and autoscaler rely on exist.
            status, metrics = _http("GET", f"{base}/metrics")
            assert status == 200
            types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", metrics.decode(), flags=re.MULTILINE))
            for name, (kind, _labels) in EXPORTED_METRICS.items():
                family = name.removesuffix("_total") if kind == "counter" else name
                assert types.get(family) == kind or types.get(name) == kind, (
                    f"{name} ({kind}) not exported"
                )
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
            drain = float(runtime.env()["BIOTAG_SHUTDOWN_TIMEOUT_S"])
            try:
                returncode = server.wait(timeout=drain + 15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                pytest.fail(
                    f"no exit within the drain timeout after SIGTERM:\n{log_path.read_text()}"
                )
    # uvicorn re-raises SIGTERM after its graceful shutdown, so a clean drain
    # ends either with 0 or with "killed by SIGTERM"; anything else is a crash.
    assert returncode in (0, -signal.SIGTERM), (
        f"unclean exit {returncode} on SIGTERM:\n{log_path.read_text()}"
    )
