"""The model bundle manifest (``bundle.json``): the contract between export and service.

A bundle is a folder holding ONNX graph(s), a fast tokenizer (``tokenizer.json``) and this
manifest. One bundle runs one encoder; it may carry several classification heads whose logits
are contiguous slices of the single ``logits`` output, so one inference serves every head.
Each head is served under its own model name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from biotag.labels import LabelScheme

MANIFEST_FILE = "bundle.json"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# The most entity-level F1 an int8 graph may lose against fp32 on a devel set: publishing
# enforces it, and the service warns about heads not shown to keep it on the CPU at hand.
MAX_INT8_F1_LOSS = 0.005


def int8_loses_f1(fp32_f1: float, int8_f1: float) -> bool:
    """Whether int8 lost more than ``MAX_INT8_F1_LOSS`` against fp32 on one set."""
    return fp32_f1 - int8_f1 > MAX_INT8_F1_LOSS


Precision = Literal["fp32", "fp16", "int8"]


def is_valid_model_name(name: str) -> bool:
    return re.fullmatch(MODEL_NAME_PATTERN, name) is not None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Head(_Frozen):
    """One classification head: a model name and the slice of logits it owns."""

    name: str = Field(pattern=MODEL_NAME_PATTERN)
    labels: list[str] = Field(min_length=2)
    scheme: LabelScheme
    entity_types: list[str]
    logit_offset: int = Field(ge=0, description="first column of this head in the logits output")

    @property
    def logit_slice(self) -> slice:
        return slice(self.logit_offset, self.logit_offset + len(self.labels))


class Parity(_Frozen):
    """How closely a graph reproduces the framework model on the exporter's sample texts."""

    checked_on: str = Field(description="execution provider the figures were measured on")
    cpu_vnni: bool | None = Field(
        default=None,
        description="on the CPU provider: whether that CPU had VNNI (without it, full-range "
        "int8 products can saturate, so figures measured there include that); None elsewhere "
        "or in bundles exported before this was recorded",
    )
    max_abs_logit_diff: float
    label_agreement: float = Field(ge=0.0, le=1.0)
    tokens_compared: int
    passed: bool


class Graph(_Frozen):
    file: str
    precision: Precision
    bytes: int
    sha256: str
    batch_invariant: bool = Field(
        description="results for one sequence do not depend on the rest of its batch; "
        "dynamic int8 quantization computes activation scales over the whole batch, so no"
    )
    parity: Parity | None = Field(
        default=None, description="None when no execution provider here could run the graph"
    )
    weight_bits: int | None = Field(
        default=None,
        ge=7,
        le=8,
        description="int8 graphs: bits of the weights. 8 (full range) is exact on CPUs with "
        "VNNI; without it ONNX Runtime's u8 x s8 kernels can saturate, which 7 avoids (chosen "
        "with --int8-reduce-range, or by an export on such a CPU where 8 failed parity)",
    )
    float_layers: list[int] = Field(
        default_factory=list,
        description="int8 graphs: encoder layers (0-based) kept in float (--int8-float-layer)",
    )
    float_outlier_channels: int = Field(
        default=0,
        ge=0,
        description="int8 graphs: input channels of the encoder's MatMuls computed in float "
        "beside the int8 product, those whose activations exceed the LLM.int8() threshold on "
        "the parity sentences (--no-int8-outlier-channels: none); 0 in older bundles",
    )


class Manifest(_Frozen):
    format_version: int = FORMAT_VERSION
    name: str = Field(pattern=MODEL_NAME_PATTERN)
    architecture: str
    model_type: str
    heads: list[Head] = Field(min_length=1)
    max_length: int = Field(gt=2)
    lowercase: bool
    pad_token_id: int
    tokenizer: str = TOKENIZER_FILE
    graphs: dict[Precision, Graph]
    source_checkpoint_sha256: str
    versions: dict[str, str]
    fusion: dict[str, int] = Field(default_factory=dict)
    evaluation: dict[str, dict[str, dict[str, float]]] = Field(
        default_factory=dict,
        description="model (head) -> dataset -> precision / recall / f1 from `biotag eval` (and "
        "fp32_f1 where the same checkpoint's fp32 graph was scored as well; f1_without_vnni "
        "where the int8 graph was also scored on a CPU without VNNI, or as one computes it: "
        "models.recipe.without_vnni; the same figures suffixed _grouped for a sentence file "
        "scored with every 10 sentences sent as one text, as `biotag eval --group 10` does)",
    )
    # Optional and defaulted, so bundles written before it still read: no format_version bump.
    training: dict[str, object] = Field(
        default_factory=dict,
        description="how the checkpoint was trained, copied by models.recipe.publish from the "
        "recipe's devel_metrics.json: trained_on (['train'], or ['train', 'devel'] for a final "
        "model, whose devel figures above are then not held out), schedule (epochs, lr, ... and "
        "where it was chosen), kept_epoch, base_model; empty for other checkpoints",
    )
    evaluation_decoding: Literal["argmax", "viterbi"] = Field(
        default="argmax",
        description="the decoding (BIOTAG_DECODING) the evaluation figures were measured with; "
        "bundles published before Viterbi decoding existed carry argmax figures",
    )

    @field_validator("format_version")
    @classmethod
    def _known_format(cls, value: int) -> int:
        # a newer exporter's bundle may mean something this reader would get silently wrong
        if value != FORMAT_VERSION:
            raise ValueError(
                f"unknown bundle format_version {value} (this biotag reads {FORMAT_VERSION}); "
                "upgrade biotag or re-export the bundle"
            )
        return value

    @model_validator(mode="after")
    def _heads_are_consistent(self) -> Manifest:
        names = [head.name for head in self.heads]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate head names {names}")
        offset = 0
        for head in self.heads:
            if head.logit_offset != offset:
                raise ValueError(f"head {head.name!r} must start at logit {offset}")
            offset += len(head.labels)
        for precision, graph in self.graphs.items():
            if graph.precision != precision:
                raise ValueError(f"graph listed as {precision} says {graph.precision}")
        return self

    @property
    def num_logits(self) -> int:
        return sum(len(head.labels) for head in self.heads)


def read_manifest(bundle_dir: Path) -> Manifest:
    return Manifest.model_validate_json((bundle_dir / MANIFEST_FILE).read_bytes())


def write_manifest(bundle_dir: Path, manifest: Manifest) -> None:
    (bundle_dir / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")
