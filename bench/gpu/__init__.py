"""Stages of the GPU check (``python -m bench.gpu_check``); see docs/gpu.md."""
