"""Several explainers sharing one forward pass give the same maps as each alone."""

from __future__ import annotations

import numpy as np
import pytest

import keras_viz as kv
from tests.conftest import sample_inputs


def _methods(model):
    return [
        kv.Saliency(model),
        kv.GradCAM(model),
        kv.GuidedGradCAM(model),
        kv.Deconvnet(model, reduce=None),
        kv.CAM(model),
        kv.IntegratedGradients(model, steps=4),  # multi-pass: runs on its own
    ]


@pytest.mark.parametrize("kind", ["functional", "nested", "subclassed"])
def test_group_equals_individual_explainers(model_zoo, kind):
    model = model_zoo[kind]
    x = sample_inputs(kind, n=5)
    targets = [0, 1, 2, 1, 0]
    group = kv.ExplainerGroup(_methods(model), batch_size=4)
    together = group.explain(x, targets=targets)
    for explanation, alone in zip(together, _methods(model)):
        expected = alone.explain(x, targets=targets)
        np.testing.assert_allclose(explanation.maps, expected.maps, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(explanation.classes, expected.classes)


def test_group_runs_one_forward_pass(model_zoo):
    model = model_zoo["sequential"]  # two Conv2D layers
    group = kv.ExplainerGroup(_methods(model)[:5])
    group(sample_inputs("sequential", n=2), targets=None)
    assert group.trace_count == 1
    (function,) = group._functions.values()
    forward_convs = [op for op in function.graph.get_operations() if op.type == "Conv2D"]
    assert len(forward_convs) == 2  # one forward pass, not one per method


def test_group_rejects_mixed_models(model_zoo):
    with pytest.raises(ValueError, match="must all explain the same model"):
        kv.ExplainerGroup([kv.Saliency(model_zoo["functional"]), kv.Saliency(model_zoo["nested"])])
    with pytest.raises(ValueError, match="`explainers` is empty"):
        kv.ExplainerGroup([])
