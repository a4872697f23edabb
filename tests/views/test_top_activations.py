"""Top activating examples and patches equal a brute-force search; memory stays bounded."""

from __future__ import annotations

import gc
import tracemalloc

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import keras_viz as kv

SHAPE = (14, 13, 2)
N = 60


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(5)
    backbone = keras.Sequential(
        [keras.Input(SHAPE), layers.Conv2D(4, 3, strides=2, padding="same", name="c1"), layers.ReLU(name="r1")], name="backbone"
    )
    inputs = keras.Input(SHAPE)
    x = layers.Conv2D(5, 3, name="c2")(backbone(inputs))
    outputs = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inputs, outputs, name="nested_top")
    x = np.random.default_rng(0).normal(size=(N, *SHAPE)).astype(np.float32)
    maps = {name: kv.FeatureMaps(model, [name])(x)[name] for name in ("c2", "backbone/c1", "head")}
    return model, x, maps


def _brute_force(activation: np.ndarray, k: int):
    """Per channel: the k samples with the largest maximum (stable), and where the maximum is."""
    flat = activation.reshape(len(activation), -1, activation.shape[-1])
    maxima = flat.max(axis=1)  # (N, C)
    order = np.argsort(-maxima.T, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(maxima.T, order, axis=1)
    spatial = activation.shape[1:-1]
    positions = np.array(
        [[np.unravel_index(flat[i, :, c].argmax(), spatial) for i in order[c]] for c in range(activation.shape[-1])]
    ).reshape(activation.shape[-1], k, len(spatial))
    return values, order, positions


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_values_indices_positions_equal_brute_force(setup, batch_size):
    model, x, maps = setup
    top = kv.top_activations(model, x, "c2", k=9, batch_size=batch_size)
    values, indices, positions = _brute_force(maps["c2"], 9)
    np.testing.assert_array_equal(top.indices, indices)
    np.testing.assert_allclose(top.values, values, rtol=1e-6)
    np.testing.assert_array_equal(top.positions, positions)
    assert top.count == N and top.layer == "c2" and list(top.channels) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_ties_go_to_the_earlier_input_and_the_first_position(batch_size):
    """Integer inputs and weights give exact ties (and a ReLU gives all-zero channels)."""
    model = keras.Sequential([keras.Input((5, 5, 1)), layers.Conv2D(3, 2, activation="relu", name="conv")])
    kernel = np.stack([np.ones((2, 2)), -np.ones((2, 2)), np.eye(2)], axis=-1)[:, :, None, :]
    model.get_layer("conv").set_weights([kernel.astype(np.float32), np.array([0.0, -1.0, 0.0], np.float32)])
    x = np.random.default_rng(3).integers(0, 2, size=(40, 5, 5, 1)).astype(np.float32)
    top = kv.top_activations(model, x, "conv", k=6, batch_size=batch_size)
    values, indices, positions = _brute_force(kv.FeatureMaps(model, ["conv"])(x)["conv"], 6)
    np.testing.assert_array_equal(top.values, values)
    np.testing.assert_array_equal(top.indices, indices)
    np.testing.assert_array_equal(top.positions, positions)
    np.testing.assert_array_equal(top.indices[1], np.arange(6))  # channel 1 is zero everywhere


def test_patches_are_the_receptive_field_crops_padded_at_borders(setup):
    model, x, maps = setup
    top = kv.top_activations(model, x, "c2", k=4, pad_value=-9.0)
    field = top.receptive_field
    assert field.size == (7, 7) and field.stride == (2, 2)
    assert top.patches.shape == (5, 4, 7, 7, 2)
    padded = np.pad(x, ((0, 0), (8, 8), (8, 8), (0, 0)), constant_values=-9.0)
    for c in range(5):
        for r in range(4):
            (r0, r1), (c0, c1) = field.region(top.positions[c, r], clip=False)
            expected = padded[top.indices[c, r], r0 + 8 : r1 + 8, c0 + 8 : c1 + 8]
            np.testing.assert_array_equal(top.patches[c, r], expected)
    assert (top.patches == -9.0).any()  # some maximum sits at a border (the 'same' padding)


def test_dataset_and_channel_subset_and_nested_layer(setup):
    model, x, maps = setup
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(N))).batch(11)
    top = kv.top_activations(model, dataset, "backbone/c1", channels=[3, 1], k=5, batch_size=4)
    values, indices, positions = _brute_force(maps["backbone/c1"][..., [3, 1]], 5)
    np.testing.assert_array_equal(top.indices, indices)
    np.testing.assert_array_equal(top.positions, positions)
    np.testing.assert_allclose(top.values, values, rtol=1e-6)
    assert list(top.channels) == [3, 1]
    from_arrays = kv.top_activations(model, x, "backbone/c1", channels=[3, 1], k=5, batch_size=7)
    np.testing.assert_array_equal(top.patches, from_arrays.patches)  # inputs kept while streaming


def test_layer_without_spatial_axes_keeps_whole_inputs(setup):
    model, x, maps = setup
    top = kv.top_activations(model, x, "head", k=3)
    values, indices, _ = _brute_force(maps["head"], 3)
    np.testing.assert_array_equal(top.indices, indices)
    assert top.positions.shape == (3, 3, 0) and top.receptive_field is None
    np.testing.assert_array_equal(top.patches, x[indices])


