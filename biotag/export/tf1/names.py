"""google-research ALBERT variable names -> Hugging Face ``Albert*`` state-dict keys.

An explicit table rather than transformers' old path walk: the walk skipped a failed path
component and crashed on the wrong module later (transformers #3779, #4434, #2006,
google-research/albert #241). Here the checkpoint must hold exactly the variables the config
implies, so an unknown or missing variable is an error naming it, never a silently random
weight. Optimizer slots, ``global_step`` and the pre-training heads are dropped on purpose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from biotag.export.errors import ExportError

_LAYER_PARTS = {
    "attention_1/self/query": "attention.query",
    "attention_1/self/key": "attention.key",
    "attention_1/self/value": "attention.value",
    "attention_1/output/dense": "attention.dense",
    "ffn_1/intermediate/dense": "ffn",
    "ffn_1/intermediate/output/dense": "ffn_output",
}
_LAYER_NORMS = {"LayerNorm": "attention.LayerNorm", "LayerNorm_1": "full_layer_layer_norm"}
_GROUP = re.compile(r"^bert/encoder/transformer/group_(\d+)/inner_group_(\d+)/")


@dataclass(frozen=True)
class Shapes:
    """The sizes that fix the set of variable names and their shapes."""

    vocab_size: int
    embedding_size: int
    hidden_size: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    num_hidden_groups: int
    inner_group_num: int


@dataclass(frozen=True)
class Target:
    key: str  # Hugging Face state-dict key
    shape: tuple[int, ...]  # shape in the TF checkpoint
    transpose: bool  # TF dense kernels are [in, out]; torch Linear weights are [out, in]


def is_dropped(name: str) -> bool:
    """Variables a converted model does not need: optimizer state and training-only heads."""
    return (
        name.endswith(("/adam_m", "/adam_v"))
        or "AdamWeightDecayOptimizer" in name
        or name == "global_step"
        or name.startswith(("cls/predictions/", "cls/seq_relationship/"))
    )


def canonical(name: str) -> str:
    """TF-Hub exports prefix every variable with ``module/``."""
    return name.removeprefix("module/")


def expected_targets(
    shapes: Shapes, num_labels: int | None, pooler: bool, prefix: str
) -> dict[str, Target]:
    """Every TF variable the config implies, mapped to its HF key under ``prefix``
    (``albert.`` inside ``AlbertForTokenClassification``, empty for a bare ``AlbertModel``)."""
    e, h, i = shapes.embedding_size, shapes.hidden_size, shapes.intermediate_size
    out: dict[str, Target] = {}

    def dense(tf_scope: str, key: str, fan_in: int, fan_out: int) -> None:
        out[f"{tf_scope}/kernel"] = Target(f"{prefix}{key}.weight", (fan_in, fan_out), True)
        out[f"{tf_scope}/bias"] = Target(f"{prefix}{key}.bias", (fan_out,), False)

    def norm(tf_scope: str, key: str, width: int) -> None:
        out[f"{tf_scope}/gamma"] = Target(f"{prefix}{key}.weight", (width,), False)
        out[f"{tf_scope}/beta"] = Target(f"{prefix}{key}.bias", (width,), False)

    for table, rows in (
        ("word_embeddings", shapes.vocab_size),
        ("position_embeddings", shapes.max_position_embeddings),
        ("token_type_embeddings", shapes.type_vocab_size),
    ):
        out[f"bert/embeddings/{table}"] = Target(
            f"{prefix}embeddings.{table}.weight", (rows, e), False
        )
    norm("bert/embeddings/LayerNorm", "embeddings.LayerNorm", e)
    if e != h:  # modeling.py creates the projection only then (convert.py adds an identity)
        dense(
            "bert/encoder/embedding_hidden_mapping_in", "encoder.embedding_hidden_mapping_in", e, h
        )
    for group in range(shapes.num_hidden_groups):
        for inner in range(shapes.inner_group_num):
            tf_scope = f"bert/encoder/transformer/group_{group}/inner_group_{inner}"
            key = f"encoder.albert_layer_groups.{group}.albert_layers.{inner}"
            for tf_part, hf_part in _LAYER_PARTS.items():
                fan_in = i if tf_part == "ffn_1/intermediate/output/dense" else h
                fan_out = i if tf_part == "ffn_1/intermediate/dense" else h
                dense(f"{tf_scope}/{tf_part}", f"{key}.{hf_part}", fan_in, fan_out)
            for tf_part, hf_part in _LAYER_NORMS.items():
                norm(f"{tf_scope}/{tf_part}", f"{key}.{hf_part}", h)
    if pooler:
        dense("bert/pooler/dense", "pooler", h, h)
    if num_labels is not None:  # BioBERT's run_ner.py head: logits = x @ W.T + b
        out["output_weights"] = Target("classifier.weight", (num_labels, h), False)
        out["output_bias"] = Target("classifier.bias", (num_labels,), False)
    return out


def check_names(
    present: dict[str, tuple[int, ...]], targets: dict[str, Target], source: str
) -> None:
    """The checkpoint's kept variables must be exactly ``targets``, with the same shapes."""
    refuse_keras_port(list(present), source)
    unexpected = sorted(set(present) - set(targets))
    missing = sorted(set(targets) - set(present))
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise ExportError(
            f"{source} holds variable {unexpected[0]}{more}, which google-research ALBERT with "
            "this config does not have; refusing rather than leaving weights out"
        )
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ExportError(
            f"{source} lacks variable {missing[0]}{more}, which the config implies; refusing "
            "rather than leaving that weight random"
        )
    for name, target in targets.items():
        if present[name] != target.shape:
            raise ExportError(
                f"variable {name} has shape {list(present[name])}, the config implies "
                f"{list(target.shape)}"
            )


def refuse_keras_port(variables: list[str], source: str) -> None:
    """google-research/albert#241: ALBERT run under TF2/Keras names its LayerNorms
    ``layer_normalization_N``, one per layer, which no shared-layer ALBERT can hold."""
    keras = sorted(n for n in variables if "layer_normalization" in n)
    if keras:
        raise ExportError(
            f"{source} is a TF2/Keras ALBERT port (variable {keras[0]}), not google-research "
            "ALBERT: its per-layer LayerNorms have no google-research or Hugging Face equivalent"
        )


def group_counts(names: list[str]) -> tuple[int, int]:
    """(num_hidden_groups, inner_group_num) as the variable names show them."""
    pairs = {(int(m[1]), int(m[2])) for n in names if (m := _GROUP.match(n))}
    if not pairs:
        return 0, 0
    return max(g for g, _ in pairs) + 1, max(i for _, i in pairs) + 1
