"""Cost of the keras-viz callbacks: wall time of ``fit`` with and without them.

Trains the demo model (``keras_viz.demo.build_demo_model``) on the embedded digits for
several epochs, once with only ``keras.callbacks.TensorBoard`` (what a user already has)
and once with every keras-viz callback added with its defaults, as the demo adds them
(``keras_viz.demo.demo_callbacks``). Runs alternate, each on a fresh model with the same
seed, and the ratio of the medians is reported. Target (issue 3): at most 1.10.

Usage:
    python benchmarks/bench_callbacks.py [--epochs 8] [--repeats 3] [--output benchmarks/CALLBACKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_viz import datasets  # noqa: E402
from keras_viz.demo import BATCH_SIZE, build_demo_model, demo_callbacks  # noqa: E402

TARGET = 1.10


def timed_fit(x, y, images, labels, log_dir: str, epochs: int, with_viz: bool, **options) -> float:
    keras.utils.set_random_seed(0)
    model = build_demo_model(x.shape[1:], 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if with_viz:
        callbacks = demo_callbacks(log_dir, images, labels, x[:64], y[:64], **options)
    else:
        callbacks = [keras.callbacks.TensorBoard(log_dir)]
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0, callbacks=callbacks)
    return time.perf_counter() - start


def breakdown(x, y, images, labels, log_dir: str, epochs: int) -> list[tuple[str, float, float]]:
    """Seconds each keras-viz callback spends in its hooks: (name, first epoch, later epochs' mean)."""
    keras.utils.set_random_seed(0)
    model = build_demo_model(x.shape[1:], 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = demo_callbacks(log_dir, images, labels, x[:64], y[:64])
    spent: dict[str, list[float]] = {}
    for callback in callbacks[1:]:
        name = type(callback).__name__
        for hook in ("on_train_begin", "on_epoch_end", "on_train_end"):
            original = getattr(callback, hook)

            def timed(*args, _original=original, _name=name, _hook=hook, **kwargs):
                start = time.perf_counter()
                result = _original(*args, **kwargs)
                seconds = time.perf_counter() - start
                if _hook == "on_epoch_end":
                    spent.setdefault(_name, []).append(seconds)
                else:  # start/end of training: count with the first epoch
                    spent.setdefault(_name + "/once", []).append(seconds)
                return result

            setattr(callback, hook, timed)
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0, callbacks=callbacks)
    rows = []
    for name, times in spent.items():
        if name.endswith("/once"):
            continue
        once = sum(spent.get(name + "/once", []))
        rows.append((name, once + times[0], statistics.mean(times[1:]) if len(times) > 1 else 0.0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=None, help="write the Markdown table here")
    parser.add_argument("--freq", type=int, nargs="*", default=[5], help="also measure with these freq values")
    args = parser.parse_args()

    (x, y), (x_test, y_test) = datasets.load_digits(size=32)
    images, labels = x_test[:8], y_test[:8]
    work = tempfile.mkdtemp(prefix="kv-bench-callbacks-")
    plain, viz = [], []
    try:
        timed_fit(x[:256], y[:256], images, labels, os.path.join(work, "warmup"), 1, True)  # imports, kernels
        for repeat in range(args.repeats):
            order = (False, True) if repeat % 2 == 0 else (True, False)
            for with_viz in order:
                log_dir = os.path.join(work, f"run{repeat}{int(with_viz)}")
                seconds = timed_fit(x, y, images, labels, log_dir, args.epochs, with_viz)
                (viz if with_viz else plain).append(seconds)
                print(f"repeat {repeat}: {'with' if with_viz else 'without'} keras-viz callbacks: {seconds:.2f} s")
        parts = breakdown(x, y, images, labels, os.path.join(work, "breakdown"), args.epochs)
        other = {}
        for freq in args.freq:
            other[freq] = statistics.median(
                timed_fit(x, y, images, labels, os.path.join(work, f"freq{freq}-{r}"), args.epochs, True, freq=freq)
                for r in range(args.repeats)
            )
            print(f"freq={freq}: {other[freq]:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = statistics.median(viz) / statistics.median(plain)
    verdict = "pass" if ratio <= TARGET else "FAIL"
    table = "\n".join(
        [
            "| fit | epochs | median wall time (s) | runs (s) |",
            "|---|---|---|---|",
            f"| TensorBoard only | {args.epochs} | {statistics.median(plain):.2f} | {', '.join(f'{s:.2f}' for s in plain)} |",
            f"| + every keras-viz callback (defaults: every epoch) | {args.epochs} | {statistics.median(viz):.2f} | {', '.join(f'{s:.2f}' for s in viz)} |",
            *[f"| + every keras-viz callback, freq={freq} | {args.epochs} | {seconds:.2f} | median of {args.repeats} |" for freq, seconds in other.items()],
            "",
            f"Ratio with the defaults: **{ratio:.3f}** (target ≤ {TARGET:.2f}): {verdict}",
            *[f"Ratio with freq={freq}: **{seconds / statistics.median(plain):.3f}**" for freq, seconds in other.items()],
            "",
            "Where it goes (seconds in each callback's hooks, from one more fit):",
            "",
            "| callback | first epoch (incl. tracing, start of training) | each later epoch |",
            "|---|---|---|",
            *[f"| {name} | {first:.3f} | {later:.3f} |" for name, first, later in parts],
            f"| **all** | {sum(p[1] for p in parts):.3f} | {sum(p[2] for p in parts):.3f} |",
        ]
    )
    print(table)
    if args.output:
        header = (
            "# keras-viz callback cost\n\n"
            f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU "
            f"core(s), {platform.machine()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, NumPy "
            f"{np.__version__}. Command: `python benchmarks/bench_callbacks.py --epochs {args.epochs} "
            f"--repeats {args.repeats}`.\n\n"
            "The demo model on 1438 digits (32×32), batch 32. 'Every keras-viz callback' is "
            "`keras_viz.demo.demo_callbacks`: an ExplanationCallback with Saliency, GuidedBackprop, "
            "GradCAM and CAM on 8 fixed digits (one shared forward pass), FilterCallback (every layer), "
            "ActivationCallback (4 digits), TrainingHealthCallback (64 samples, with gradients and the "
            "model diagram), all with their default frequency (every epoch). The first epoch includes "
            "tracing every callback's graph.\n\n"
        )
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(header + table + "\n")


if __name__ == "__main__":
    main()
