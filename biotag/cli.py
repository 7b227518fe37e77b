"""The `biotag` command: export checkpoints to bundles, serve bundles, evaluate models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the commands import their heavy modules lazily
    from biotag.bundle import Manifest
    from biotag.evaluation.runner import Evaluation

app = typer.Typer(help="Biomedical entity tagging on ONNX Runtime.", no_args_is_help=True)
console = Console(stderr=True)
EXIT_BAD_INPUT = 2
EXIT_CHECK_FAILED = 1


@app.command()
def export(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help="Hugging Face token-classification checkpoint folder, or a TF1 ALBERT "
            "checkpoint directory (model.ckpt-N.index + .data-*; detected from the .index file)."
        ),
    ],
    output_dir: Annotated[
        Path, typer.Argument(help="Bundle folder to write (replaced if present).")
    ],
    name: Annotated[
        str | None, typer.Option(help="Model name; default: OUTPUT_DIR's folder name.")
    ] = None,
    precision: Annotated[
        list[str] | None,
        typer.Option(
            help="Variant(s) to build: fp32, int8, fp16 (repeatable); each one named must pass "
            "its parity check. Default: fp32, plus int8 and fp16 where they pass."
        ),
    ] = None,
    int8_reduce_range: Annotated[
        bool,
        typer.Option(
            help="7-bit int8 weights, which ONNX Runtime's kernels on CPUs without VNNI (AVX2 "
            "only) cannot saturate; costs a little accuracy on CPUs with VNNI. An export on a "
            "CPU without VNNI chooses them by itself when full-range weights fail parity there."
        ),
    ] = False,
    int8_float_layer: Annotated[
        list[int] | None,
        typer.Option(
            min=0,
            help="Encoder layer (0-based, repeatable) to keep in float in the int8 graph: the "
            "first one is where int8 loses most accuracy; each costs that layer's float weights.",
        ),
    ] = None,
    int8_outlier_channels: Annotated[
        bool,
        typer.Option(
            help="Run the few input channels of the encoder's MatMuls whose activations exceed 6 "
            "(LLM.int8()'s outliers) in float beside the int8 product: they would otherwise "
            "set one coarse int8 scale for all the others.",
        ),
    ] = True,
    tf1: Annotated[
        bool, typer.Option("--tf1", help="CHECKPOINT is a TF1 ALBERT directory (else detected).")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(help="TF1: the albert_config.json the model was trained with."),
    ] = None,
    spm_model: Annotated[
        Path | None, typer.Option(help="TF1: the SentencePiece model (ALBERT's 30k-clean.model).")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            help="TF1: the head's labels in training order, as a comma list or a file (one a "
            "line, or BioBERT's label2id.pkl); default: label2id.pkl beside the checkpoint."
        ),
    ] = None,
    entity_type: Annotated[
        str | None, typer.Option(help="TF1: entity type of untyped B/I labels (e.g. Disease).")
    ] = None,
    lowercase: Annotated[
        bool | None,
        typer.Option(
            "--lowercase/--no-lowercase",
            help="TF1: lower-case input text as the model was trained (default: lower-case, "
            "like BioALBERT's uncased vocabulary).",
        ),
    ] = None,
) -> None:
    """Export CHECKPOINT to an ONNX bundle in OUTPUT_DIR, checked against the framework model."""
    from biotag.bundle import is_valid_model_name

    chosen = precision or ["fp32", "int8", "fp16"]
    unknown = sorted(set(chosen) - {"fp32", "int8", "fp16"})
    model_name = name or output_dir.name
    if unknown:
        console.print(f"error: unknown precision(s) {unknown}; choose from fp32, int8, fp16")
        raise typer.Exit(EXIT_BAD_INPUT)
    if not is_valid_model_name(model_name):
        console.print(f"error: model name {model_name!r} must match [A-Za-z0-9][A-Za-z0-9._-]*")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        from biotag.export.errors import ExportError
        from biotag.export.pipeline import export_bundle
        from biotag.export.tf1.export import Tf1Flags, exporter
    except ImportError as exc:
        console.print(f"error: export needs the export extra (pip install 'biotag[export]'): {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    flags = Tf1Flags(tf1, config, spm_model, labels, entity_type, lowercase)
    try:
        export_bundle = exporter(checkpoint, flags, export_bundle)
        result = export_bundle(
            checkpoint,
            output_dir,
            name=model_name,
            precisions=tuple(dict.fromkeys(chosen)),
            progress=lambda step: console.print(f"[dim]…[/dim] {step}"),
            int8_reduce_range=int8_reduce_range,
            int8_float_layers=tuple(int8_float_layer or ()),
            int8_outlier_channels=int8_outlier_channels,
        )
    except ExportError as exc:
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    _print_export(result.manifest, output_dir)
    for failed_precision, why in result.failed.items():
        level = "error" if precision else "warning"
        console.print(
            f"{level}: {failed_precision} failed its parity check ({why}); left out of the bundle"
        )
    if result.failed and precision:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print_export(manifest: Manifest, output_dir: Path) -> None:
    table = Table(title=f"bundle {manifest.name} -> {output_dir}")
    for column in ("precision", "size (MB)", "checked on", "max |Δlogit|", "label agreement"):
        table.add_column(column)
    for graph in manifest.graphs.values():
        parity = graph.parity
        table.add_row(
            graph.precision,
            f"{graph.bytes / 1e6:.2f}",
            parity.checked_on if parity else "not checked (needs CUDA)",
            f"{parity.max_abs_logit_diff:.2e}" if parity else "-",
            f"{parity.label_agreement:.2%}" if parity else "-",
        )
    console.print(table)
    console.print(f"heads: {', '.join(h.name for h in manifest.heads)}; fusion: {manifest.fusion}")


@app.command()
def convert(
    checkpoint: Annotated[Path, typer.Argument(help="TF1 ALBERT checkpoint directory.")],
    output_dir: Annotated[Path, typer.Argument(help="Hugging Face folder to write.")],
    config: Annotated[
        Path | None, typer.Option(help="The albert_config.json the model was trained with.")
    ] = None,
    spm_model: Annotated[
        Path | None, typer.Option(help="The SentencePiece model (ALBERT's 30k-clean.model).")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(help="A NER head's labels in training order (comma list or file)."),
    ] = None,
    entity_type: Annotated[
        str | None, typer.Option(help="Entity type of untyped B/I labels (e.g. Disease).")
    ] = None,
    lowercase: Annotated[
        bool, typer.Option("--lowercase/--no-lowercase", help="Lower-case input text.")
    ] = True,
) -> None:
    """Convert a TF1 ALBERT checkpoint (pre-trained or NER) to a Hugging Face folder: an
    AlbertModel to fine-tune with transformers, or an AlbertForTokenClassification."""
    try:
        from biotag.export.errors import ExportError
        from biotag.export.tf1.convert import convert as convert_tf1
        from biotag.export.tf1.export import Tf1Flags
    except ImportError as exc:
        console.print(
            f"error: convert needs the export extra (pip install 'biotag[export]'): {exc}"
        )
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    flags = Tf1Flags(True, config, spm_model, labels, entity_type, lowercase)
    try:
        plan = convert_tf1(checkpoint, output_dir, flags.options(), require_head=False)
    except ExportError as exc:
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    console.print(f"wrote {plan.architecture} to {output_dir}", markup=False)


@app.command()
def inspect(
    checkpoint: Annotated[
        Path, typer.Argument(help="TF1 checkpoint directory, Hugging Face folder or bundle.")
    ],
    config: Annotated[Path | None, typer.Option(help="TF1: the albert_config.json.")] = None,
    spm_model: Annotated[Path | None, typer.Option(help="TF1: the SentencePiece model.")] = None,
    labels: Annotated[str | None, typer.Option(help="TF1: the head's labels.")] = None,
    entity_type: Annotated[str | None, typer.Option(help="TF1: type of B/I labels.")] = None,
) -> None:
    """What CHECKPOINT holds and what `biotag export` would do with it (a TF1 checkpoint needs
    only its index)."""
    try:
        from biotag.export.errors import ExportError
        from biotag.export.tf1.export import Tf1Flags
        from biotag.export.tf1.inspect import describe
    except ImportError as exc:
        console.print(
            f"error: inspect needs the export extra (pip install 'biotag[export]'): {exc}"
        )
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    flags = Tf1Flags(True, config, spm_model, labels, entity_type, None)
    try:
        rows = describe(checkpoint, flags.options())
    except ExportError as exc:
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    out = Console(soft_wrap=True)
    for key, value in rows:
        out.print(f"{key:>12}  {value}", markup=False, highlight=False)


def _environment_help() -> str:
    """Every setting's environment variable and meaning, for `biotag serve --help`."""
    from biotag.service.config import Settings

    lines = [
        f"{'BIOTAG_' + name.upper()}: {field.description}"
        for name, field in Settings.model_fields.items()
    ]
    return "Environment variables (README: Configuration):\n\n" + "\n\n".join(lines)


