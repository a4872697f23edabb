"""One contract for every explainer on every model kind (SPEC §2, §5).

Each explainer either returns finite float32 maps of the documented shape or raises
the documented clear error.
"""

from __future__ import annotations

import numpy as np
import pytest

import keras_viz as kv
from tests.conftest import MODEL_KINDS, sample_inputs

FAST = {"batch_size": 4}
EXPLAINERS = {
    "Saliency": lambda m, **o: kv.Saliency(m, **o),
    "Deconvnet": lambda m, **o: kv.Deconvnet(m, **o),
    "GuidedBackprop": lambda m, **o: kv.GuidedBackprop(m, **o),
    "GradientInput": lambda m, **o: kv.GradientInput(m, **o),
    "SmoothGrad": lambda m, **o: kv.SmoothGrad(m, samples=3, **o),
    "IntegratedGradients": lambda m, **o: kv.IntegratedGradients(m, steps=4, **o),
    "CAM": lambda m, **o: kv.CAM(m, **o),
    "GradCAM": lambda m, **o: kv.GradCAM(m, **o),
    "GradCAMPlusPlus": lambda m, **o: kv.GradCAMPlusPlus(m, **o),
    "GuidedGradCAM": lambda m, **o: kv.GuidedGradCAM(m, **o),
    "Occlusion": lambda m, **o: kv.Occlusion(m, patch_size=4, stride=4, **o),
}
SPATIAL_ONLY = {"CAM", "GradCAM", "GradCAMPlusPlus", "GuidedGradCAM"}
# (explainer, model kind) -> regex of the documented error.
EXPECTED_ERRORS = {
    ("CAM", "multi_input"): "CAM needs GlobalAveragePooling to feed a Dense layer directly",
}


def _expected_shapes(name: str, kind: str, n: int):
    if kind == "conv1d":
        return (n, 20)
    if kind == "multi_input" and name not in SPATIAL_ONLY:
        return [(n, 16, 16), (n, 4)]
    return (n, 16, 16)


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("name", sorted(EXPLAINERS))
def test_every_explainer_on_every_model_kind(model_zoo, name, kind):
    model = model_zoo[kind]
    options = dict(FAST, output="cls") if kind == "multi_output" else dict(FAST)
    explainer = EXPLAINERS[name](model, **options)
    inputs = sample_inputs(kind, n=5)
    if (name, kind) in EXPECTED_ERRORS:
        with pytest.raises(ValueError, match=EXPECTED_ERRORS[(name, kind)]):
            explainer(inputs, targets=None)
        return
    result = explainer.explain(inputs, targets=[0, 1, 2, 0, 1])
    expected = _expected_shapes(name, kind, 5)
    maps = result.maps if isinstance(result.maps, list) else [result.maps]
    shapes = expected if isinstance(expected, list) else [expected]
    assert [m.shape for m in maps] == shapes
    for m in maps:
        assert m.dtype == np.float32
        assert np.all(np.isfinite(m))
    assert np.any(maps[0] != 0), "an explanation of a random model should not be all zeros"
    np.testing.assert_array_equal(result.classes, [0, 1, 2, 0, 1])
    assert result.scores.shape == (5,)


@pytest.mark.parametrize("name", sorted(EXPLAINERS))
def test_traced_once_per_input_signature(model_zoo, name):
    model = model_zoo["functional"]
    explainer = EXPLAINERS[name](model, **FAST)
    x = sample_inputs("functional", n=6)
    explainer(x, targets=None)
    explainer(x[:3], targets=[2, 1, 0])
    explainer(x, targets=1)  # the third call of these functions: traced now (EAGER_CALLS = 2)
    traces = explainer.trace_count
    assert traces >= 1
    explainer(x[:3], targets=[2, 1, 0])  # other batch size and class targets: no retrace
    explainer(x, targets=None)
    assert explainer.trace_count == traces


@pytest.mark.parametrize("name", sorted(EXPLAINERS))
def test_batch_size_invariance(model_zoo, name):
    model = model_zoo["functional"]
    x = sample_inputs("functional", n=5, seed=3)
    labels = [2, 0, 1, 1, 2]
    results = [EXPLAINERS[name](model, batch_size=b)(x, targets=labels) for b in (1, 3, 64)]
    scale = float(np.abs(results[-1]).max()) or 1.0
    for other in results[:-1]:
        np.testing.assert_allclose(other, results[-1], rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("name", ["Saliency", "GradCAM", "IntegratedGradients", "Occlusion"])
def test_dataset_inputs_match_array_inputs(model_zoo, name):
    import tensorflow as tf

    model = model_zoo["functional"]
    x = sample_inputs("functional", n=7, seed=4)
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    explainer = EXPLAINERS[name](model, **FAST)
    expected = explainer(x, targets=y)
    batched = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    np.testing.assert_allclose(explainer(batched, targets="labels"), expected, rtol=1e-5, atol=1e-6)
    unlabelled = tf.data.Dataset.from_tensor_slices(x).batch(5)
    np.testing.assert_allclose(explainer(unlabelled, targets=y), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(explainer(tf.constant(x), targets=y), expected, rtol=1e-5, atol=1e-6)


def test_dict_inputs_return_dict_maps(model_zoo):
    model = model_zoo["multi_input"]
    image, extra = sample_inputs("multi_input", n=3)
    maps = kv.Saliency(model)({"image": image, "extra": extra}, targets=0)
    assert isinstance(maps, dict) and maps["image"].shape == (3, 16, 16) and maps["extra"].shape == (3, 4)
    as_list = kv.Saliency(model)([image, extra], targets=0)
    np.testing.assert_allclose(maps["image"], as_list[0], rtol=1e-6)
    np.testing.assert_allclose(maps["extra"], as_list[1], rtol=1e-6)


def test_smoothgrad_is_deterministic_for_a_seed(model_zoo):
    model = model_zoo["functional"]
    x = sample_inputs("functional", n=3)
    a = kv.SmoothGrad(model, samples=4, seed=7)(x, targets=0)
    b = kv.SmoothGrad(model, samples=4, seed=7)(x, targets=0)
    c = kv.SmoothGrad(model, samples=4, seed=8)(x, targets=0)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_dict_keys_may_differ_from_input_names():
    import keras
    from keras import layers

    image, meta = keras.Input((8, 8, 1), name="img_in"), keras.Input((3,), name="meta_in")
    x = layers.Concatenate()([layers.GlobalAveragePooling2D()(layers.Conv2D(2, 3)(image)), meta])
    model = keras.Model({"image": image, "meta": meta}, layers.Dense(2)(x))
    rng = np.random.default_rng(0)
    inputs = {"image": rng.uniform(size=(2, 8, 8, 1)).astype(np.float32), "meta": rng.normal(size=(2, 3)).astype(np.float32)}
    maps = kv.Saliency(model)(inputs, targets=0)
    assert maps["image"].shape == (2, 8, 8) and maps["meta"].shape == (2, 3)
