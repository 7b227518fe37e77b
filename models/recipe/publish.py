"""Turn the trained checkpoint into the committed default bundle, with its devel figures.

    python -m models.recipe.publish [--checkpoint CHECKPOINT] [--output models/default]

Exports with `biotag export` (int8 only: the repository budget has no room for fp32), then
evaluates every head on its devel sets through the service's own tokenisation, batching and
decoding, and records the figures in the bundle's manifest (a final run's heads on the devel
tails it kept out instead: ``models.recipe.scoring``). The same checkpoint is exported to
fp32 as well (under build/, not committed) and scored the same way: its F1 is recorded next to
the int8 figures, and publishing fails if int8 loses more than half an F1 point anywhere.
Every sentence file is scored twice: each sentence its own text, and every ``GROUP``
sentences one text (``*_grouped``), cut into windows of several sentences as an abstract is.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from biotag.bundle import MAX_INT8_F1_LOSS, int8_loses_f1, read_manifest, write_manifest
from biotag.evaluation.runner import Evaluation
from biotag.export.pipeline import export_bundle
from biotag.service.config import Settings
from models.recipe.corpora import DEFAULT_DATA_DIR
from models.recipe.report import training_record
from models.recipe.scoring import evaluate_heads, scoring_sets, write_scoring_files
from models.recipe.train import METRICS_FILE

console = Console()
GROUP = 10  # sentences a text for the grouped figures
app = typer.Typer(add_completion=False)


@app.command()
def main(
    checkpoint: Annotated[Path, typer.Option()] = Path("build/default-checkpoint"),
    output: Annotated[Path, typer.Option()] = Path("models/default"),
    data_dir: Annotated[Path, typer.Option()] = DEFAULT_DATA_DIR,
    int8_float_layer: Annotated[
        list[int] | None, typer.Option(min=0, help="encoder layer to keep in float in int8")
    ] = None,
    int8_reduce_range: Annotated[
        bool, typer.Option(help="7-bit int8 weights: no saturation on CPUs without VNNI")
    ] = False,
) -> None:
    result = export_bundle(
        checkpoint,
        output,
        name=output.name,
        precisions=("int8",),
        progress=console.print,
        int8_float_layers=tuple(int8_float_layer or ()),
        int8_reduce_range=int8_reduce_range,
    )
    if result.failed:
        raise SystemExit(f"export failed its parity check: {result.failed}")
    metrics = checkpoint / METRICS_FILE  # how it was trained: into the manifest's `training`
    training = training_record(json.loads(metrics.read_text())) if metrics.is_file() else {}
    sets = scoring_sets(training)
    with tempfile.TemporaryDirectory(prefix="publish-", dir="build") as scratch:
        scored_from = write_scoring_files(training, data_dir, Path(scratch) / "sets")
        reference = Path(scratch) / "fp32" / output.name
        export_bundle(
            checkpoint, reference, name=output.name, precisions=("fp32",), progress=console.print
        )

        def scored(models_dir: Path, precision: str) -> dict[int, dict[str, dict[str, Evaluation]]]:
            return {
                group: asyncio.run(
                    evaluate_heads(models_dir, scored_from, precision, sets=sets, group=group)
                )
                for group in (1, GROUP)
            }

        figures, fp32_figures = scored(output.parent, "int8"), scored(reference.parent, "fp32")
    table = Table(title="unseen-text figures (exact span and type)")
    for column in (
        "model",
        "dataset",
        "sentences a text",
        "P",
        "R",
        "F1 int8",
        "F1 fp32",
        "docs/s int8",
    ):
        table.add_column(column)
    evaluation: dict[str, dict[str, dict[str, float]]] = {}
    losses = []
    for group, suffix in ((1, ""), (GROUP, "_grouped")):
        for head, per_dataset in figures[group].items():
            for dataset, outcome in per_dataset.items():
                micro = outcome.score.micro
                fp32_f1 = fp32_figures[group][head][dataset].score.micro.f1
                evaluation.setdefault(head, {}).setdefault(dataset, {}).update(
                    {
                        f"precision{suffix}": round(micro.precision, 4),
                        f"recall{suffix}": round(micro.recall, 4),
                        f"f1{suffix}": round(micro.f1, 4),
                        f"fp32_f1{suffix}": round(fp32_f1, 4),
                    }
                )
                if int8_loses_f1(fp32_f1, micro.f1):
                    losses.append(
                        f"{head} on {dataset} ({group} sentences a text): int8 {micro.f1:.4f}, "
                        f"fp32 {fp32_f1:.4f}"
                    )
                table.add_row(
                    head,
                    dataset,
                    str(group),
                    f"{micro.precision:.4f}",
                    f"{micro.recall:.4f}",
                    f"{micro.f1:.4f}",
                    f"{fp32_f1:.4f}",
                    f"{outcome.documents_per_s:.0f}",
                )
    console.print(table)
    decoding = Settings().decoding  # what evaluate_heads' in-process service used
    manifest = read_manifest(output).model_copy(
        update={"evaluation": evaluation, "evaluation_decoding": decoding, "training": training}
    )
    write_manifest(output, manifest)
    if losses:
        raise SystemExit(f"int8 loses more than {MAX_INT8_F1_LOSS:.1%} F1: {'; '.join(losses)}")


if __name__ == "__main__":
    app()
