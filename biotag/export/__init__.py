"""Checkpoint -> model bundle: ONNX export, fusion, fp16/int8 variants, parity, manifest.

Imports torch and transformers; the service never imports this package.
"""