def test_fewer_inputs_than_k(setup):
    model, x, _ = setup
    top = kv.top_activations(model, x[:3], "c2", k=9)
    assert top.values.shape == (5, 3) and sorted(top.indices[0]) == [0, 1, 2]


def test_guided_patches_are_zero_outside_the_input_and_match_guided_backprop(setup):
    model, x, _ = setup
    top = kv.top_activations(model, x, "c2", k=2, channels=[0, 2])
    guided = kv.views.guided_patches(model, x, top)
    assert guided.shape == top.patches.shape
    field = top.receptive_field
    c, r = 1, 0
    unit = kv.Unit("c2", channel=int(top.channels[c]), position=tuple(int(p) for p in top.positions[c, r]))
    reference = kv.GuidedBackprop(model, reduce=None)(x[top.indices[c, r]][None], targets=unit)[0]
    (r0, r1), (c0, c1) = field.region(top.positions[c, r], clip=False)
    full = np.pad(reference, ((8, 8), (8, 8), (0, 0)))[r0 + 8 : r1 + 8, c0 + 8 : c1 + 8]
    # kv.Unit averages the selected activations; one neuron is selected, so the gradients agree.
    np.testing.assert_allclose(guided[c, r], full, rtol=1e-4, atol=1e-6)


def test_a_long_stream_is_traced_at_once_and_a_short_one_at_its_third_call(monkeypatch):
    """Eager runs (Explainer.EAGER_CALLS) only pay off for short streams; they are counted
    across calls, so a view called again on a short stream is traced like an explainer."""
    import keras_viz._functions as functions

    eager = []
    run_eagerly = functions.run_eagerly
    monkeypatch.setattr(functions, "run_eagerly", lambda body: eager.append(1) or run_eagerly(body))
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(2, 3, name="conv")])
    x = np.random.default_rng(0).normal(size=(12, 6, 6, 1)).astype(np.float32)
    kv.top_activations(model, x, "conv", k=2, batch_size=4)  # 3 batches
    assert eager == []
    for expected in (1, 2, 2):  # one batch per call: eager twice, then the traced graph
        kv.top_activations(model, x[:3], "conv", k=2, batch_size=4, channels=[1])
        assert len(eager) == expected


def test_memory_stays_bounded_on_a_long_stream():
    """20k inputs through a running top-k: Python/NumPy memory does not grow with the stream."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(8, 3, name="conv")])

    def stream(n):
        images = tf.data.Dataset.range(n).map(
            lambda i: tf.random.stateless_normal((6, 6, 1), seed=tf.stack([i, tf.constant(0, tf.int64)])),
        )
        return images.batch(500).prefetch(2)

    peaks = {}
    for n in (2_000, 20_000):
        kv.top_activations(model, stream(200), "conv", k=9, batch_size=500)  # warm: trace once
        gc.collect()
        tracemalloc.start()
        top = kv.top_activations(model, stream(n), "conv", k=9, batch_size=500)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert top.count == n
    # All activations of 20k inputs would be 20k * 16 * 8 * 4 B = 10 MB; growth stays far below.
    assert peaks[20_000] - peaks[2_000] < 1_000_000, peaks
    assert peaks[20_000] < 5_000_000, peaks


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"k": 0}, ValueError, r"`k` must be a positive int; received k=0"),
        ({"batch_size": 0}, ValueError, r"`batch_size` must be a positive int"),
        ({"channels": [7]}, ValueError, r"`channels`=\[7\] holds 7, out of range: the layer has 5 channel"),
        ({"channels": []}, ValueError, r"`channels` must be a non-empty list of ints"),
        ({"channels": "a"}, TypeError, r"`channels` must be a list of ints"),
        ({"k": 1.0}, TypeError, r"`k` must be a positive int"),
        ({"layer": "nope"}, ValueError, r"Unknown layer 'nope'"),
    ],
)
def test_bad_arguments(setup, kwargs, error, message):
    model, x, _ = setup
    arguments = {"layer": "c2", **kwargs}
    with pytest.raises(error, match=message):
        kv.top_activations(model, x, arguments.pop("layer"), **arguments)


def test_empty_data_is_refused(setup):
    model, x, _ = setup
    with pytest.raises(ValueError, match="empty"):
        kv.top_activations(model, x[:0], "c2")


from tests.conftest import MODEL_KINDS, sample_inputs  # noqa: E402


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_model_kind(model_zoo, kind):
    """Top activations, codes and receptive fields of `conv1` on every model kind of SPEC §2."""
    model = model_zoo[kind]
    x = sample_inputs(kind, n=7)
    top = kv.top_activations(model, x, "conv1", k=3, batch_size=4)
    conv = kv.FeatureMaps(model, ["conv1"])(x)["conv1"]
    _, indices, positions = _brute_force(conv, 3)
    np.testing.assert_array_equal(top.indices, indices)
    np.testing.assert_array_equal(top.positions, positions)
    rank = conv.ndim - 2
    assert top.receptive_field.size == (3,) * rank and top.patches.shape[2 : 2 + rank] == (3,) * rank
    np.testing.assert_allclose(kv.embeddings(model, x, "conv1"), conv.mean(axis=tuple(range(1, rank + 1))), rtol=1e-3, atol=1e-3)
