"""``biotag inspect``: what a checkpoint holds and what ``export`` would make of it.

For a TF1 directory everything comes from the index (the data shards, often hundreds of MB,
need not be there): sizes are read off the variable shapes, and what the index cannot say
(the layer count of shared layers, the attention heads) comes from the config or the
``.meta`` graph's unrolled ``layer_N`` scopes, or is reported as unknown.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from biotag.export.errors import ExportError
from biotag.export.tf1 import config as tf1_config
from biotag.export.tf1 import convert, names, tensorbundle
from biotag.export.tf1.wire import WireError, fields

Rows = list[tuple[str, str]]
# modeling.py: name_scope layer_N inside the re-entered variable scope group_G (group_0_1, ...)
_LAYER_SCOPE = re.compile(rb"^(?:module/)?bert/encoder/transformer/group_\d+(?:_\d+)?/layer_(\d+)/")
_QUERY_RESHAPE = re.compile(rb"/layer_0/inner_group_0/attention_1/self/query/Reshape/shape$")


def meta_graph_facts(meta: Path) -> tuple[int | None, int | None]:
    """(layers, attention heads) from the MetaGraphDef (graph_def = field 2, its nodes = field
    1, a node's name = field 1, its attrs = field 5): the unrolled ``layer_N`` scopes, and the
    constant [hidden, heads, head size] the first query kernel is reshaped to."""
    layers: set[int] = set()
    heads = None
    try:
        graph = fields(meta.read_bytes()).get(2, [b""])[0]
        for node in fields(graph).get(1, []):  # type: ignore[arg-type]
            node_fields = fields(node)  # type: ignore[arg-type]
            name = bytes(node_fields.get(1, [b""])[0])
            if match := _LAYER_SCOPE.match(name):
                layers.add(int(match[1]))
            if _QUERY_RESHAPE.search(name):
                heads = _reshape_heads(node_fields.get(5, []))  # type: ignore[arg-type]
    except (OSError, WireError, IndexError):
        return None, None
    return (max(layers) + 1 if layers else None), heads


def _reshape_heads(attrs: list[bytes]) -> int | None:
    for attr in attrs:
        entry = fields(attr)
        if entry.get(1, [b""])[0] != b"value":
            continue
        tensor = fields(fields(entry.get(2, [b""])[0]).get(8, [b""])[0])  # type: ignore[arg-type]
        content = tensor.get(4)
        if content and len(content[0]) == 12:  # type: ignore[arg-type]
            return int(np.frombuffer(content[0], "<i4")[1])  # type: ignore[arg-type]
    return None


def _shape(bundle: tensorbundle.Bundle, name: str) -> tuple[int, ...] | None:
    entry = bundle.entries.get(name) or bundle.entries.get(f"module/{name}")
    return entry.shape if entry else None


def describe_tf1(directory: Path, options: convert.Tf1Options) -> Rows:
    bundle = tensorbundle.open_bundle(tensorbundle.find_prefix(directory))
    canonical = [names.canonical(n) for n in bundle.entries]
    rows: Rows = [("format", f"TF1 TensorBundle checkpoint {bundle.prefix.name}")]
    blocks = f"{bundle.snappy_blocks} Snappy-compressed" if bundle.snappy_blocks else "uncompressed"
    missing = bundle.missing_data_files()
    present = "all present" if not missing else f"{len(missing)} missing (the index suffices here)"
    rows.append(("files", f"index blocks {blocks}; {bundle.num_shards} data shard(s), {present}"))
    words = _shape(bundle, "bert/embeddings/word_embeddings")
    if words is None or any("layer_normalization" in n for n in canonical):
        rows.append(
            ("architecture", "not google-research ALBERT (no bert/embeddings/word_embeddings)")
        )
    else:
        groups, inner = names.group_counts(canonical)
        block = "bert/encoder/transformer/group_0/inner_group_0"
        query = _shape(bundle, f"{block}/attention_1/self/query/kernel")
        ffn = _shape(bundle, f"{block}/ffn_1/intermediate/dense/kernel")
        positions = _shape(bundle, "bert/embeddings/position_embeddings")
        rows.append(("architecture", "google-research ALBERT"))
        hidden, inner_size = _dim(query, 1), _dim(ffn, 1)
        rows.append(
            (
                "sizes",
                f"vocabulary {_dim(words, 0)}, embedding {_dim(words, 1)}, hidden {hidden}, "
                f"FFN {inner_size}, max positions {_dim(positions, 0)}",
            )
        )
        rows.append(("layers", _layers(directory, bundle, options, groups, inner)))
    rows.append(("head", _head(bundle, canonical)))
    has_head = convert.head_kind(canonical) == "token-classification"

    def unused(name: str) -> bool:
        return names.is_dropped(name) or (has_head and name.startswith("bert/pooler/"))

    dropped = [n for n in canonical if unused(n)]
    slots = sum(n.endswith(("/adam_m", "/adam_v")) for n in dropped)
    pooler = has_head and any(n.startswith("bert/pooler/") for n in canonical)
    ignored = [f"{slots} Adam slots (adam_m, adam_v)"] if slots else []
    ignored += [n for n in ("global_step",) if n in canonical]
    ignored += ["pre-training heads cls/*"] if any(n.startswith("cls/") for n in dropped) else []
    ignored += ["pooler (unused by token classification)"] if pooler else []
    rows.append(("ignored", ", ".join(ignored) or "nothing"))
    kept = [e for n, e in bundle.entries.items() if not unused(names.canonical(n))]
    dtypes = sorted({e.dtype for e in kept})
    count = sum(_size(e.shape) for e in kept)
    rows.append(("weights", f"{len(kept)} tensors, {count:,} parameters, {', '.join(dtypes)}"))
    rows.append(("export", _verdict(directory, options, bundle)))
    return rows


def _dim(shape: tuple[int, ...] | None, axis: int) -> str:
    return f"{shape[axis]:,}" if shape and len(shape) > axis else "?"


def _size(shape: tuple[int, ...]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def _layers(
    directory: Path,
    bundle: tensorbundle.Bundle,
    options: convert.Tf1Options,
    groups: int,
    inner: int,
) -> str:
    shared = f"{groups} group(s) of shared layers, {inner} inner group(s) each"
    try:
        config = tf1_config.read_config(tf1_config.find_config(directory, options.config))
        return (
            f"{config['num_hidden_layers']} layers in {shared}, "
            f"{config['num_attention_heads']} attention heads (from the config)"
        )
    except ExportError:
        pass
    meta = bundle.prefix.with_name(bundle.prefix.name + ".meta")
    count, heads = meta_graph_facts(meta) if meta.is_file() else (None, None)
    if count:
        attention = f"{heads} attention heads" if heads else "attention heads unknown"
        return f"{count} layers in {shared}, {attention} (from the .meta graph)"
    return f"{shared}; layer and head counts are not in the index (pass --config)"


def _head(bundle: tensorbundle.Bundle, canonical: list[str]) -> str:
    kind = convert.head_kind(canonical)
    if kind == "token-classification":
        shape = _shape(bundle, "output_weights")
        return (
            f"output_weights {list(shape or [])}: a BioBERT-style NER head, or a sequence "
            "classifier (same names; the label list tells)"
        )
    if kind == "pre-training":
        return "pre-training heads only (cls/predictions, cls/seq_relationship): no NER head"
    return "none (an encoder alone)"


def _verdict(directory: Path, options: convert.Tf1Options, bundle: tensorbundle.Bundle) -> str:
    try:
        p = convert.plan(directory, options, require_head=True)
    except ExportError as exc:
        return f"would refuse: {exc}"
    missing = bundle.missing_data_files()
    if missing:
        return f"would refuse: data shard {missing[0].name} is missing"
    labels = p.head_labels.labels if p.head_labels else []
    return f"would write an AlbertForTokenClassification bundle with labels {', '.join(labels)}"


def describe_hf(directory: Path) -> Rows:
    from biotag.export.checkpoint import inspect_checkpoint

    config = json.loads((directory / "config.json").read_text())
    rows: Rows = [("format", "Hugging Face checkpoint folder")]
    rows.append(("architecture", ", ".join(config.get("architectures") or ["?"])))
    keys = ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "intermediate_size")
    rows.append(("sizes", ", ".join(f"{k} {config[k]}" for k in keys if k in config)))
    id2label = config.get("id2label") or {}
    rows.append(("labels", ", ".join(id2label[k] for k in sorted(id2label, key=int)) or "none"))
    try:
        info = inspect_checkpoint(directory, directory.name)
        rows.append(("export", f"would write heads {', '.join(h.name for h in info.heads)}"))
    except ExportError as exc:
        rows.append(("export", f"would refuse: {exc}"))
    return rows


def describe_bundle(directory: Path) -> Rows:
    from biotag.bundle import read_manifest

    manifest = read_manifest(directory)
    rows: Rows = [("format", f"biotag bundle {manifest.name} ({manifest.architecture})")]
    for head in manifest.heads:
        rows.append((f"head {head.name}", f"{head.scheme}: {', '.join(head.labels)}"))
    rows.append(("graphs", ", ".join(manifest.graphs)))
    rows.append(("max length", str(manifest.max_length)))
    rows.append(("lower-cases", str(manifest.lowercase)))
    return rows


def describe(path: Path, options: convert.Tf1Options) -> Rows:
    if not path.is_dir():
        raise ExportError(f"{path} is not a folder")
    if (path / "bundle.json").is_file():
        return describe_bundle(path)
    if tensorbundle.is_tf1_checkpoint(path):
        return describe_tf1(path, options)
    if (path / "config.json").is_file():
        return describe_hf(path)
    raise ExportError(f"{path} is neither a TF1 checkpoint, a Hugging Face folder nor a bundle")
