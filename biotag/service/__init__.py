"""The HTTP service: bundles on ONNX Runtime sessions, batching, span decoding, metrics.

Never imports torch or transformers' model code: the service image carries onnxruntime and
tokenizers only.
"""
