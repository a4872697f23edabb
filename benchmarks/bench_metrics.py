"""Times deletion and insertion (kv.metrics) against the forward passes they need.

Deletion and insertion with ``steps`` steps score ``N · (steps + 1)`` perturbed copies each.
The *floor* is running those copies, already built and already a tensor, through the model
in a ``tf.function`` traced once, ``batch_size`` at a time in a graph loop, fetching one class
score per copy with ``.numpy()``: the least work any implementation must do. The method time includes everything a user
waits for: ranking the pixels, building the baselines (the blur for insertion), building
the copies inside the graph, the forward passes and the areas.

Floor and method are timed alternately in every repeat (the order flips each repeat) and
the reported ratio is the median of the per-repeat ratios, so load from other processes
largely cancels out. Target (issue 9): deletion + insertion, 16 steps, 64 images of the demo
model, <= 1.2x the floor.

``--peer xplique`` times xplique 2.0.2's ``Deletion`` and ``Insertion`` (same model, images,
maps, steps and batch size) against the same floor, in that interpreter; run it with the
peers' Python (``/work/peers-venv/bin/python``), or let the main run do so with ``--peers``.

Usage::

    python benchmarks/bench_metrics.py --output benchmarks/METRICS.md --peers
    /work/peers-venv/bin/python benchmarks/bench_metrics.py --peer xplique
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # a script, not the library: keep the log quiet

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from keras_viz import metrics  # noqa: E402
from keras_viz.demo import build_demo_model  # noqa: E402

TARGET = 1.2
SEED = 0
PEER_PYTHON = "/work/peers-venv/bin/python"


def make_floor(model, shape, copies: np.ndarray, classes: np.ndarray, batch_size: int) -> Callable[[], Any]:
    """Forward passes over pre-built copies, ``batch_size`` at a time, one score fetched per copy.

    The batches run in one graph loop (one call from Python, as the metrics do), on copies
    that are already a tensor: nothing but the forward passes and the class scores.
    """

    @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.int32)],
                 autograph=False)
    def forward(x, c):
        total = tf.shape(x)[0]
        batches = (total + batch_size - 1) // batch_size

        def step(index, scores):
            part = slice(index * batch_size, tf.minimum((index + 1) * batch_size, total))
            outputs = model(x[part], training=False)
            picked = tf.reduce_sum(outputs * tf.one_hot(c[part], tf.shape(outputs)[-1]), axis=-1)
            return index + 1, scores.write(index, picked)

        _, scores = tf.while_loop(lambda index, _: index < batches, step,
                                  [tf.constant(0), tf.TensorArray(tf.float32, batches, infer_shape=False)],
                                  parallel_iterations=1)
        return scores.concat()

    inputs, targets = tf.constant(copies), tf.constant(classes)

    def run():
        return forward(inputs, targets).numpy()

    return run


def measure(method: Callable[[], Any], floor: Callable[[], Any], repeats: int, warmup: int) -> dict[str, Any]:
    """Median per-repeat ratios of wall time and of this process's CPU time (all its threads).

    The CPU-time ratio counts only the work this process does, so it is much less disturbed
    than wall time by other processes on a shared machine.
    """
    for _ in range(warmup):
        method()
        floor()
    wall = {"method": [], "floor": []}
    cpu = {"method": [], "floor": []}
    for repeat in range(repeats):
        order = [("method", method), ("floor", floor)]
        if repeat % 2:
            order.reverse()
        for name, function in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    ratios = [m / f for m, f in zip(wall["method"], wall["floor"])]
    cpu_ratios = [m / f for m, f in zip(cpu["method"], cpu["floor"])]
    return {
        "time_ms": 1e3 * statistics.median(wall["method"]),
        "floor_ms": 1e3 * statistics.median(wall["floor"]),
        "ratio": statistics.median(ratios),
        "spread": [min(ratios), max(ratios)],
        "min_min": min(wall["method"]) / min(wall["floor"]),
        "cpu_ratio": statistics.median(cpu_ratios),
        "repeats": repeats,
    }


def setup(count: int, size: int) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """The demo model (untrained: the cost does not depend on the weights), images, maps, classes."""
    import keras

    keras.utils.set_random_seed(SEED)
    model = build_demo_model((size, size, 1), 10)
    rng = np.random.default_rng(SEED)
    images = rng.uniform(0.0, 1.0, (count, size, size, 1)).astype(np.float32)
    maps = rng.normal(size=(count, size, size)).astype(np.float32)
    classes = (np.arange(count) % 10).astype(np.int32)
    return model, images, maps, classes


def built_copies(images: np.ndarray, maps: np.ndarray, steps: int, modes: tuple[str, ...]) -> np.ndarray:
    """Every perturbed copy the metrics score, built in NumPy (for the floor only)."""
    copies = []
    ranks = metrics.faithfulness.pixel_ranks(maps)[..., None]
    counts = metrics.faithfulness.step_counts(int(np.prod(maps.shape[1:])), steps)
    for mode in modes:
        base = metrics.baseline_images(images, 0.0 if mode == "deletion" else "blur")
        first, second = (base, images) if mode == "deletion" else (images, base)
        for i in range(len(images)):
            for k in counts:
                copies.append(np.where(ranks[i] < k, first[i], second[i]))
    return np.stack(copies).astype(np.float32)


def kv_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    model, images, maps, classes = setup(args.images, args.size)
    shape = images.shape[1:]
    rows = []
    for batch_size in args.batch_sizes:
        scorer = metrics.PerturbationScorer(model, batch_size=batch_size)
        cases = {
            "deletion + insertion": (("deletion", "insertion"), lambda s=scorer: (
                s.deletion(images, maps, classes, steps=args.steps),
                s.insertion(images, maps, classes, steps=args.steps))),
            "deletion": (("deletion",), lambda s=scorer: s.deletion(images, maps, classes, steps=args.steps)),
            "insertion": (("insertion",), lambda s=scorer: s.insertion(images, maps, classes, steps=args.steps)),
        }
        for name, (modes, method) in cases.items():
            copies = built_copies(images, maps, args.steps, modes)
            floor = make_floor(model, shape, copies, np.tile(np.repeat(classes, args.steps + 1), len(modes)), batch_size)
            result = measure(method, floor, args.repeats, args.warmup)
            result.update(library="keras-viz", metric=name, batch_size=batch_size, copies=len(copies),
                          traces=scorer.trace_count)
            rows.append(result)
            print(f"keras-viz {name:22s} batch {batch_size:4d}: ratio {result['ratio']:.3f} "
                  f"({result['time_ms']:.0f} ms vs floor {result['floor_ms']:.0f} ms)", flush=True)
    return rows


def xplique_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    from xplique.metrics import Deletion, Insertion

    model, images, maps, classes = setup(args.images, args.size)
    shape = images.shape[1:]
    one_hot = np.eye(10, dtype=np.float32)[classes]
    blur = lambda x: metrics.baseline_images(np.asarray(x), "blur")  # noqa: E731  same baseline as ours
    rows = []
    for batch_size in args.batch_sizes:
        deletion = Deletion(model, images, one_hot, batch_size=batch_size, steps=args.steps, baseline_mode=0.0)
        insertion = Insertion(model, images, one_hot, batch_size=batch_size, steps=args.steps, baseline_mode=blur)
        copies = built_copies(images, maps, args.steps, ("deletion", "insertion"))
        floor = make_floor(model, shape, copies, np.tile(np.repeat(classes, args.steps + 1), 2), batch_size)
        result = measure(lambda: (deletion.evaluate(maps), insertion.evaluate(maps)), floor, args.repeats, args.warmup)
        result.update(library="xplique 2.0.2", metric="deletion + insertion", batch_size=batch_size,
                      copies=len(copies), traces=None)
        rows.append(result)
        print(f"xplique deletion + insertion batch {batch_size}: ratio {result['ratio']:.3f}", flush=True)
    return rows


def report(rows: list[dict[str, Any]], args: argparse.Namespace, peer_note: str) -> str:
    lines = [
        "# Deletion and insertion: cost against the forward passes they need",
        "",
        f"Generated by `benchmarks/bench_metrics.py` on {datetime.date.today()} ({platform.machine()}, "
        f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}). Demo model (`keras_viz.demo.build_demo_model`, "
        f"{args.size}x{args.size}x1, 10 classes), {args.images} images, {args.steps} steps (so "
        f"{args.images * (args.steps + 1)} copies per metric), deletion to 0.0 and insertion from the "
        f"blurred image (the defaults). Floor: the same copies, pre-built as one tensor, through the model "
        f"in a `tf.function` (a graph loop of `batch_size` batches, one call), one score fetched per copy. Ratio = median of per-repeat "
        f"ratios (floor and method alternate, order flipped every repeat); `min/min` = fastest method "
        f"call / fastest floor; `CPU ratio` = median ratio of this process's CPU time (all threads), "
        f"little disturbed by other processes on a shared machine. Target: deletion + insertion <= {TARGET}x.",
        "",
        "| library | metric | batch size | copies | time (ms) | floor (ms) | ratio | ratio range | min/min | CPU ratio | repeats | target |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        target = ""
        if r["library"] == "keras-viz" and r["metric"] == "deletion + insertion":
            target = ("met" if r["ratio"] <= TARGET else "**missed**") + f" (<= {TARGET})"
        lines.append(
            f"| {r['library']} | {r['metric']} | {r['batch_size']} | {r['copies']} | {r['time_ms']:.0f} | "
            f"{r['floor_ms']:.0f} | {r['ratio']:.3f} | {r['spread'][0]:.2f}–{r['spread'][1]:.2f} | "
            f"{r['min_min']:.3f} | {r['cpu_ratio']:.3f} | {r['repeats']} | {target} |"
        )
    lines += ["", peer_note, ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch-sizes", type=lambda t: [int(v) for v in t.split(",")], default=[64, 256])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--peer", choices=["xplique"], help="time a peer library instead (run with its Python)")
    parser.add_argument("--peers", action="store_true", help=f"also run --peer xplique with {PEER_PYTHON}")
    parser.add_argument("--output", help="write the Markdown report here")
    parser.add_argument("--json", help="write the rows as JSON here (used for --peer)")
    args = parser.parse_args(argv)

    if args.peer:
        rows = xplique_rows(args)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(rows, handle)
        return 0

    rows = kv_rows(args)
    peer_note = "Peers not measured (run with `--peers`)."
    if args.peers:
        if os.path.exists(PEER_PYTHON):
            json_path = "/tmp/kv_bench_metrics_peer.json"
            command = [PEER_PYTHON, os.path.abspath(__file__), "--peer", "xplique", "--json", json_path,
                       "--images", str(args.images), "--size", str(args.size), "--steps", str(args.steps),
                       "--batch-sizes", ",".join(map(str, args.batch_sizes)), "--repeats", str(args.repeats),
                       "--warmup", str(args.warmup)]
            env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode == 0:
                with open(json_path, encoding="utf-8") as handle:
                    rows += json.load(handle)
                peer_note = (
                    "xplique rows: `xplique.metrics.Deletion(steps=16, baseline_mode=0.0)` and `Insertion` with the "
                    "same blurred baseline, same model, images, maps and batch size, timed against the same "
                    "floor in the peers' interpreter (`/work/peers-venv`). xplique builds each step's copies in "
                    "NumPy and returns one mean curve (not a score per image); its step counts are "
                    "`linspace(..., dtype=int32)` (floored) and its pixel order is an unstable arg-sort."
                )
            else:
                peer_note = f"xplique could not be measured: {done.stderr.strip().splitlines()[-1:]}"
        else:
            peer_note = f"Peers not measured: {PEER_PYTHON} is missing."
    text = report(rows, args, peer_note)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
