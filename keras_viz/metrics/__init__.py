"""How far can an explanation be trusted? Faithfulness, localisation and sanity checks.

* :mod:`~keras_viz.metrics.faithfulness` -- :func:`deletion` and :func:`insertion`
  (Petsiuk et al., RISE, BMVC 2018): does removing what the map ranks first change the
  model's answer?
* :mod:`~keras_viz.metrics.localisation` -- :func:`pointing_game` (Zhang et al., ECCV 2016)
  and :func:`energy_in_mask`: does the map point at the object (or at a confound)?
  :func:`flat_maps` flags constant maps, which point nowhere (a pointing-game miss).
* :mod:`~keras_viz.metrics.randomization` -- :func:`model_randomization` (Adebayo et al.,
  "Sanity Checks for Saliency Maps", NeurIPS 2018) and :func:`rank_correlation`: does the
  map change when the model's weights are destroyed?

Metrics call explainers and models; nothing below them imports this package.
``kv.datasets.make_shapes(..., watermark=p)`` provides images with ground-truth object
masks and a class-specific confound to test them on.
"""

from keras_viz.metrics.faithfulness import (
    PerturbationScorer,
    area_under_curve,
    baseline_images,
    deletion,
    gaussian_blur,
    insertion,
    perturbation_curves,
)
from keras_viz.metrics.localisation import energy_in_mask, flat_maps, pointing_game
from keras_viz.metrics.randomization import (
    RandomizationResult,
    model_randomization,
    randomizable_layers,
    rank_correlation,
)

__all__ = [
    "PerturbationScorer",
    "RandomizationResult",
    "area_under_curve",
    "baseline_images",
    "deletion",
    "energy_in_mask",
    "flat_maps",
    "gaussian_blur",
    "insertion",
    "model_randomization",
    "perturbation_curves",
    "pointing_game",
    "randomizable_layers",
    "rank_correlation",
]
