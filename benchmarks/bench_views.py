"""Dataset views: streaming speed against a bare batched forward pass, and the projector export.

    python benchmarks/bench_views.py [--images 4096] [--repeats 5] [--output benchmarks/VIEWS.md]

Rows (issue 7's targets):

* ``top_activations`` and ``embeddings`` stream a dataset through a layer. The floor is a
  bare batched forward pass through the same layer, in the same process, over the same input
  pipeline: a ``tf.function`` of ``keras.Model(model.inputs, layer.output)`` (a functional
  truncation of the model, which keras-viz itself avoids because it fails on nested and
  subclassed models), fetching one number per batch so that the pass is not skipped.
  ``speed`` = floor time / method time; target >= 0.9. Measured for NumPy arrays and for a
  ``tf.data`` pipeline (``batch(64).prefetch(AUTOTUNE)``). The floor iterates the dataset
  like the library does (:func:`keras_viz._dataset_iteration.elements`): TensorFlow's
  iterator teardown waits for the tf.data autotuner's next wake-up (0.63, 1.27, 2.55 s
  ... after the iterator was made), which would round both times up to those steps.
* ``export_projector`` of 10,000 x 128 codes with two metadata columns and 28 x 28 sprites
  (a 2800 x 2800 sprite): wall time; target "a few seconds".

Timed runs alternate floor and method and report medians. Run it under
``flock /tmp/kv-bench.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

import keras_viz as kv  # noqa: E402
from keras_viz._dataset_iteration import elements  # noqa: E402

BATCH = 64


def small_cnn() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for i, filters in enumerate((32, 64, 64, 128)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        if i < 3:
            x = layers.MaxPooling2D(name=f"pool{i + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="head")(x), name="small_cnn")


def floor_function(model: keras.Model, layer: str):
    truncated = keras.Model(model.inputs, model.get_layer(layer).output)
    return tf.function(lambda x: tf.reduce_max(truncated(x, training=False)))


def run_floor(function, data) -> float:
    start = time.perf_counter()
    if isinstance(data, tf.data.Dataset):
        for batch in elements(data):
            function(batch).numpy()
    else:
        for i in range(0, len(data), BATCH):
            function(tf.constant(data[i : i + BATCH])).numpy()
    return time.perf_counter() - start


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def cpu_timed(call) -> float:
    """Process CPU time (all threads) of ``call``: less disturbed than wall time by other jobs."""
    start = time.process_time()
    call()
    return time.process_time() - start


def compare(name, method, floor, repeats):
    method(), floor()  # warm up: trace both (each has run its graph once, as in steady use)
    method_times, floor_times, ratios, cpu_ratios = [], [], [], []
    for repeat in range(repeats):
        order = [("m", method), ("f", floor)] if repeat % 2 == 0 else [("f", floor), ("m", method)]
        times = {key: timed(call) for key, call in order}
        method_times.append(times["m"])
        floor_times.append(times["f"])
        ratios.append(times["f"] / times["m"])
        cpu = {key: cpu_timed(call) for key, call in reversed(order)}
        cpu_ratios.append(cpu["f"] / cpu["m"])
    return {
        "name": name,
        "method": statistics.median(method_times),
        "floor": statistics.median(floor_times),
        "speed": statistics.median(ratios),
        "range": (min(ratios), max(ratios)),
        "cpu_speed": statistics.median(cpu_ratios),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    model = small_cnn()
    x = np.random.default_rng(0).uniform(size=(args.images, 32, 32, 3)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(BATCH).prefetch(tf.data.AUTOTUNE)
    rows = []
    for layer in ("conv2", "conv4"):
        floor = floor_function(model, layer)
        for label, data in (("arrays", x), ("tf.data", dataset)):
            rows.append(compare(
                f"top_activations {layer} ({label})",
                lambda data=data, layer=layer: kv.top_activations(model, data, layer, k=9, batch_size=BATCH),
                lambda data=data: run_floor(floor, data), args.repeats,
            ))
            rows.append(compare(
                f"embeddings {layer} ({label})",
                lambda data=data, layer=layer: kv.embeddings(model, data, layer, batch_size=BATCH),
                lambda data=data: run_floor(floor, data), args.repeats,
            ))
            print(rows[-2]["name"], f"{rows[-2]['speed']:.2f}", rows[-1]["name"], f"{rows[-1]['speed']:.2f}", flush=True)

    # Projector export: 10,000 x 128 codes, two metadata columns, 28 x 28 grey thumbnails.
    (digits, labels), _ = kv.datasets.load_digits(28, seed=0, test_fraction=0.01)
    count = 10_000
    picks = np.arange(count) % len(digits)
    images = digits[picks]
    codes = np.random.default_rng(1).normal(size=(count, 128)).astype(np.float32)
    metadata = {"label": [int(v) for v in labels[picks]], "index": list(range(count))}
    export_times = []
    for _ in range(args.repeats):
        root = tempfile.mkdtemp(prefix="kv_bench_projector_")
        try:
            export_times.append(timed(lambda: kv.tensorboard.export_projector(root, codes, metadata=metadata, images=images)))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    export = statistics.median(export_times)
    print(f"export_projector 10000x128 + sprites: {export:.2f} s (min {min(export_times):.2f})", flush=True)

    lines = [
        "# Dataset views: speed (issue 7)",
        "",
        f"`python benchmarks/bench_views.py --images {args.images} --repeats {args.repeats}` "
        f"(TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, no GPU; run under `flock /tmp/kv-bench.lock`).",
        "",
        f"Model: a small CNN (four 3x3 convolutions, 32/64/64/128 channels, max pooling, 32x32x3 inputs), "
        f"{args.images} random images, batch {BATCH}. Floor: a bare batched forward pass through the same "
        "layer (`tf.function` of the functionally truncated model, one number fetched per batch) over the same "
        "input. `speed` = floor time / method time, median of alternating repeats; target >= 0.9. "
        "`CPU speed`: the same ratio of process CPU time (all threads), measured in separate alternating runs.",
        "",
        "| view | method (s) | floor (s) | speed | speed range | CPU speed | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "met" if row["speed"] >= 0.9 else "MISSED"
        lines.append(
            f"| {row['name']} | {row['method']:.3f} | {row['floor']:.3f} | **{row['speed']:.2f}** | "
            f"{row['range'][0]:.2f}-{row['range'][1]:.2f} | {row['cpu_speed']:.2f} | >= 0.9 ({met}) |"
        )
    lines += [
        "",
        "| export | time (s) | target |",
        "|---|---|---|",
        f"| `export_projector`: 10,000 x 128 codes (checkpoint), 2 metadata columns, 28x28 sprites (2800x2800 px) | "
        f"**{export:.2f}** (min {min(export_times):.2f}) | a few seconds |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
