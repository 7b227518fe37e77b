"""Training recipe for biotag's multi-head biomedical NER checkpoint.

Run from the repository root: ``python -m models.recipe.train --output build/default-checkpoint``.
"""
