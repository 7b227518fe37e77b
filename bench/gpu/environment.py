"""What the machine has: CUDA libraries, package versions, the GPU, the benchmark data."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import random
import shutil
import site
import subprocess
import sys
from pathlib import Path
from typing import Any

import biotag
from bench.repo import REPO
from biotag.export.samples import SAMPLE_TEXTS

CHILD_FLAG = "BIOTAG_GPU_CHECK_CHILD"
# where docs/gpu.md tells the later session to put the abstracts (.gpu-parts/ is git-ignored)
CARRIED_DATA = REPO / ".gpu-parts" / "ncbi"
MODULES = (
    "numpy",
    "onnxruntime",
    "onnx",
    "torch",
    "transformers",
    "tokenizers",
    "sentencepiece",
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "uvicorn",
    "uvloop",
    "httptools",
    "orjson",
    "httpx",
    "anyio",
    "typer",
    "rich",
    "prometheus_client",
    "opentelemetry",
    "typing_extensions",
)


def cuda_library_dirs() -> list[str]:
    """Folders holding CUDA / cuDNN shared libraries from pip's nvidia-* packages, then CUDA's."""
    roots = [*sys.path, *site.getsitepackages()]
    found: list[str] = []
    for root in roots:
        base = Path(root or ".") / "nvidia"
        if base.is_dir():
            found += [str(p) for p in sorted(base.glob("*/lib")) if p.is_dir()]
    for system in ("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"):
        if Path(system).is_dir():
            found.append(system)
    return list(dict.fromkeys(found))


def reexec_once() -> None:
    """Restart this process once with LD_LIBRARY_PATH and PYTHONPATH set for CUDA and biotag.

    The dynamic loader reads LD_LIBRARY_PATH only at start-up, and the service and exporter
    run as child processes that inherit the environment, so it is set before anything runs.
    """
    if os.environ.get(CHILD_FLAG):
        return
    env = dict(os.environ)
    env[CHILD_FLAG] = "1"
    libraries = cuda_library_dirs()
    if libraries:
        env["LD_LIBRARY_PATH"] = ":".join([*libraries, *filter(None, [env.get("LD_LIBRARY_PATH")])])
    env["PYTHONPATH"] = ":".join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    # nothing can be fetched on the GPU machine: never let transformers try (and wait)
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    print(f"re-executing with {len(libraries)} CUDA library folders on LD_LIBRARY_PATH", flush=True)
    try:
        os.execve(sys.executable, [sys.executable, "-m", "bench.gpu_check", *sys.argv[1:]], env)
    except OSError as exc:  # carry on in this process; CUDA may still load
        print(f"re-exec failed ({exc}); continuing without it", flush=True)


def module_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in MODULES:
        try:
            module = importlib.import_module(name)
            version = getattr(module, "__version__", None)
            if version is None:
                dist = {"opentelemetry": "opentelemetry-api"}.get(name, name)
                version = importlib.metadata.version(dist)
            where = str(Path(getattr(module, "__file__", "") or "?").parent)
            versions[name] = f"{version} ({where})"
        except Exception as exc:  # record what is missing, do not stop
            versions[name] = f"MISSING: {type(exc).__name__}: {exc}"[:300]
    return versions


def nvidia_smi(*query: str) -> str | None:
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return None
    try:
        done = subprocess.run(
            [executable, *query], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"failed: {exc}"
    return (done.stdout + done.stderr).strip()


def describe(device: str) -> dict[str, Any]:
    import onnxruntime as ort

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "cpu_count": os.cpu_count(),
        "device_asked": device,
        "onnxruntime_providers": ort.get_available_providers(),
        "onnxruntime_file": ort.__file__,
        "biotag_version": biotag.__version__,
        "LD_LIBRARY_PATH": os.environ.get("LD_LIBRARY_PATH", ""),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "versions": module_versions(),
    }
    if device == "cuda":
        info["gpu"] = nvidia_smi(
            "--query-gpu=name,driver_version,memory.total,memory.used", "--format=csv,noheader"
        )
    return info


def cuda_smoke(work: Path, device_id: int) -> dict[str, Any]:
    """A one-MatMul graph on CUDA with CPU fallback forbidden; preloads CUDA DLLs if needed."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    path = work / "smoke.onnx"
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "smoke",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor("w", TensorProto.FLOAT, [64, 64], [0.01] * 4096)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))

    def attempt() -> list[str]:
        options = ort.SessionOptions()
        options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
        session = ort.InferenceSession(
            str(path),
            options,
            providers=[("CUDAExecutionProvider", {"device_id": device_id})],  # no CPU EP: strict
        )
        session.run(None, {"x": np.ones((4, 64), dtype=np.float32)})
        return session.get_providers()

    result: dict[str, Any] = {}
    try:
        result["providers"] = attempt()
        result["ok"] = True
    except Exception as exc:
        result["first_error"] = f"{type(exc).__name__}: {exc}"[:2000]
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()
            result["preload_dlls"] = "called"
            result["providers"] = attempt()  # raises: the stage records the error
            result["ok"] = True
        else:
            raise
    return result


def _read_texts(directory: Path) -> list[str]:
    from bench.abstracts import read_pubtator_texts

    files = [directory / "train.pubtator", directory / "devel.pubtator"]
    return [text for path in files if path.is_file() for text in read_pubtator_texts(path)]


def find_abstracts(explicit: Path | None) -> tuple[list[str], str]:
    """The NCBI abstracts, wherever they travelled; synthetic text (said so) if none did."""
    from bench import abstracts

    candidates = [
        explicit,
        abstracts.NCBI_ABSTRACTS,
        CARRIED_DATA,
        REPO / "shared/data/bioner/ncbi-disease/abstracts",
    ]
    for candidate in candidates:
        if candidate is not None and (candidate / "train.pubtator").is_file():
            texts = _read_texts(candidate)
            if texts:
                abstracts.NCBI_ABSTRACTS = candidate  # so build_albert_base trains on them
                return texts, f"NCBI disease abstracts from {candidate}"
    looked = ", ".join(str(c) for c in candidates if c is not None)
    return synthetic_abstracts(), f"SYNTHETIC text: NCBI abstracts not found (looked in {looked})"


def synthetic_abstracts(count: int = 690, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(SAMPLE_TEXTS, k=rng.randint(6, 14))) for _ in range(count)]
