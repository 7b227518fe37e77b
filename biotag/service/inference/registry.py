"""Find bundles under the models folder and turn each into a tokenizer, heads and (in the process
that runs them) an ONNX Runtime session."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from biotag.bundle import (
    MANIFEST_FILE,
    MAX_INT8_F1_LOSS,
    Graph,
    Head,
    Manifest,
    Precision,
    int8_loses_f1,
    read_manifest,
)
from biotag.cpu import host_lacks_vnni
from biotag.service.config import Settings
from biotag.service.inference.session import (
    OnnxSession,
    OnnxSessionOptions,
    Provider,
    SessionError,
    cuda_available,
)
from biotag.service.inference.shapes import ShapeBuckets
from biotag.service.text.chunking import DocumentTokenizer
from biotag.service.text.decoding import Decoding, LabelTable

logger = logging.getLogger(__name__)


def unmeasured_heads(manifest: Manifest, graph: Graph) -> list[str]:
    """The heads this CPU may compute worse than the bundle's figures say: with full-range int8
    weights on a CPU without VNNI (where ONNX Runtime's products can saturate), every head
    without F1 figures measured without VNNI, or whose figures there lose more than
    ``MAX_INT8_F1_LOSS`` against fp32; none once the graph's parity was checked on such a CPU."""
    if graph.weight_bits != 8 or not host_lacks_vnni():
        return []
    if graph.parity is not None and graph.parity.cpu_vnni is False:
        return []
    return [head.name for head in manifest.heads if not _kept_without_vnni(manifest, head.name)]


def _kept_without_vnni(manifest: Manifest, head: str) -> bool:
    figures = list(manifest.evaluation.get(head, {}).values())
    measured = [f for f in figures if "f1_without_vnni" in f]
    return bool(measured) and not any(
        int8_loses_f1(f.get("fp32_f1", f["f1"]), f["f1_without_vnni"]) for f in measured
    )


@dataclass(frozen=True)
class ServedHead:
    head: Head
    table: LabelTable


@dataclass
class LoadedBundle:
    directory: Path
    manifest: Manifest
    tokenizer: DocumentTokenizer
    tokenizer_key: str  # equal keys = identical tokenizers, so documents are encoded once
    provider: Provider
    precision: Precision
    window_tokens: int
    window_target_tokens: int  # tokens per window aimed at, special tokens included
    window_stride: int
    heads: dict[str, ServedHead]
    decoding: Decoding  # how its heads' label probabilities become word labels

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def window_capacity(self) -> int:
        return self.window_tokens - self.tokenizer.special_count

    @property
    def window_target(self) -> int:
        """Document tokens a window aims at (special tokens excluded)."""
        return max(1, self.window_target_tokens - self.tokenizer.special_count)


@dataclass
class Registry:
    bundles: dict[str, LoadedBundle] = field(default_factory=dict)  # bundle name -> bundle
    models: dict[str, LoadedBundle] = field(default_factory=dict)  # model (head) name -> bundle
    # bundle name -> its session; empty in server workers whose windows a shared engine runs
    sessions: dict[str, OnnxSession] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # bundle folder -> why it is not served


def choose_provider(settings: Settings) -> Provider:
    if settings.execution_provider == "cuda":
        if not cuda_available():
            raise SessionError(
                "BIOTAG_EXECUTION_PROVIDER=cuda but ONNX Runtime has no CUDA provider"
            )
        return "cuda"
    if settings.execution_provider == "auto" and cuda_available():
        return "cuda"
    return "cpu"


def choose_precision(manifest: Manifest, provider: Provider, settings: Settings) -> Precision:
    """The configured variant when the bundle has it, else the closest one it ships."""
    wanted = settings.cuda_precision if provider == "cuda" else settings.cpu_precision
    fallbacks: tuple[Precision, ...] = (
        ("fp16", "fp32", "int8") if provider == "cuda" else ("fp32", "int8")
    )
    for precision in (wanted, *fallbacks):
        if precision in manifest.graphs:
            return precision
    raise SessionError(f"bundle has no graph {provider} can run (has {sorted(manifest.graphs)})")


def load_bundle(directory: Path, settings: Settings, provider: Provider) -> LoadedBundle:
    """The text side of a bundle: manifest, tokenizer, windows and heads (no session)."""
    manifest = read_manifest(directory)
    tokenizer_json = (directory / manifest.tokenizer).read_text(encoding="utf-8")
    tokenizer = DocumentTokenizer.from_json(tokenizer_json)
    window_tokens = min(settings.window_tokens or manifest.max_length, manifest.max_length)
    stride = max(0, min(settings.window_stride, (window_tokens - tokenizer.special_count) // 2 - 1))
    target = min(settings.window_target_tokens or window_tokens, window_tokens)
    _log_clamped(manifest.name, "window_tokens", settings.window_tokens, window_tokens)
    _log_clamped(manifest.name, "window_stride", settings.window_stride, stride)
    _log_clamped(manifest.name, "window_target_tokens", settings.window_target_tokens, target)
    return LoadedBundle(
        directory=directory,
        manifest=manifest,
        tokenizer=tokenizer,
        tokenizer_key=hashlib.sha256(tokenizer_json.encode()).hexdigest(),
        provider=provider,
        precision=choose_precision(manifest, provider, settings),
        window_tokens=window_tokens,
        window_target_tokens=target,
        window_stride=stride,
        heads={
            head.name: ServedHead(head, LabelTable.from_labels(head.labels))
            for head in manifest.heads
        },
        decoding=settings.decoding,
    )


def _log_clamped(bundle: str, setting: str, asked: int | None, used: int) -> None:
    """Say so when a setting asks for more than this bundle takes (0 / unset mean "as the
    bundle allows" and are not clamps)."""
    if asked and asked > used:
        logger.info(
            "bundle %s: %s %d is more than it takes; using %d", bundle, setting, asked, used
        )


def open_session(bundle: LoadedBundle, settings: Settings) -> OnnxSession:
    buckets = None
    if bundle.provider == "cuda" and settings.cuda_width_multiple > 0:
        buckets = ShapeBuckets(
            width_multiple=settings.cuda_width_multiple,
            max_width=bundle.window_tokens,
            max_rows=settings.max_batch_size,
            max_tokens=settings.max_batch_tokens,
        )
    graph = bundle.manifest.graphs[bundle.precision]
    unmeasured = unmeasured_heads(bundle.manifest, graph) if bundle.provider == "cpu" else []
    if unmeasured:
        logger.warning(
            "bundle %s: this CPU has no VNNI, where ONNX Runtime's int8 products can saturate, "
            "and the int8 accuracy of %s was not shown to hold on such a CPU (measured with "
            "VNNI only, or losing more than %.1f F1 points without); re-export it on this CPU "
            "(`biotag export` checks parity here and falls back to 7-bit weights if needed) or "
            "with --int8-reduce-range%s",
            bundle.name,
            ", ".join(unmeasured),
            MAX_INT8_F1_LOSS * 100,
            ", or serve fp32 (BIOTAG_CPU_PRECISION=fp32)"
            if "fp32" in bundle.manifest.graphs
            else "",
        )
    return OnnxSession(
        bundle.directory / graph.file,
        OnnxSessionOptions(
            bundle.provider,
            settings.intra_op_threads,
            settings.cuda_device_id,
            settings.cuda_provider_options,
            buckets,
            intra_op_spinning=settings.intra_op_spinning,
        ),
        pad_id=bundle.manifest.pad_token_id,
        batch_invariant=graph.batch_invariant,
    )


def load_registry(
    settings: Settings, provider: Provider | None = None, open_sessions: bool = True
) -> Registry:
    """Load every bundle folder; a broken one is recorded in ``errors`` and the rest still load.

    ``provider``: default from the settings. Without ``open_sessions`` no session is opened (a
    shared engine process runs the windows).
    """
    registry = Registry()
    root = settings.models_dir
    if not root.is_dir():
        registry.errors[str(root)] = "models folder does not exist"
        return registry
    if provider is None:
        try:
            provider = choose_provider(settings)
        except SessionError as exc:
            registry.errors[str(root)] = str(exc)
            return registry
    for directory in sorted(p for p in root.iterdir() if (p / MANIFEST_FILE).is_file()):
        try:
            bundle = load_bundle(directory, settings, provider)
            clashes = (set(bundle.heads) & set(registry.models)) | (
                {bundle.name} & set(registry.bundles)
            )
            if clashes:  # refused before a session is opened for it
                registry.errors[directory.name] = f"model names already served: {sorted(clashes)}"
                continue
            session = open_session(bundle, settings) if open_sessions else None
        except Exception as exc:  # any broken bundle: report it, keep serving the others
            registry.errors[directory.name] = f"{type(exc).__name__}: {exc}"
            logger.error("bundle %s not served: %s", directory.name, exc)
            continue
        registry.bundles[bundle.name] = bundle
        if session is not None:
            registry.sessions[bundle.name] = session
        for model_name in bundle.heads:
            registry.models[model_name] = bundle
    if not registry.bundles and not registry.errors:
        registry.errors[str(root)] = "no bundle folders (with a bundle.json) found"
    return registry
