"""Cost of the keras-viz callbacks: wall time of ``fit`` with and without them.

Two cases, each measured in one process, runs alternating (each on a fresh model with
the same seed):

* ``seven`` (issue 10): a 5-epoch fit of a small digits CNN (24×24, two convolutions,
  global average pooling -> Dense softmax, batch 64) alone; with the seven views of
  tf-explain (Grad-CAM, vanilla gradients, SmoothGrad with 16 samples, Integrated
  Gradients with 16 steps, gradient×input, occlusion with 4 px patches, activations of
  the first convolution) on 8 images, when tf-explain is importable; with keras-viz's
  seven equivalent callbacks, by default and with ``freq=1`` (every epoch); with
  ``GradCAMCallback`` alone and ``ExplanationCallback`` alone. Every repeat runs each
  setting once, in an order rotated every repeat; a setting's *paired ratio* is the
  median over repeats of its wall time over the fit alone of the same repeat (load on a
  shared machine drifts over minutes). Also reported: the ratio of the medians, the
  CPU-time ratio and the time the callbacks take inside their own hooks. Targets: seven
  keras-viz callbacks <= 1.10, one <= 1.03. Then the compute floor of the views, and one
  more fit per keras-viz setting with a profiler that sorts the callbacks' time into
  categories.
* ``demo`` (issue 3): the demo model with every keras-viz callback (``demo_callbacks``).

tf-explain is installed beside keras-viz in a separate environment (``pip install
--no-deps tf-explain``); run from there with this worktree on ``PYTHONPATH``, e.g.::

    PYTHONPATH=$PWD /work/peers-venv/bin/python benchmarks/bench_callbacks.py \\
        --case seven --repeats 5 --output benchmarks/CALLBACKS.md

Usage:
    python benchmarks/bench_callbacks.py [--case seven|demo|all] [--epochs 5] [--repeats 5] [--output FILE]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import functools
import io
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

import keras_viz as kv  # noqa: E402
from keras_viz import callbacks as kvc  # noqa: E402
from keras_viz import datasets  # noqa: E402

TARGET_ALL = 1.10
TARGET_ONE = 1.03
SEVEN_BATCH = 64
SEVEN_IMAGES = 8

try:  # the peer, installed with --no-deps beside keras-viz (benchmarks/README.md)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tf_explain.callbacks as tfx
except ImportError:  # pragma: no cover - depends on the environment
    tfx = None


# --------------------------------------------------------------------------- #
# The seven-view case (issue 10)
# --------------------------------------------------------------------------- #


def digits_cnn() -> keras.Model:
    """24×24 digits, two convolutions, global average pooling -> Dense softmax.

    Functional: tf-explain reads ``model.output``, which a Keras 3 Sequential model
    only has after it was called.
    """
    inputs = keras.Input((24, 24, 1))
    x = layers.Conv2D(16, 3, activation="relu", name="c1")(inputs)
    x = layers.Conv2D(32, 3, activation="relu", name="c2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="probs")(x), name="digits_cnn")


def keras_viz_seven(log_dir: str, images: np.ndarray, labels: np.ndarray, **options: Any) -> list:
    """keras-viz's seven callbacks, as the issue lists them."""
    common = dict(log_dir=log_dir, **options)
    return [
        kvc.GradCAMCallback(images, labels, **common),
        kvc.SaliencyCallback(images, labels, **common),
        kvc.SmoothGradCallback(images, labels, samples=16, **common),
        kvc.IntegratedGradientsCallback(images, labels, steps=16, **common),
        kvc.GradientInputCallback(images, labels, **common),
        kvc.OcclusionCallback(images, labels, patch_size=4, **common),
        kvc.ActivationCallback(images, layers=["c1"], **common),
    ]


