"""``biotag export`` for TF1 checkpoints: convert to a temporary Hugging Face folder, then take
the ordinary export path (one ONNX export, one parity check for every kind of checkpoint)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biotag.export.errors import ExportError
from biotag.export.tf1 import convert, labels, tensorbundle

Exporter = Callable[..., Any]


@dataclass(frozen=True)
class Tf1Flags:
    """The export command's TF1 options as given (None: not given)."""

    force: bool = False
    config: Path | None = None
    spm_model: Path | None = None
    labels: str | None = None
    entity_type: str | None = None
    lowercase: bool | None = None

    def given(self) -> list[str]:
        flags = {
            "--config": self.config,
            "--spm-model": self.spm_model,
            "--labels": self.labels,
            "--entity-type": self.entity_type,
            "--lowercase/--no-lowercase": self.lowercase,
        }
        return [flag for flag, value in flags.items() if value is not None]

    def options(self) -> convert.Tf1Options:
        return convert.Tf1Options(
            config=self.config,
            spm_model=self.spm_model,
            labels=labels.parse_labels(self.labels) if self.labels is not None else None,
            entity_type=self.entity_type,
            lowercase=True if self.lowercase is None else self.lowercase,
        )


def exporter(checkpoint: Path, flags: Tf1Flags, export_bundle: Exporter) -> Exporter:
    """``export_bundle`` itself for a Hugging Face folder; for a TF1 directory (a ``*.index``
    file, or ``--tf1``) a function with its signature that converts first."""
    if not (flags.force or tensorbundle.is_tf1_checkpoint(checkpoint)):
        if flags.given():
            raise ExportError(
                f"{', '.join(flags.given())} apply to TF1 checkpoints only, and {checkpoint} "
                "has no *.index file"
            )
        return export_bundle
    options = flags.options()

    def export_tf1(source: Path, output_dir: Path, **kwargs: Any) -> Any:
        progress = kwargs.get("progress", lambda _: None)
        name = kwargs.get("name") or output_dir.name
        with tempfile.TemporaryDirectory(prefix="biotag-tf1-") as scratch:
            folder = Path(scratch) / name
            progress(f"converting the TF1 checkpoint {source} (no TensorFlow needed)")
            convert.convert(source, folder, options, require_head=True)
            return export_bundle(folder, output_dir, **kwargs)

    return export_tf1
