"""Bundles on ONNX Runtime: registry, sessions, shape buckets, batcher, tagger, runtime.

Knows nothing of HTTP; never imports ``api`` or ``multiprocess``.
"""
