"""biotag: biomedical entity tagging with fine-tuned token classifiers served on ONNX Runtime."""

__version__ = "0.1.0"
