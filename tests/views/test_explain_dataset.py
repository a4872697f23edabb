"""explain_dataset streams any explainer; under MirroredStrategy it equals the single-device run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import keras_viz as kv
from tests.conftest import build, sample_inputs


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return build("functional", str(tmp_path_factory.mktemp("explain_dataset")))


def _joined(parts):
    parts = list(parts)
    return (np.concatenate([p.maps for p in parts]), np.concatenate([p.classes for p in parts]),
            np.concatenate([p.scores for p in parts]), len(parts))


@pytest.mark.parametrize("make", [kv.GradCAM, kv.Saliency, lambda m: kv.SmoothGrad(m, samples=3, batch_size=4), kv.Occlusion])
def test_batches_equal_one_explainer_call(model, make):
    x = sample_inputs("functional", n=10)
    y = np.arange(10) % 3
    explainer = make(model)
    expected = explainer.explain(x, targets=y)
    maps, classes, scores, count = _joined(kv.explain_dataset(explainer, x, targets=y, batch_size=4))
    assert count == 3
    np.testing.assert_allclose(maps, expected.maps, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(classes, y)
    np.testing.assert_allclose(scores, expected.scores, rtol=1e-5)


def test_dataset_with_labels_and_shards(model, tmp_path):
    x = sample_inputs("functional", n=9)
    y = np.arange(9) % 3
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    explainer = kv.GradCAM(model)
    expected = explainer.explain(x, targets=y)
    maps, classes, _, _ = _joined(kv.explain_dataset(explainer, dataset, targets="labels"))
    np.testing.assert_allclose(maps, expected.maps, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(classes, y)
    written = kv.explain_dataset(explainer, dataset, targets="labels", output_dir=tmp_path / "shards", batch_size=2)
    assert [os.path.basename(p) for p in written[:3]] == ["shard_00000_maps.npy", "shard_00000_classes.npy", "shard_00000_scores.npy"]
    stacked = np.concatenate([np.load(p) for p in written if p.endswith("_maps.npy")])
    np.testing.assert_allclose(stacked, expected.maps, rtol=1e-5, atol=1e-6)


def test_bad_arguments(model):
    x = sample_inputs("functional", n=4)
    with pytest.raises(TypeError, match=r"`explainer` must be a keras-viz Explainer"):
        kv.explain_dataset(model, x)
    with pytest.raises(TypeError, match=r"`strategy` must be a tf.distribute.Strategy"):
        kv.explain_dataset(kv.GradCAM(model), x, strategy="mirrored")
    with pytest.raises(ValueError, match=r"`targets` has 3 entries but `data` has 4 samples"):
        kv.explain_dataset(kv.GradCAM(model), x, targets=[0, 1, 2])
    with pytest.raises(ValueError, match=r"`targets`='labels' takes labels from a tf.data.Dataset"):
        kv.explain_dataset(kv.GradCAM(model), x, targets="labels")
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive int"):
        kv.explain_dataset(kv.GradCAM(model), x, batch_size=0)


def test_mirrored_strategy_two_cpus_equals_single_device(tmp_path):
    """Under MirroredStrategy over two logical CPUs the results equal the single-device run,
    and the replicas' work ran on both devices: read from TensorFlow's run metadata (the
    partition graphs of the functions it executed), not from our own bookkeeping."""
    script = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tensorflow.python.eager import context
        import keras_viz as kv
        from tests.conftest import build, sample_inputs
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            model = build("functional", {str(tmp_path)!r})
        x = sample_inputs("functional", n=11); y = np.arange(11) % 3
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(5)

        def integrated_gradients(m):
            explainer = kv.IntegratedGradients(m, steps=8)
            explainer.EAGER_CALLS = 0  # trace at once, so every shard runs a graph the metadata records
            return explainer

        for name, make in (("grad_cam", kv.GradCAM), ("saliency", kv.Saliency), ("guided_backprop", kv.GuidedBackprop),
                           ("integrated_gradients", integrated_gradients)):
            single = list(kv.explain_dataset(make(model), dataset, targets="labels", batch_size=3))
            context.enable_run_metadata()
            spread = list(kv.explain_dataset(make(model), dataset, targets="labels", batch_size=3, strategy=strategy))
            metadata = context.export_run_metadata()
            context.disable_run_metadata()
            # The dataset's elements (5, 5, 1) are split, never merged: 6 per global batch, 3 per replica.
            assert len(spread) == 3 and len(single) == 5, (len(spread), len(single))
            for field in ("maps", "classes", "scores"):
                a = np.concatenate([getattr(p, field) for p in single])
                b = np.concatenate([getattr(p, field) for p in spread])
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name + " " + field)
            # Which devices ran the model's convolutions, per executed function.
            per_function = [
                {{node.device.rsplit("/", 1)[-1] for graph in function.partition_graphs for node in graph.node
                  if "Conv2D" in node.op}}
                for function in metadata.function_graphs
            ]
            used = set().union(*per_function)
            assert used == {{"device:CPU:0", "device:CPU:1"}}, (name, per_function)
            if name != "integrated_gradients":  # single-pass: both replicas in one graph, run concurrently
                assert any(len(devices) == 2 for devices in per_function), (name, per_function)
            print(name, "ok")
        print("OK")
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=root)
    assert result.stdout.strip().endswith("OK"), result.stdout[-2000:] + result.stderr[-3000:]
    # strategy.run is not called eagerly (TF warns about that, and runs the replicas in turn).
    assert "eagerly has significant overhead" not in result.stderr
