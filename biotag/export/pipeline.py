"""Checkpoint folder -> bundle folder, end to end."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biotag import __version__
from biotag.bundle import TOKENIZER_FILE, Graph, Manifest, Parity, Precision, write_manifest
from biotag.cpu import host_lacks_vnni
from biotag.export.checkpoint import CheckpointInfo, file_sha256, inspect_checkpoint
from biotag.export.errors import ExportError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ALL_PRECISIONS: tuple[Precision, ...] = ("fp32", "int8", "fp16")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportResult:
    manifest: Manifest
    failed: dict[str, str]  # precision -> why it was left out of the bundle


def _tool_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import tokenizers
    import torch
    import transformers

    modules = (onnx, onnxruntime, tokenizers, torch, transformers)
    return {"biotag": __version__} | {m.__name__: str(m.__version__) for m in modules}


def _load(info: CheckpointInfo) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(info.path), local_files_only=True)
    except Exception as exc:  # transformers raises many types for missing/broken tokenizers
        raise ExportError(f"cannot load a tokenizer from {info.path}: {exc}") from exc
    if not tokenizer.is_fast:
        raise ExportError(
            f"{info.path} has only a slow tokenizer; biotag needs a fast one (tokenizer.json) "
            "for character offsets"
        )
    try:
        model = AutoModelForTokenClassification.from_pretrained(
            str(info.path), attn_implementation="eager", local_files_only=True
        )
    except Exception as exc:
        raise ExportError(f"cannot load the model from {info.path}: {exc}") from exc
    return model.eval(), tokenizer


def _max_length(tokenizer: object, config: dict[str, Any]) -> int:
    positions = int(config.get("max_position_embeddings", 512))
    declared = int(getattr(tokenizer, "model_max_length", positions) or positions)
    return min(positions, declared) if declared < 1_000_000 else positions


def _lowercases(tokenizer: object) -> bool:
    normalizer = tokenizer.backend_tokenizer.normalizer  # type: ignore[attr-defined]
    return normalizer is not None and normalizer.normalize_str("Ab") == "ab"


def export_bundle(
    checkpoint: Path,
    output_dir: Path,
    name: str | None = None,
    precisions: Sequence[Precision] = ALL_PRECISIONS,
    progress: Progress = lambda _: None,
    int8_reduce_range: bool = False,
    int8_float_layers: Sequence[int] = (),
    int8_outlier_channels: bool = True,
) -> ExportResult:
    """Write a bundle; variants failing parity are left out and reported in ``failed``.

    ``int8_outlier_channels``: input channels of the encoder's MatMuls that exceed the
    LLM.int8() threshold on the parity sentences run in float beside the int8 product
    (biotag.export.outliers).

    The bundle is assembled in a temporary folder and moved into place at the end, so a
    failed export never leaves a half-written bundle behind.
    """
    from biotag.export import graphs, parity

    name = name or output_dir.name
    info = inspect_checkpoint(checkpoint, default_name=name)
    progress(f"loading {info.architecture} from {checkpoint}")
    model, tokenizer = _load(info)
    config = model.config
    max_length = _max_length(tokenizer, info.config)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        raw = staging / "raw.onnx"
        progress("exporting to ONNX")
        input_names = graphs.export_fp32(model, raw, list(tokenizer.model_input_names))
        progress("fusing with the ONNX Runtime transformer optimizer")
        fp32 = staging / "model.fp32.onnx"
        heads, hidden = config.num_attention_heads, config.hidden_size
        fusion = graphs.optimize(raw, fp32, heads, hidden, skip_layer_norm=False)
        files: dict[Precision, Path] = {"fp32": fp32}
        inputs = parity.reference_inputs(tokenizer, max_length)
        calibration = inputs if int8_outlier_channels else None
        int8_plan: graphs.Int8Plan | None = None
        outlier_channels = 0
        if "int8" in precisions:
            progress("building the int8 variant")
            files["int8"] = staging / "model.int8.onnx"
            int8_plan = graphs.plan_int8(fp32, int8_float_layers, calibration)
            outlier_channels = int8_plan.outlier_channels
            graphs.quantize_int8(int8_plan, files["int8"], int8_reduce_range)
        if "fp16" in precisions:
            progress("building the fp16 variant")
            # for CUDA, where the fused residual + LayerNormalization kernel pays off
            fused = staging / "fused.onnx"
            graphs.optimize(raw, fused, heads, hidden, skip_layer_norm=True)
            files["fp16"] = staging / "model.fp16.onnx"
            graphs.to_fp16(fused, files["fp16"])
            fused.unlink()
        raw.unlink()

        progress("checking parity against the framework model")
        expected = parity.reference_logits(model, inputs, input_names)

        def check(precision: Precision) -> Parity | None:
            return parity.check_graph(
                str(files[precision]), precision, inputs, input_names, expected, info.heads
            )

        checked: dict[Precision, Parity | None] = {}
        if int8_plan is not None and not int8_reduce_range and host_lacks_vnni():
            full_range = checked["int8"] = check("int8")
            if full_range is not None and not full_range.passed:
                # this CPU saturates some full-range products; 7-bit weights never saturate
                progress(
                    f"int8 label agreement {full_range.label_agreement:.2%} on this CPU without "
                    "VNNI (full-range products saturate here); rebuilding it with 7-bit weights"
                )
                int8_reduce_range = True
                graphs.quantize_int8(int8_plan, files["int8"], reduce_range=True)
                del checked["int8"]  # a new graph: checked below like the others
        int8_plan = None  # its float graph is not needed again: free it before the checks
        graph_entries: dict[Precision, Graph] = {}
        failed: dict[str, str] = {}
        for precision, path in files.items():
            figures = checked[precision] if precision in checked else check(precision)
            if figures is not None and not figures.passed:
                failed[precision] = (
                    f"max |Δlogit| {figures.max_abs_logit_diff:.2e}, "
                    f"label agreement {figures.label_agreement:.2%}"
                )
            if precision == "fp32" and "fp32" in failed:
                raise ExportError(f"the fp32 graph does not match the model: {failed['fp32']}")
            if precision not in precisions or precision in failed:
                path.unlink()
                continue
            graph_entries[precision] = Graph(
                file=path.name,
                precision=precision,
                bytes=path.stat().st_size,
                sha256=file_sha256(path),
                batch_invariant=precision != "int8",
                parity=figures,
                weight_bits=(7 if int8_reduce_range else 8) if precision == "int8" else None,
                float_layers=sorted(set(int8_float_layers)) if precision == "int8" else [],
                float_outlier_channels=outlier_channels if precision == "int8" else 0,
            )
        if not graph_entries:
            raise ExportError(f"no variant passed its parity check: {failed}")

        # the parity check left padding/truncation switched on; a bundle's tokenizer has neither
        tokenizer.backend_tokenizer.no_padding()
        tokenizer.backend_tokenizer.no_truncation()
        tokenizer.save_pretrained(str(staging))
        if not (staging / TOKENIZER_FILE).is_file():
            tokenizer.backend_tokenizer.save(str(staging / TOKENIZER_FILE))
        manifest = Manifest(
            name=name,
            architecture=info.architecture,
            model_type=info.model_type,
            heads=info.heads,
            max_length=max_length,
            lowercase=_lowercases(tokenizer),
            pad_token_id=int(tokenizer.pad_token_id or 0),
            graphs=graph_entries,
            source_checkpoint_sha256=info.sha256,
            versions=_tool_versions(),
            fusion=fusion,
        )
        write_manifest(staging, manifest)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
        return ExportResult(manifest=manifest, failed=failed)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