def tf_explain_seven(log_dir: str, images: np.ndarray, labels: np.ndarray) -> list:
    """tf-explain's seven callbacks on the same images (one class for all, as tf-explain asks)."""
    data, target = (images, None), int(labels[0])
    return [
        tfx.GradCAMCallback(data, class_index=target, layer_name="c2", output_dir=os.path.join(log_dir, "grad_cam")),
        tfx.VanillaGradientsCallback(data, class_index=target, output_dir=os.path.join(log_dir, "vanilla")),
        tfx.SmoothGradCallback(data, class_index=target, num_samples=16, output_dir=os.path.join(log_dir, "smoothgrad")),
        tfx.IntegratedGradientsCallback(data, class_index=target, n_steps=16, output_dir=os.path.join(log_dir, "ig")),
        tfx.GradientsInputsCallback(data, class_index=target, output_dir=os.path.join(log_dir, "gxi")),
        tfx.OcclusionSensitivityCallback(data, class_index=target, patch_size=4, output_dir=os.path.join(log_dir, "occ")),
        tfx.ActivationsVisualizationCallback(data, layers_name=["c1"], output_dir=os.path.join(log_dir, "act")),
    ]


def seven_settings(images: np.ndarray, labels: np.ndarray) -> dict[str, Callable[[str], list] | None]:
    """Setting name -> callbacks factory (None: no callbacks)."""
    settings: dict[str, Callable[[str], list] | None] = {"fit alone": None}
    if tfx is not None:
        settings["tf-explain, 7 callbacks (every epoch)"] = lambda d: tf_explain_seven(d, images, labels)
    settings.update(
        {
            "keras-viz, 7 callbacks (defaults)": lambda d: keras_viz_seven(d, images, labels),
            "keras-viz, 7 callbacks, freq=1 (every epoch)": lambda d: keras_viz_seven(d, images, labels, freq=1),
            "keras-viz, GradCAMCallback alone (defaults)": lambda d: [kvc.GradCAMCallback(images, labels, log_dir=d)],
            "keras-viz, ExplanationCallback([Saliency, GradCAM]) alone (defaults)": lambda d: [
                kvc.ExplanationCallback(images, explainers=[kv.Saliency, kv.GradCAM], targets=labels, log_dir=d)
            ],
        }
    )
    return settings


def _time_hooks(callbacks: list, spent: list[float]) -> list:
    """Adds the wall time spent in each callback's hooks to ``spent[0]``."""
    for callback in callbacks:
        for hook in ("on_train_begin", "on_epoch_end", "on_train_end"):
            original = getattr(callback, hook)

            def timed(*args, _original=original, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    spent[0] += time.perf_counter() - start

            setattr(callback, hook, timed)
    return callbacks


def fit_seconds(
    x, y, make_callbacks: Callable[[str], list] | None, log_dir: str, epochs: int, keep=None
) -> tuple[float, float, float]:
    """Wall time, CPU time (all threads) and time inside the callbacks' hooks of one ``fit``.

    On a fresh, seeded model; callbacks are built before the clocks start. The CPU time
    is the process's: on a shared machine it varies less with the other load than the
    wall time does. The hook time is what the callbacks themselves take.
    """
    keras.utils.set_random_seed(0)
    model = digits_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = make_callbacks(log_dir) if make_callbacks else []
    if keep is not None:
        keep.extend(callbacks)
    spent = [0.0]
    _time_hooks(callbacks, spent)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # tf-explain warns about the model head
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=SEVEN_BATCH, epochs=epochs, verbose=0, callbacks=callbacks)
        return time.perf_counter() - start, time.process_time() - cpu, spent[0]


# --------------------------------------------------------------------------- #
# Where the time goes
# --------------------------------------------------------------------------- #


