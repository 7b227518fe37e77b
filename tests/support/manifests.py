"""Manifest figures as tests need them: the committed bundle's, minus what a test replaces."""

from __future__ import annotations

from biotag.bundle import Manifest

Evaluation = dict[str, dict[str, dict[str, float]]]


def without_vnni_figures_removed(manifest: Manifest) -> Evaluation:
    """``manifest``'s evaluation with no ``f1_without_vnni`` anywhere: as published on a host
    with VNNI, before `models.recipe.without_vnni record` measured anything."""
    return {
        head: {
            dataset: {key: value for key, value in figures.items() if key != "f1_without_vnni"}
            for dataset, figures in datasets.items()
        }
        for head, datasets in manifest.evaluation.items()
    }