@app.command(epilog=_environment_help())
def serve(
    models_dir: Annotated[
        Path | None, typer.Option(help="Folder of bundle folders; default: the repo's models/.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listen address (BIOTAG_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (BIOTAG_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes (BIOTAG_WORKERS).", min=1)
    ] = None,
) -> None:
    """Serve every bundle under MODELS_DIR over HTTP. Other settings: BIOTAG_* variables."""
    from biotag.service.api.app import create_app
    from biotag.service.config import Settings
    from biotag.service.serving import run_server

    # Any: each value goes to its own field, which pydantic validates
    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "models_dir": models_dir,
            "host": host,
            "port": port,
            "workers": workers,
        }.items()
        if value is not None
    }
    settings = Settings(**overrides)
    if settings.workers == 1:
        run_server(create_app(settings), settings)
        return
    from biotag.service.multiprocess.supervisor import serve_workers

    status = serve_workers(settings, overrides)
    if status:
        raise typer.Exit(status)


@app.command("eval")
def evaluate_models(
    dataset: Annotated[Path, typer.Argument(help="IOB (.tsv) or PubTator (.pubtator) file.")],
    models: Annotated[
        list[str], typer.Option(help="Model(s) to evaluate (repeatable); entities are pooled.")
    ],
    models_dir: Annotated[
        Path | None, typer.Option(help="Folder of bundle folders; default: the repo's models/.")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="A running service (e.g. http://127.0.0.1:8000) to ask.")
    ] = None,
    format_name: Annotated[
        str | None,
        typer.Option("--format", help="iob or pubtator; default: from the file suffix."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Evaluate only the first N documents.")
    ] = None,
    type_map: Annotated[
        list[str] | None,
        typer.Option(help="CORPUS_TYPE=MODEL_TYPE (repeatable), on top of the NCBI/GENE defaults."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=0, help="ONNX Runtime intra-op threads (in process).")
    ] = None,
    group: Annotated[
        int,
        typer.Option(
            min=1,
            help="Send every N consecutive documents as one text (an IOB file's sentences "
            "as abstracts reach the service: windows of several sentences).",
        ),
    ] = 1,
) -> None:
    """Entity-level precision / recall / F1 (exact span and type) of MODELS on DATASET."""
    import asyncio
    import logging

    # the service's log records (e.g. about a bundle) on stderr, marked as such: apart from
    # the one-line ``error:`` messages and from the results on stdout
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: [%(name)s] %(message)s")

    from biotag.evaluation.datasets import DatasetError, grouped, load_dataset, parse_type_map
    from biotag.evaluation.runner import EvaluationError, evaluate, in_process, over_http

    try:
        mapping = parse_type_map(type_map or [])
        documents = grouped(load_dataset(dataset, format_name)[:limit], group)
    except DatasetError as exc:
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    chosen = list(dict.fromkeys(models))

    async def run() -> Evaluation:
        backend = over_http(chosen, url) if url else in_process(chosen, models_dir, threads)
        async with backend as (model_types, tag_chunk):
            return await evaluate(documents, chosen, model_types, mapping, tag_chunk)

    try:
        result = asyncio.run(run())
    except EvaluationError as exc:
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    _print_evaluation(result, dataset, json_output)