class Profile:
    """Sorts the time spent inside the callbacks' hooks into categories (exclusive times).

    Functions of TensorFlow and keras-viz are wrapped while the profile is active; time
    in a hook that no category claims is "Python glue".
    """

    def __init__(self):
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.counts: dict[str, int] = collections.defaultdict(int)
        self.hooks: dict[str, list[float]] = collections.defaultdict(list)
        self._stack: list[float] = []
        self._inside = 0
        self._seen_functions: set[int] = set()

    def _timed(self, category: str | Callable[..., str], function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if not self._inside:
                return function(*args, **kwargs)
            name = category(*args) if callable(category) else category
            start = time.perf_counter()
            self._stack.append(0.0)
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                children = self._stack.pop()
                self.seconds[name] += elapsed - children
                self.counts[name] += 1
                if self._stack:
                    self._stack[-1] += elapsed

        return wrapper

    def _first_run(self, function, *args):
        if id(function) in self._seen_functions:
            return "compiled graph: run"
        self._seen_functions.add(id(function))
        return "compiled graph: first run (graph optimization, kernels)"

    @contextlib.contextmanager
    def active(self) -> Iterator["Profile"]:
        from tensorflow.python.eager.polymorphic_function import concrete_function, polymorphic_function
        from tensorflow.python.ops import summary_ops_v2

        from keras_viz import _model, activations, tensorboard
        from keras_viz.callbacks import _session
        from keras_viz.callbacks import activations as callback_activations

        patches = [
            (_model.ModelInfo, "__init__", "model probe (ModelInfo)"),
            (polymorphic_function.Function, "get_concrete_function", "tracing graphs"),
            (concrete_function.ConcreteFunction, "__call__", self._first_run),
            (tf.summary, "create_file_writer", "writer open/close"),
            (summary_ops_v2._ResourceSummaryWriter, "close", "writer open/close"),
            (summary_ops_v2._ResourceSummaryWriter, "flush", "writer open/close"),
            (_session.RunWriter, "_move_staged", "writer open/close"),
            (tensorboard, "encode_image_tensor", "PNG encoding"),
            (tf.summary, "write", "summary writes"),
            (tensorboard, "explanation_images", "drawing (heatmaps, overlays, grids)"),
            (tensorboard, "_input_pictures", "drawing (heatmaps, overlays, grids)"),
            (callback_activations, "feature_map_grid", "drawing (heatmaps, overlays, grids)"),
            (activations, "spatial_layers", "model probe (ModelInfo)"),
        ]
        from keras_viz import _functions

        original_run_eagerly = _functions.run_eagerly  # explainer, group and reader bodies run without a graph

        def run_eagerly(body):
            return self._timed("explainers run eagerly (no graph)", original_run_eagerly(body))

        patches.append((_functions, "run_eagerly", None, run_eagerly))
        saved = []
        for patch in patches:
            owner, name = patch[0], patch[1]
            original = getattr(owner, name)
            saved.append((owner, name, original))
            setattr(owner, name, patch[3] if len(patch) == 4 else self._timed(patch[2], original))
        try:
            yield self
        finally:
            for owner, name, original in reversed(saved):
                setattr(owner, name, original)

    def watch(self, callbacks: list) -> list:
        """Times every hook of ``callbacks``; their own time in no category is "Python glue"."""
        for callback in callbacks:
            for hook in ("on_train_begin", "on_epoch_end", "on_train_end"):
                original = getattr(callback, hook)

                def timed(*args, _original=original, _hook=hook, **kwargs):
                    self._inside += 1
                    start = time.perf_counter()
                    self._stack.append(0.0)
                    try:
                        return _original(*args, **kwargs)
                    finally:
                        elapsed = time.perf_counter() - start
                        children = self._stack.pop()
                        self.seconds["Python glue (validation, scheduling, callbacks)"] += elapsed - children
                        label = _hook if _hook != "on_epoch_end" else f"epoch {args[0] + 1 if args else '?'}"
                        self.hooks[label].append(elapsed)
                        self._inside -= 1

                setattr(callback, hook, timed)
        return callbacks

    def table(self) -> list[str]:
        total = sum(self.seconds.values())
        rows = ["| where | seconds | share |", "|---|---|---|"]
        for name, seconds in sorted(self.seconds.items(), key=lambda item: -item[1]):
            rows.append(f"| {name} | {seconds:.3f} | {seconds / total:.0%} |")
        rows.append(f"| **all, inside the callbacks' hooks** | **{total:.3f}** | |")
        per_hook = ", ".join(
            f"{label}: {sum(times):.3f}" for label, times in self.hooks.items() if sum(times) >= 0.0005
        )
        return rows + ["", f"Seconds per hook (all callbacks together): {per_hook}."]


def views_compute_floor(x, y, images, labels) -> float:
    """Seconds per logged epoch of the seven views' model work alone, in traced graphs, warm."""
    keras.utils.set_random_seed(0)
    model = digits_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=SEVEN_BATCH, epochs=1, verbose=0)
    explainers = [
        kv.GradCAM(model),
        kv.Saliency(model),
        kv.SmoothGrad(model, samples=16),
        kv.IntegratedGradients(model, steps=16),
        kv.GradientInput(model),
        kv.Occlusion(model, patch_size=4),
    ]
    group = kv.ExplainerGroup(explainers)
    maps = kv.FeatureMaps(model, ["c1"])

    def views():
        group.explain(images, labels)
        maps(images)

    for _ in range(3):  # eager, eager, traced (Explainer.EAGER_CALLS = 2)
        views()
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        views()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def profiled_fit(x, y, make_callbacks, log_dir: str, epochs: int) -> tuple[Profile, float, list]:
    profile = Profile()
    kept: list = []
    with profile.active():
        seconds, _, _ = fit_seconds(x, y, lambda d: profile.watch(make_callbacks(d)), log_dir, epochs, keep=kept)
    return profile, seconds, kept


