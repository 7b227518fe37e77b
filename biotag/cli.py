"""The `biotag` command: export checkpoints to bundles, serve bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Biomedical entity tagging on ONNX Runtime.", no_args_is_help=True)
console = Console(stderr=True)
EXIT_BAD_INPUT = 2
EXIT_CHECK_FAILED = 1


@app.command()
def export(
    checkpoint: Annotated[
        Path, typer.Argument(help="Hugging Face token-classification checkpoint folder.")
    ],
    output_dir: Annotated[
        Path, typer.Argument(help="Bundle folder to write (replaced if present).")
    ],
    name: Annotated[
        str | None, typer.Option(help="Model name; default: OUTPUT_DIR's folder name.")
    ] = None,
    precision: Annotated[
        list[str] | None,
        typer.Option(help="Variant(s) to build: fp32, int8, fp16 (repeatable). Default: all."),
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
    except ImportError as exc:
        console.print(f"error: export needs the export extra (pip install 'biotag[export]'): {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    try:
        result = export_bundle(
            checkpoint,
            output_dir,
            name=model_name,
            precisions=tuple(dict.fromkeys(chosen)),  # type: ignore[arg-type]
            progress=lambda step: console.print(f"[dim]…[/dim] {step}"),
        )
    except ExportError as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    _print_export(result.manifest, output_dir)
    if result.failed:
        for failed_precision, why in result.failed.items():
            console.print(
                f"error: {failed_precision} failed its parity check ({why}); left out of the bundle"
            )
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print_export(manifest: object, output_dir: Path) -> None:
    from biotag.bundle import Manifest

    assert isinstance(manifest, Manifest)
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
def serve(
    models_dir: Annotated[
        Path | None, typer.Option(help="Folder of bundle folders; default: the repo's models/.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listen address (BIOTAG_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (BIOTAG_PORT).")] = None,
) -> None:
    """Serve every bundle under MODELS_DIR over HTTP. Other settings: BIOTAG_* variables."""
    import uvicorn

    from biotag.service.app import create_app
    from biotag.service.config import Settings

    overrides = {
        key: value
        for key, value in {"models_dir": models_dir, "host": host, "port": port}.items()
        if value is not None
    }
    settings = Settings(**overrides)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        access_log=False,
    )


if __name__ == "__main__":
    app()
