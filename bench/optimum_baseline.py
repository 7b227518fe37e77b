"""optimum's ONNX Runtime token-classification pipeline, fp32 and its own dynamic int8.

Runs in its own virtual environment (optimum-onnx pins transformers 4.x; biotag's export uses
5.x), so it imports nothing from biotag: `bench.core_path` creates that environment and runs

    VENV/bin/python bench/optimum_baseline.py CHECKPOINT TEXTS_JSON WORK --repeats 3

and reads one JSON object from the last line of stdout: abstracts/s per configuration (median
over repeats) and the quantization used.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path


def _rate(tagger: object, texts: list[str], batch_size: int, repeats: int) -> float:
    tagger(texts[:2], batch_size=batch_size)  # type: ignore[operator]
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        tagger(texts, batch_size=batch_size)  # type: ignore[operator]
        rates.append(len(texts) / (time.perf_counter() - began))
    return round(statistics.median(rates), 2)


def _readable_by_transformers_4(checkpoint: Path, copy: Path) -> Path:
    """A copy whose tokenizer_config.json transformers 4.x reads: transformers 5 writes
    ``extra_special_tokens`` as a list where 4.x expects a mapping."""
    shutil.copytree(checkpoint, copy, dirs_exist_ok=True)
    config_path = copy / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if isinstance(config.get("extra_special_tokens"), list):
        config["extra_special_tokens"] = {}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return copy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("texts", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import optimum.onnxruntime as optimum_ort
    from optimum.onnxruntime.configuration import AutoQuantizationConfig
    from transformers import AutoTokenizer, pipeline

    texts = json.loads(args.texts.read_text(encoding="utf-8"))
    checkpoint = _readable_by_transformers_4(args.checkpoint, args.work / "checkpoint")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    fp32_dir, int8_dir = args.work / "optimum-fp32", args.work / "optimum-int8"
    if not (fp32_dir / "model.onnx").is_file():
        model = optimum_ort.ORTModelForTokenClassification.from_pretrained(checkpoint, export=True)
        model.save_pretrained(fp32_dir)
    # optimum's own recipe for this CPU: dynamic int8, AVX-512 VNNI kernels
    config = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=True)
    if not (int8_dir / "model_quantized.onnx").is_file():
        quantizer = optimum_ort.ORTQuantizer.from_pretrained(fp32_dir)
        quantizer.quantize(save_dir=int8_dir, quantization_config=config)

    results: dict[str, object] = {"quantization": "avx512_vnni dynamic, per channel"}
    for name, directory, file_name in (
        ("fp32", fp32_dir, "model.onnx"),
        ("int8", int8_dir, "model_quantized.onnx"),
    ):
        model = optimum_ort.ORTModelForTokenClassification.from_pretrained(
            directory, file_name=file_name
        )
        tagger = pipeline(
            "token-classification",
            model=model,
            tokenizer=tokenizer,
            aggregation_strategy="first",
        )
        for batch_size in (1, 8):
            results[f"optimum_{name}_bs{batch_size}"] = _rate(
                tagger, texts, batch_size, args.repeats
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
