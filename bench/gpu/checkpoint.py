"""The random BioALBERT-sized checkpoint, and its export through `python -m biotag.cli export`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.albert_base import (
    BASE_SIZES,
    VOCAB_SIZE,
    build_albert_base,
    classifier_config,
    make_labels_realistic,
)
from bench.repo import REPO, child_env

TINY = {
    "embedding_size": 64,
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 256,
}


def build_checkpoint(
    directory: Path, texts: list[str], tiny: bool, tokenizer_kind: str
) -> dict[str, Any]:
    """Base size: bench.albert_base (SentencePiece), else a `tokenizers` Unigram fallback."""
    if (directory / "config.json").is_file():
        return {"path": str(directory), "reused": True}
    info: dict[str, Any] = {"path": str(directory), "tiny": tiny}
    if not tiny and tokenizer_kind in ("auto", "sentencepiece"):
        try:
            build_albert_base(directory, texts)
            info["builder"] = "bench.albert_base.build_albert_base (SentencePiece)"
            return info
        except Exception as exc:  # sentencepiece or the slow->fast conversion missing
            if tokenizer_kind == "sentencepiece":
                raise
            info["sentencepiece_error"] = f"{type(exc).__name__}: {exc}"[:1000]
    _build_with_tokenizers(
        directory, texts, TINY if tiny else BASE_SIZES, 8000 if tiny else VOCAB_SIZE
    )
    info["builder"] = "bench.gpu.checkpoint (tokenizers Unigram, uncased, accents stripped)"
    return info


def _build_with_tokenizers(
    directory: Path, texts: list[str], sizes: dict[str, int], vocab_size: int
) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import UnigramTrainer
    from transformers import AlbertForTokenClassification, PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>")
    tokenizer.train_from_iterator(texts, trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        unk_token="<unk>",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    config = classifier_config(
        tokenizer.get_vocab_size(), sizes, pad_token_id=tokenizer.token_to_id("<pad>")
    )
    torch.manual_seed(0)
    model = AlbertForTokenClassification(config).eval()
    make_labels_realistic(model, fast, texts[:40])
    model.save_pretrained(directory)
    fast.save_pretrained(directory)


def export_bundle(
    checkpoint: Path, bundle: Path, precisions: list[str], log_file: Path, timeout_s: float
) -> dict[str, Any]:
    """Run the exporter as a user would; exit 1 (a variant failed parity) is still a bundle."""
    command = [sys.executable, "-m", "biotag.cli", "export", str(checkpoint), str(bundle)]
    for precision in precisions:
        command += ["--precision", precision]
    with log_file.open("w", encoding="utf-8") as sink:
        done = subprocess.run(
            command,
            cwd=REPO,
            env=child_env({"COLUMNS": "160"}),
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    output = log_file.read_text(encoding="utf-8", errors="replace")
    result: dict[str, Any] = {"command": " ".join(command), "exit_code": done.returncode}
    result["output_tail"] = output[-3000:]
    manifest_path = bundle / "bundle.json"
    if not manifest_path.is_file():
        raise RuntimeError(f"export wrote no bundle (exit {done.returncode}): {output[-1500:]}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    result["fusion"] = manifest.get("fusion")
    result["graphs"] = {
        name: {
            "MB": round(graph["bytes"] / 1e6, 2),
            "parity": graph.get("parity"),
        }
        for name, graph in manifest.get("graphs", {}).items()
    }
    result["versions"] = manifest.get("versions")
    result["max_length"] = manifest.get("max_length")
    return result