def _print_evaluation(result: Evaluation, dataset: Path, json_output: bool) -> None:
    import json

    if json_output:
        print(json.dumps({"dataset": str(dataset), **result.as_dict()}))
        return
    table = Table(title=f"{', '.join(result.models)} on {dataset}")
    for column in ("type", "gold", "predicted", "correct", "precision", "recall", "F1"):
        table.add_column(column, justify="left" if column == "type" else "right")
    rows = [*result.score.per_type.items(), ("micro", result.score.micro)]
    for index, (name, counts) in enumerate(rows):
        table.add_row(
            name,
            str(counts.gold),
            str(counts.predicted),
            str(counts.correct),
            f"{counts.precision:.4f}",
            f"{counts.recall:.4f}",
            f"{counts.f1:.4f}",
            end_section=index == len(rows) - 2,  # a rule above the micro row
        )
    out = Console()
    out.print(table)
    out.print(
        f"{result.documents} documents in {result.elapsed_s:.2f} s "
        f"({result.documents_per_s:.1f} documents/s)"
    )
    if result.ignored_gold:
        ignored = ", ".join(f"{name} ({count})" for name, count in result.ignored_gold.items())
        out.print(f"gold types no evaluated model tags, not scored: {ignored}", markup=False)


@app.command("tag")
def tag_corpus(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Corpus files, folders (searched for corpus files) or globs: PubMed/MEDLINE XML "
            "(.xml, .xml.gz), BioC XML (.xml) or JSON (.json), PubTator (.pubtator), JSONL "
            "(.jsonl), plain text (.txt, one document each); any of them gzipped."
        ),
    ],
    output: Annotated[Path, typer.Option(help="Output folder: one part per input file.")],
    models: Annotated[
        list[str] | None, typer.Option(help="Model(s) to run (repeatable); default: all served.")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="jsonl, pubtator, biocxml or biocjson.")
    ] = "jsonl",
    input_format: Annotated[
        str | None,
        typer.Option(help="pubmed, biocxml, biocjson, pubtator, jsonl or text; default: detected."),
    ] = None,
    models_dir: Annotated[
        Path | None, typer.Option(help="Folder of bundle folders; default: the repo's models/.")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Tag through a running service (e.g. http://127.0.0.1:8000).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Go on in an output folder: finished parts are kept.")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="With --resume: keep parts made by other models or settings.")
    ] = False,
    section_labels: Annotated[
        bool,
        typer.Option(
            "--section-labels/--no-section-labels",
            help="Structured abstracts: `LABEL: text` per section (as PubTator), or text only.",
        ),
    ] = True,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Chunks of 64 documents in flight at once.")
    ] = 8,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Tag only the first N documents of each file.")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=0, help="ONNX Runtime intra-op threads (in process).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress and no summary on stderr.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="In process: worker processes tagging files at once, each with its own "
            "runtime and cores/N threads (many-core hosts).",
        ),
    ] = 1,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run on Ray (the ray extra): `local` starts a cluster on this machine, `auto` "
            "joins the one this node belongs to, or a cluster address (ray://HEAD:10001)."
        ),
    ] = None,
    ray_actors: Annotated[
        int | None,
        typer.Option(min=1, help="With --ray: tagging actors (default: one per GPU, else CPUs/2)."),
    ] = None,
) -> None:
    """Tag whole corpora: streamed, one output part per input file, resumable (README: Bulk
    tagging). Exit 0: all tagged; 1: documents or files failed (see *.errors.jsonl); 2: bad
    input."""
    from biotag.bulk.command import EngineChoice, tag_command
    from biotag.bulk.pipeline import Options
    from biotag.bulk.readers import InputFormat
    from biotag.bulk.writer import PartFormat

    try:
        chosen_output = PartFormat(output_format)
        chosen_input = InputFormat(input_format) if input_format else None
    except ValueError as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    options = Options(
        output_dir=output,
        output=chosen_output,
        section_labels=section_labels,
        resume=resume,
        force=force,
        chunks_in_flight=concurrency,
        limit=limit,
    )
    if ray is not None and url is not None:
        console.print("error: choose --url or --ray, not both")
        raise typer.Exit(EXIT_BAD_INPUT)
    chosen_models = list(dict.fromkeys(models)) if models else None
    engine = EngineChoice(chosen_models, models_dir, url, threads, ray, ray_actors, workers)
    status = tag_command(inputs, options, engine, chosen_input, quiet)
    if status:
        raise typer.Exit(status)


if __name__ == "__main__":
    app()