# --------------------------------------------------------------------------- #
# Runs
# --------------------------------------------------------------------------- #


def run_seven(args, work: str) -> str:
    (x, y), (x_test, y_test) = datasets.load_digits(size=24)
    images, labels = x_test[:SEVEN_IMAGES], y_test[:SEVEN_IMAGES]
    settings = seven_settings(images, labels)
    names = list(settings)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    hooks: dict[str, list[float]] = {name: [] for name in names}
    paired: dict[str, list[float]] = {name: [] for name in names}
    for name, make in settings.items():  # imports, kernels, tf-explain's first traces
        fit_seconds(x[:256], y[:256], make, os.path.join(work, "warmup", str(names.index(name))), 3)
    for repeat in range(args.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:  # rotate the order: no setting always runs first
            log_dir = os.path.join(work, f"seven{repeat}-{names.index(name)}")
            wall, used, in_hooks = fit_seconds(x, y, settings[name], log_dir, args.epochs)
            times[name].append(wall)
            cpu[name].append(used)
            hooks[name].append(in_hooks)
            print(f"repeat {repeat}: {name}: {wall:.2f} s wall, {used:.2f} s CPU, {in_hooks:.3f} s in hooks", flush=True)
        for name in names:  # each setting against the fit alone of the same repeat
            paired[name].append(times[name][-1] / times["fit alone"][-1])
    floor = statistics.median(times["fit alone"])
    cpu_floor = statistics.median(cpu["fit alone"])
    rows = [
        "| fit | median wall (s) | wall ratio | **paired wall ratio** | target | CPU ratio | callbacks' own time (s) | its share of the fit alone |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        median = statistics.median(times[name])
        ratio = statistics.median(paired[name])
        target = ""
        if name.startswith("keras-viz, 7") and "freq=1" not in name:
            target = f"≤ {TARGET_ALL:.2f}: {'pass' if ratio <= TARGET_ALL else 'MISSED'}"
        elif "alone" in name and name.startswith("keras-viz"):
            target = f"≤ {TARGET_ONE:.2f}: {'pass' if ratio <= TARGET_ONE else 'MISSED'}"
        used = statistics.median(cpu[name])
        own = statistics.median(hooks[name])
        rows.append(
            f"| {name} | {median:.2f} | {median / floor:.3f} | **{ratio:.3f}** | {target} | {used / cpu_floor:.3f} "
            f"| {own:.3f} | {own / floor:.1%} |"
        )
    rows += [
        "",
        "Wall times of every run (s): "
        + "; ".join(f"{name}: {', '.join(f'{t:.2f}' for t in times[name])}" for name in names)
        + ".",
    ]

    compute = views_compute_floor(x, y, images, labels)
    sections = [
        "\n".join(rows),
        f"Compute floor of the seven views: explaining the 8 images with the six methods in one "
        f"traced group, warm, plus the feature maps, takes {compute * 1000:.0f} ms per logged epoch "
        f"(median of 7 calls); two logged epochs (the first and the last, which are always logged) "
        f"are {2 * compute / floor:.1%} of the fit alone, before any tracing, drawing or writing.",
    ]
    for label, make in (
        ("keras-viz, 7 callbacks (defaults)", settings["keras-viz, 7 callbacks (defaults)"]),
        ("keras-viz, 7 callbacks, freq=1", settings["keras-viz, 7 callbacks, freq=1 (every epoch)"]),
        ("keras-viz, GradCAMCallback alone", settings["keras-viz, GradCAMCallback alone (defaults)"]),
    ):
        profile, seconds, kept = profiled_fit(x, y, make, os.path.join(work, f"profile-{label}"), args.epochs)
        logged = getattr(kept[0], "logged_epochs", None)
        epochs = f"epochs logged: {', '.join(str(e + 1) for e in logged)}" if logged is not None else ""
        sections.append(
            f"**Where the time goes: {label}** (one more fit, {seconds:.2f} s with the profiler; {epochs}):\n\n"
            + "\n".join(profile.table())
        )
    return "\n\n".join(sections)


def run_demo(args, work: str) -> str:
    from keras_viz.demo import BATCH_SIZE, build_demo_model, demo_callbacks

    (x, y), (x_test, y_test) = datasets.load_digits(size=32)
    images, labels = x_test[:8], y_test[:8]

    def fit(with_viz: bool, log_dir: str, epochs: int, **options) -> float:
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

    fit(True, os.path.join(work, "demo-warmup"), 1)
    plain, viz, every = [], [], []
    for repeat in range(args.repeats):
        order = [(plain, {}), (viz, {}), (every, {"freq": 1})]
        for target, options in order[repeat % 3 :] + order[: repeat % 3]:
            with_viz = target is not plain
            target.append(fit(with_viz, os.path.join(work, f"demo{repeat}-{len(target)}-{id(target)}"), args.demo_epochs, **options))
    floor = statistics.median(plain)
    return "\n".join(
        [
            "| fit | epochs | median (s) | runs (s) | ratio |",
            "|---|---|---|---|---|",
            f"| TensorBoard only | {args.demo_epochs} | {floor:.2f} | {', '.join(f'{s:.2f}' for s in plain)} | |",
            f"| + every keras-viz callback (defaults) | {args.demo_epochs} | {statistics.median(viz):.2f} | "
            f"{', '.join(f'{s:.2f}' for s in viz)} | **{statistics.median(viz) / floor:.3f}** |",
            f"| + every keras-viz callback, freq=1 | {args.demo_epochs} | {statistics.median(every):.2f} | "
            f"{', '.join(f'{s:.2f}' for s in every)} | **{statistics.median(every) / floor:.3f}** |",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["seven", "demo", "all"], default="seven")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the seven-view fit")
    parser.add_argument("--demo-epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=None, help="write the Markdown report here")
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="kv-bench-callbacks-")
    parts = []
    try:
        if args.case in ("seven", "all"):
            parts.append(("seven", run_seven(args, work)))
        if args.case in ("demo", "all"):
            parts.append(("demo", run_demo(args, work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = " ".join(["python benchmarks/bench_callbacks.py", *(argv if argv is not None else sys.argv[1:])])
    header = (
        f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU "
        f"core(s), {platform.machine()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, NumPy "
        f"{np.__version__}, tf-explain {'not installed' if tfx is None else 'installed'}. Command: `{command}`."
    )
    report = header + "\n\n" + "\n\n".join(f"### {name}\n\n{text}" for name, text in parts)
    print(report)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(report + "\n")


if __name__ == "__main__":
    main()
