"""TF1 google-research ALBERT checkpoints (BioALBERT's own format) -> Hugging Face folders.

numpy, safetensors and tokenizers only: nothing here imports TensorFlow (users holding a
BioALBERT download rarely have a TensorFlow 1 that runs), nor torch (``convert`` writes
weights without it; ``export`` hands the folder to the ordinary export path).
"""
