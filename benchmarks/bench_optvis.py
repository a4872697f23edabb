"""Per-step cost of activation maximisation against the floor, and beside xplique's ``optimize``.

For each model and batch size K, one optimisation step of ``optvis.activation_maximization``
(K channels of one layer, one image each; Fourier parameterisation, standard transforms,
Adam) is compared with the *floor*: one forward + backward pass of the same model on the
same batch and image size, in the same process:

* ``floor`` (the strict one): ``N`` forward+backward passes inside one ``tf.function``
  (a ``tf.while_loop`` carrying the input, so nothing can be hoisted out of the loop), as
  keras-viz runs its ``N`` steps;
* ``floor per call``: one compiled forward+backward pass called ``N`` times from Python,
  as a hand-written optimisation loop (and xplique) runs.

xplique 2.0.2's ``features_visualizations.optimize`` runs on the same objective (the same
channels), steps and size with its defaults (Fourier, standard transformations, Adam 0.05).
It traces its step function at every call; its steady per-step cost is measured by running
its own step loop with the step compiled once, and a whole ``optimize`` call is timed too. Run it with an interpreter that has xplique (``--no-xplique``
otherwise)::

    PYTHONPATH=$PWD flock /tmp/kv-bench.lock /work/peers-venv/bin/python benchmarks/bench_optvis.py \
        --output benchmarks/OPTVIS.md

Rows alternate method and floors in every repeat; ratios are medians of per-repeat ratios.
It also times :class:`keras_viz.callbacks.ActivationMaximizationCallback` with its defaults on
the demo model (10 class images), the first logged epoch (tracing) and the later ones.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_viz import callbacks, optvis  # noqa: E402
from keras_viz.demo import build_demo_model  # noqa: E402
from keras_viz.optvis.activation_maximization import ActivationMaximizer  # noqa: E402

TARGET = 1.3
MODELS = {
    # name: (builder, layer, steps N per timed run)
    "demo_cnn": (lambda: build_demo_model(), "block3_relu", 200),
    "resnet50": (
        lambda: keras.applications.ResNet50(weights=None, input_shape=(128, 128, 3), classes=10),
        "conv5_block3_out",
        8,
    ),
}


def floor_functions(model: keras.Model):
    """``(loop(x, n), call(x))``: n forward+backward passes in one graph, and one pass."""

    def one(x):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(model(x, training=False), tf.float32))
        return tape.gradient(loss, x)

    def loop(x, n):
        def body(i, x):
            return i + 1, x + 1e-6 * one(x)

        return tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), x))[1]

    return tf.function(loop, autograph=False), tf.function(one, autograph=False)


def timed(function, *args) -> float:
    start = time.perf_counter()
    result = function(*args)
    if isinstance(result, (tf.Tensor, np.ndarray)):
        np.asarray(result)
    elif isinstance(result, tuple):
        np.asarray(result[0][-1]) if isinstance(result[0], list) else None
    return time.perf_counter() - start


def xplique_runner(model, layer: str, k: int, size: tuple[int, int]):
    """``(loop(n), optimize(n))``: xplique's own step loop, compiled once, and a whole ``optimize``.

    ``loop`` repeats what ``optimize`` does per step (its compiled step function, then Adam's
    ``apply_gradients``) with the step traced once, so it measures the steady per-step cost;
    ``optimize`` traces its step at every call, as users call it.
    """
    try:
        from xplique.features_visualizations import Objective, optimize
        from xplique.features_visualizations.optim import _get_optimisation_step
        from xplique.features_visualizations.preconditioning import (
            fft_image,
            fft_to_rgb,
            get_fft_scale,
            to_valid_grayscale,
            to_valid_rgb,
        )
        from xplique.features_visualizations.transformations import generate_standard_transformations
    except ImportError:
        return None
    objective = Objective.channel(model, layer, list(range(k)))
    reconfigured, function, _, input_shape = objective.compile()
    shape = (input_shape[0], *size, input_shape[-1])
    to_valid = to_valid_rgb if shape[-1] == 3 else to_valid_grayscale
    scale = get_fft_scale(shape[1], shape[2], decay_power=0.85)  # optimize's defaults
    buffer = tf.Variable(fft_image(shape, 0.01), trainable=True)

    def image_param(inputs):
        return to_valid(fft_to_rgb(shape, inputs, scale), "sigmoid", (0, 1))

    transformations = generate_standard_transformations(size=shape[1], channels=shape[-1])
    step = _get_optimisation_step(function, len(reconfigured.outputs), image_param, input_shape, transformations)
    optimizer = keras.optimizers.Adam(0.05)

    def loop(steps: int):
        for _ in range(steps):
            gradient = step(reconfigured, buffer)
            optimizer.apply_gradients([(-gradient, buffer)])
        return buffer.numpy()

    def whole(steps: int):
        images, _ = optimize(objective, nb_steps=steps, custom_shape=size)
        return images[-1].numpy()

    return loop, whole


def bench_row(name: str, k: int, repeats: int, use_xplique: bool) -> dict:
    build, layer, steps = MODELS[name]
    keras.utils.set_random_seed(0)
    model = build()
    height, width, channels = (int(d) for d in model.inputs[0].shape[1:])
    objective = optvis.channel(layer, range(k))
    maximizer = ActivationMaximizer(model, objective)
    loop, call = floor_functions(model)
    x = tf.random.uniform((k, height, width, channels), seed=1)
    xplique = xplique_runner(model, layer, k, (height, width)) if use_xplique else None

    def ours(n):
        return maximizer(n, 0)

    def floor_calls(n):
        for _ in range(n):
            result = call(x)
        return result.numpy()

    # Warm-up: traces everything once.
    ours(2), loop(x, tf.constant(2)).numpy(), floor_calls(1)
    if xplique is not None:
        xplique[0](2), xplique[1](1)
    samples = {key: [] for key in ("ours", "floor", "floor_call", "xplique_loop", "xplique_total")}
    for repeat in range(repeats):
        order = [0, 1, 2] if repeat % 2 == 0 else [2, 1, 0]
        for which in order:
            if which == 0:
                samples["floor"].append(timed(lambda: loop(x, tf.constant(steps)).numpy()) / steps)
            elif which == 1:
                samples["ours"].append(timed(ours, steps) / steps)
            else:
                samples["floor_call"].append(timed(floor_calls, steps) / steps)
        if xplique is not None:
            samples["xplique_loop"].append(timed(xplique[0], steps) / steps)
            samples["xplique_total"].append(timed(xplique[1], steps) / steps)
    median = {key: statistics.median(v) if v else None for key, v in samples.items()}
    ratios = [o / f for o, f in zip(samples["ours"], samples["floor"])]
    row = {
        "model": name,
        "size": f"{height}x{width}x{channels}",
        "k": k,
        "steps": steps,
        "repeats": repeats,
        "layer": layer,
        "floor_ms": 1e3 * median["floor"],
        "floor_call_ms": 1e3 * median["floor_call"],
        "ours_ms": 1e3 * median["ours"],
        "ratio": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "ratio_call": statistics.median([o / f for o, f in zip(samples["ours"], samples["floor_call"])]),
        "ratio_minmin": min(samples["ours"]) / min(samples["floor"]),
    }
    if xplique is not None:
        row["xplique_ms"] = 1e3 * median["xplique_loop"]
        row["xplique_total_ms"] = 1e3 * median["xplique_total"]
        row["xplique_ratio"] = median["xplique_loop"] / median["floor"]
        row["speedup"] = median["xplique_loop"] / median["ours"]
        row["speedup_total"] = median["xplique_total"] / median["ours"]
    return row


def bench_callback(repeats: int) -> dict:
    keras.utils.set_random_seed(0)
    model = build_demo_model()
    objective = optvis.class_score(range(10), probability=True, log=True)
    callback = callbacks.ActivationMaximizationCallback(objective, log_dir=tempfile.mkdtemp())
    callback.set_model(model)
    times = []
    for epoch in range(1 + repeats):
        start = time.perf_counter()
        job = callback._log(epoch, "")
        with callback.writing() as writer:
            job(writer)
        times.append(time.perf_counter() - start)
    return {"first": times[0], "later": statistics.median(times[1:]), "steps": callback.steps}


def report(rows: list[dict], callback: dict | None, args) -> str:
    lines = [
        "# Activation maximisation: cost per optimisation step",
        "",
        f"Measured {datetime.date.today().isoformat()} with `benchmarks/bench_optvis.py` on "
        f"{platform.machine()} ({os.cpu_count()} CPU cores), TensorFlow {tf.__version__}, Keras "
        f"{keras.__version__}, machine shared with other jobs (repeats per row in the table).",
        "",
        "Objective: K channels of one layer (`optvis.channel(layer, range(K))`), one image each, "
        "with the defaults: Fourier parameterisation, standard transforms, Adam. The floor is one "
        "forward + backward pass of the whole model on the same K images in the same process "
        f"(`floor`: N passes inside one compiled loop; `per call`: one compiled pass called N times "
        f"from Python). Target: ratio ≤ {TARGET}. xplique 2.0.2 runs the same channels, steps and size "
        "with its defaults (Fourier with decay 0.85, its standard transformations, Adam 0.05): `xplique "
        "ms/step` is its own per-step loop with the step compiled once (its compiled step function and "
        "`apply_gradients`, as `optimize` runs them); `optimize` ms/step is a whole `optimize(nb_steps=N)` "
        "call divided by N, which includes tracing its step, as it does at every call. Speed-up: xplique's "
        "time over ours, per step and per call.",
        "",
        "| model | image | K | N | repeats | floor ms/step | per-call floor ms | keras-viz ms/step | **ratio** (range) | min/min | ratio vs per-call | keras-viz steps/s | xplique ms/step | xplique / floor | xplique steps/s | xplique `optimize` ms/step | keras-viz speed-up (step / call) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        xp = ("{:.2f} | {:.2f} | {:.1f} | {:.2f} | {:.2f}× / {:.2f}×".format(
            r["xplique_ms"], r["xplique_ratio"], 1e3 / r["xplique_ms"], r["xplique_total_ms"], r["speedup"],
            r["speedup_total"]) if "xplique_ms" in r else "— | — | — | — | —")
        mark = "" if r["ratio"] <= TARGET else " (miss)"
        lines.append(
            f"| {r['model']} | {r['size']} | {r['k']} | {r['steps']} | {r.get('repeats', '?')} | {r['floor_ms']:.2f} | {r['floor_call_ms']:.2f} | "
            f"{r['ours_ms']:.2f} | **{r['ratio']:.2f}**{mark} ({r['ratio_range'][0]:.2f}–{r['ratio_range'][1]:.2f}) | "
            f"{r['ratio_minmin']:.2f} | {r['ratio_call']:.2f} | {1e3 / r['ours_ms']:.1f} | {xp} |"
        )
    if callback is not None:
        lines += [
            "",
            "## ActivationMaximizationCallback",
            "",
            f"Defaults ({callback['steps']} steps, Fourier, standard transforms) on the demo model "
            "(32×32 digits), objective `class_score(range(10), probability=True, log=True)` (10 images): "
            f"first logged epoch {callback['first']:.2f} s (includes compiling the loop), later logged epochs "
            f"{callback['later']:.2f} s each (median), rendering and writing included. Target: ≤ 2 s per logged epoch.",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="demo_cnn,resnet50")
    parser.add_argument("--ks", default="1,16")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-xplique", action="store_true")
    parser.add_argument("--no-callback", action="store_true")
    parser.add_argument("--output")
    parser.add_argument("--save-json", help="also write the measured rows (and callback) to this JSON file")
    parser.add_argument("--include", action="append", default=[],
                        help="rows of an earlier run (--save-json) to report first; keeps each locked run short")
    args = parser.parse_args(argv)
    rows, callback = [], None
    for path in args.include:
        with open(path) as handle:
            earlier = json.load(handle)
        rows += earlier["rows"]
        callback = earlier.get("callback") or callback
    for name in args.models.split(","):
        for k in (int(v) for v in args.ks.split(",")):
            repeats = args.repeats if name != "resnet50" else max(2, args.repeats // 2)
            row = bench_row(name, k, repeats, not args.no_xplique)
            rows.append(row)
            print({key: (round(v, 3) if isinstance(v, float) else v) for key, v in row.items()}, flush=True)
    if not args.no_callback:
        callback = bench_callback(args.repeats)
        print("callback", callback, flush=True)
    if args.save_json:
        with open(args.save_json, "w") as handle:
            json.dump({"rows": rows, "callback": callback}, handle)
    text = report(rows, callback, args)
    print(text)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
