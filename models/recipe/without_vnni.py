"""Score a published bundle's int8 graph as a CPU without VNNI computes it, and record it.

ONNX Runtime picks its int8 kernels by CPUID. Without VNNI (AVX2 only) its u8 x s8 kernel adds
the products of two neighbouring weights in a saturating 16-bit sum, so full-range int8 weights
can compute other logits than on a VNNI CPU, where publishing measured them. A VNNI host can
still measure what such a CPU computes: under qemu-user with an AVX2-only CPU model
(``qemu-x86_64 -cpu Haswell``, Debian's ``qemu-user``) ONNX Runtime picks the same AVX2 kernels,
and a probe product proves it before anything is scored (255 x 127 summed over 64 pairs gives
2,072,640 exactly and 1,048,544 when the pairs saturate). On a CPU without VNNI it runs natively.

    python -m models.recipe.without_vnni record --bundle models/default --head species

records ``f1_without_vnni`` next to the int8 and fp32 F1 of every set each head was published
with (``models.recipe.scoring``) in
``bundle.json`` and fails if int8 there loses more than half an F1 point against fp32. The
service stops warning about a head on CPUs without VNNI once its figures carry one. Emulation
costs: LINNAEUS devel (4,078 sentences) takes about 25 minutes on 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from biotag.bundle import MAX_INT8_F1_LOSS, int8_loses_f1, read_manifest, write_manifest
from biotag.cpu import host_lacks_vnni
from models.recipe.corpora import DEFAULT_DATA_DIR
from models.recipe.scoring import evaluate_heads, scoring_sets, write_scoring_files

# an AVX2 CPU without VNNI (Intel 2013): ONNX Runtime's CPUID dispatch picks its AVX2 kernels
EMULATED_CPU = ("qemu-x86_64", "-cpu", "Haswell")
REPOSITORY = Path(__file__).resolve().parents[2]  # where ``-m models.recipe...`` imports from
PROBE_DEPTH = 64
EXACT_PRODUCT = 255 * 127 * PROBE_DEPTH
SATURATED_PRODUCT = 32_767 * (PROBE_DEPTH // 2)
console = Console()
app = typer.Typer(add_completion=False)


def probe_product() -> int:
    """One u8 x s8 product of ONNX Runtime's CPU int8 kernel: activations 255, weights 127."""
    import onnxruntime
    from onnx import TensorProto, helper

    weights = np.full((PROBE_DEPTH, 16), 127, np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["activations", "weights"], ["products"])],
        "saturation_probe",
        [helper.make_tensor_value_info("activations", TensorProto.UINT8, [4, PROBE_DEPTH])],
        [helper.make_tensor_value_info("products", TensorProto.INT32, [4, 16])],
        [helper.make_tensor("weights", TensorProto.INT8, weights.shape, weights.tobytes(), True)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what onnxruntime 1.x reads
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    activations = np.full((4, PROBE_DEPTH), 255, np.uint8)
    return int(session.run(None, {"activations": activations})[0][0, 0])


@app.command("score-here")
def score_here(
    bundle: Annotated[Path, typer.Option()],
    head: Annotated[list[str], typer.Option()],
    data_dir: Annotated[Path, typer.Option()] = DEFAULT_DATA_DIR,
) -> None:
    """(Run on the CPU measured.) Print the probe product and each head's int8 F1."""
    product = probe_product()
    if product != SATURATED_PRODUCT:
        raise SystemExit(f"this CPU does not saturate int8 pairs (probe {product}): not measured")
    training = read_manifest(bundle).training  # what publishing scored: the same sets here
    with tempfile.TemporaryDirectory(prefix="without-vnni-") as scratch:
        scored_from = write_scoring_files(training, data_dir, Path(scratch))
        figures = asyncio.run(
            evaluate_heads(bundle.parent, scored_from, "int8", head, scoring_sets(training))
        )
    scores = {
        name: {dataset: outcome.score.micro.f1 for dataset, outcome in datasets.items()}
        for name, datasets in figures.items()
    }
    print(json.dumps({"probe_product": product, "f1": scores}))


def measuring_command() -> list[str]:
    """This interpreter, natively on a CPU without VNNI, else under the emulated AVX2 CPU."""
    if host_lacks_vnni():
        return [sys.executable]
    if shutil.which(EMULATED_CPU[0]) is None:
        raise SystemExit(
            f"this CPU has VNNI and {EMULATED_CPU[0]} is missing: install Debian's qemu-user"
        )
    return [*EMULATED_CPU, sys.executable]


@app.command()
def record(
    bundle: Annotated[Path, typer.Option(help="a published bundle folder")] = Path(
        "models/default"
    ),
    head: Annotated[
        list[str] | None, typer.Option(help="heads to score (repeatable); default: all")
    ] = None,
    data_dir: Annotated[Path, typer.Option()] = DEFAULT_DATA_DIR,
) -> None:
    """Score the heads' published sets without VNNI; record f1_without_vnni in bundle.json."""
    manifest = read_manifest(bundle)
    sets = scoring_sets(manifest.training)
    heads = head or list(sets)
    unpublished = [
        f"{name} on {dataset}"
        for name in heads
        for dataset in sets[name]
        if "fp32_f1" not in manifest.evaluation.get(name, {}).get(dataset, {})
    ]
    if unpublished:
        raise SystemExit(
            f"no int8 and fp32 figures to compare with (publish it first): {unpublished}"
        )
    command = [
        *measuring_command(),
        "-m",
        "models.recipe.without_vnni",
        "score-here",
        "--bundle",
        str(bundle.resolve()),
        "--data-dir",
        str(data_dir.resolve()),
        *(argument for name in heads for argument in ("--head", name)),
    ]
    console.print("scoring without VNNI:", " ".join(command), markup=False)
    # the service's one-line warnings and qemu's notes go to stderr; the figures to stdout
    environment = os.environ | {"BIOTAG_CPU_PRECISION": "int8"}
    finished = subprocess.run(
        command, capture_output=True, text=True, env=environment, cwd=REPOSITORY
    )
    if finished.returncode != 0:
        raise SystemExit(f"scoring without VNNI failed: {finished.stderr.strip()[-2000:]}")
    measured = json.loads(finished.stdout.strip().splitlines()[-1])
    evaluation = {name: dict(datasets) for name, datasets in manifest.evaluation.items()}
    losses = []
    for name, datasets in measured["f1"].items():
        for dataset, f1 in datasets.items():
            figures = evaluation[name][dataset] = {
                **evaluation[name][dataset],
                "f1_without_vnni": round(f1, 4),
            }
            console.print(
                f"{name} on {dataset}: int8 without VNNI {f1:.4f}, with VNNI "
                f"{figures['f1']:.4f}, fp32 {figures['fp32_f1']:.4f}"
            )
            if int8_loses_f1(figures["fp32_f1"], f1):
                losses.append(f"{name} on {dataset}: {f1:.4f} against fp32 {figures['fp32_f1']}")
    write_manifest(bundle, manifest.model_copy(update={"evaluation": evaluation}))
    if losses:
        raise SystemExit(
            f"int8 without VNNI loses more than {MAX_INT8_F1_LOSS:.1%} F1: {'; '.join(losses)}"
        )


if __name__ == "__main__":
    app()
