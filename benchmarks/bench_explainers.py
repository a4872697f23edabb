"""Times every keras-viz explainer against a floor measured in the same process.

The floor is the least work the method could do with the same model:

* single-pass methods (Saliency, Deconvnet, GuidedBackprop, GradientInput, CAM,
  GradCAM, GradCAMPlusPlus, GuidedGradCAM): one forward + backward pass of the batch
  (gradient of one class's summed logits w.r.t. the input, in a ``tf.function``
  traced once, result fetched with ``.numpy()``);
* SmoothGrad / IntegratedGradients: ``rows × (per-sample forward+backward cost)``,
  with the per-sample cost measured on a batch of the explainer's ``batch_size``;
* Occlusion: forward passes (no backward) over as many images as the method
  occludes, in chunks of the same batch size.

Floor and method are timed alternately in every repeat (the order flips each repeat),
and the reported ratio is the median of the per-repeat ratios, so load from other
processes on the machine largely cancels out.

Usage::

    python benchmarks/bench_explainers.py --quick
    python benchmarks/bench_explainers.py --models resnet50,small_cnn --repeats 7 \
        --output benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # a script, not the library: keep the log quiet

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_viz as kv  # noqa: E402

SINGLE_PASS = (
    "Saliency",
    "Deconvnet",
    "GuidedBackprop",
    "GradientInput",
    "CAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "GuidedGradCAM",
)
SAMPLED = ("SmoothGrad", "IntegratedGradients")
METHODS = (*SINGLE_PASS, *SAMPLED, "Occlusion")
TARGETS = {"single": 1.15, "sampled": 1.15, "occlusion": 1.25}
SEED = 0


# --------------------------------------------------------------------------- models


@dataclasses.dataclass(frozen=True)
class ModelSetup:
    """A model and the sizes it is benchmarked at."""

    name: str
    build: Callable[[], keras.Model]
    input_shape: tuple[int, int, int]
    batch: int  # single-pass methods: images per call = batch_size
    sampled_images: int
    sampled_n: int  # SmoothGrad samples = Integrated Gradients steps
    sampled_batch: int  # batch_size of the sampled methods
    occlusion_images: int
    patch: int
    stride: int
    occlusion_batch: int


def build_resnet50() -> keras.Model:
    return keras.applications.ResNet50(weights=None, input_shape=(128, 128, 3), classes=10)


def build_small_cnn() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def setups(quick: bool) -> dict[str, ModelSetup]:
    if quick:
        return {
            "resnet50": ModelSetup("resnet50", build_resnet50, (128, 128, 3), 16, 2, 4, 8, 1, 64, 32, 16),
            "small_cnn": ModelSetup("small_cnn", build_small_cnn, (32, 32, 3), 16, 4, 16, 32, 2, 8, 4, 32),
        }
    return {
        # 4 images x 8 samples = 32 rows; 2 images x 49 windows = 98 occluded images.
        "resnet50": ModelSetup("resnet50", build_resnet50, (128, 128, 3), 16, 4, 8, 16, 2, 32, 16, 16),
        # 16 images x 32 samples = 512 rows; 8 images x 49 windows = 392 occluded images.
        "small_cnn": ModelSetup("small_cnn", build_small_cnn, (32, 32, 3), 16, 16, 32, 32, 8, 8, 4, 32),
    }


# --------------------------------------------------------------------------- floors


def class_logits(outputs: tf.Tensor, class_index: int) -> tf.Tensor:
    """The pre-softmax score of one class (the explainers also explain logits)."""
    node = outputs
    while node.op.type in ("Identity", "Cast"):
        node = node.op.inputs[0]
    if node.op.type in ("Softmax", "Sigmoid"):
        node = node.op.inputs[0]
    return node[:, class_index]


def make_gradient_floor(model: keras.Model, shape: tuple[int, ...]) -> tf.types.experimental.GenericFunction:
    """One forward + backward pass: d(sum of class-0 logits)/d(input)."""

    @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32)], autograph=False)
    def gradient(x):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            score = tf.reduce_sum(class_logits(model(x, training=False), 0))
        return tape.gradient(score, x)

    return gradient


def make_forward_floor(model: keras.Model, shape: tuple[int, ...]) -> tf.types.experimental.GenericFunction:
    """One forward pass returning one score per image (what occlusion needs)."""

    @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32)], autograph=False)
    def forward(x):
        return model(x, training=False)[:, 0]

    return forward


def occlusion_window_count(size: int, patch: int, stride: int) -> int:
    """Windows per axis as :class:`kv.Occlusion` lays them out (last one edge-aligned)."""
    starts = list(range(0, max(size - patch, 0) + 1, stride))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return len(starts)


# --------------------------------------------------------------------------- cases


@dataclasses.dataclass
class Case:
    """One benchmark row: the method call and its floor, both zero-argument callables."""

    model: str
    method: str
    settings: str
    kind: str  # "single", "sampled" or "occlusion"
    run_method: Callable[[], Any]
    run_floor: Callable[[], Any]
    explainer: Any
    floor_functions: list[Any]


@dataclasses.dataclass
class Result:
    model: str
    method: str
    settings: str
    kind: str
    time_ms: float
    floor_ms: float
    ratio: float
    spread: tuple[float, float]  # min and max of the per-repeat ratios
    ratio_of_minima: float  # fastest method call / fastest floor: a noise-robust cross-check
    repeats: int
    target: float
    traces_after_warmup: int  # new traces during the timed repeats (should be 0)

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target


def build_cases(setup: ModelSetup, model: keras.Model, methods: list[str]) -> list[Case]:
    rng = np.random.default_rng(SEED)
    shape = setup.input_shape
    images = rng.uniform(0.0, 1.0, (setup.batch, *shape)).astype(np.float32)
    labels = np.arange(setup.batch) % 10
    gradient_floor = make_gradient_floor(model, shape)
    forward_floor = make_forward_floor(model, shape)

    def single_floor():
        return gradient_floor(images).numpy()

    cases = []
    single_settings = f"batch {setup.batch}"
    for name in methods:
        if name not in SINGLE_PASS:
            continue
        explainer = getattr(kv, name)(model, batch_size=setup.batch)
        cases.append(
            Case(
                setup.name,
                name,
                single_settings,
                "single",
                lambda e=explainer: e(images, labels),
                single_floor,
                explainer,
                [gradient_floor],
            )
        )

    # SmoothGrad / Integrated Gradients: rows = images x n, floor = rows x per-sample cost.
    sampled_images = images[: setup.sampled_images]
    sampled_labels = labels[: setup.sampled_images]
    rows = setup.sampled_images * setup.sampled_n
    floor_batch = rng.uniform(0.0, 1.0, (setup.sampled_batch, *shape)).astype(np.float32)

    def sampled_floor():
        start = time.perf_counter()
        gradient_floor(floor_batch).numpy()
        per_sample = (time.perf_counter() - start) / setup.sampled_batch
        return per_sample * rows  # the caller times the call, but uses this value instead

    for name in methods:
        if name not in SAMPLED:
            continue
        option = "samples" if name == "SmoothGrad" else "steps"
        explainer = getattr(kv, name)(model, batch_size=setup.sampled_batch, **{option: setup.sampled_n})
        cases.append(
            Case(
                setup.name,
                name,
                f"{setup.sampled_images} img x {option}={setup.sampled_n} = {rows} rows, bs {setup.sampled_batch}",
                "sampled",
                lambda e=explainer: e(sampled_images, sampled_labels),
                sampled_floor,
                explainer,
                [gradient_floor],
            )
        )

    if "Occlusion" in methods:
        per_axis = occlusion_window_count(shape[0], setup.patch, setup.stride)
        windows = per_axis * occlusion_window_count(shape[1], setup.patch, setup.stride)
        occluded = setup.occlusion_images * windows
        chunks = [
            rng.uniform(0.0, 1.0, (min(setup.occlusion_batch, occluded - s), *shape)).astype(np.float32)
            for s in range(0, occluded, setup.occlusion_batch)
        ]
        occlusion_images = images[: setup.occlusion_images]
        occlusion_labels = labels[: setup.occlusion_images]

        def occlusion_floor():
            for chunk in chunks:
                forward_floor(chunk).numpy()

        explainer = kv.Occlusion(
            model, patch_size=setup.patch, stride=setup.stride, batch_size=setup.occlusion_batch
        )
        cases.append(
            Case(
                setup.name,
                "Occlusion",
                f"{setup.occlusion_images} img x {windows} windows (patch {setup.patch}, "
                f"stride {setup.stride}) = {occluded} fwd, bs {setup.occlusion_batch}",
                "occlusion",
                lambda e=explainer: e(occlusion_images, occlusion_labels),
                occlusion_floor,
                explainer,
                [forward_floor],
            )
        )
    return cases


# --------------------------------------------------------------------------- timing


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def measure(case: Case, repeats: int, warmup: int, min_seconds: float) -> Result:
    """Interleaves floor and method after ``warmup`` calls of each.

    The explainer's first ``EAGER_CALLS`` calls run without a graph, so it gets that many
    more untimed calls: what is timed is its traced graph, as in a long run.

    Runs ``repeats`` pairs, and more while the row has taken less than ``min_seconds``
    (cheap rows get many repeats, so their medians are stable on a busy machine).
    """
    for _ in range(getattr(case.explainer, "EAGER_CALLS", 0)):  # eager calls before the graph is traced
        case.run_method()
    for _ in range(warmup):
        case.run_method()
        case.run_floor()
    traces_before = case.explainer.trace_count
    floor_traces_before = [f.experimental_get_tracing_count() for f in case.floor_functions]
    method_times, floor_times, ratios = [], [], []
    start = time.perf_counter()
    repeat = 0
    while repeat < repeats or time.perf_counter() - start < min_seconds:
        order = ("floor", "method") if repeat % 2 == 0 else ("method", "floor")
        for which in order:
            if which == "method":
                seconds, _ = timed(case.run_method)
                method_times.append(seconds)
            else:
                seconds, value = timed(case.run_floor)
                # The sampled floor is an extrapolation: it returns the computed time.
                floor_times.append(value if case.kind == "sampled" else seconds)
        ratios.append(method_times[-1] / floor_times[-1])
        repeat += 1
    new_traces = case.explainer.trace_count - traces_before
    new_traces += sum(
        f.experimental_get_tracing_count() - before
        for f, before in zip(case.floor_functions, floor_traces_before)
    )
    return Result(
        model=case.model,
        method=case.method,
        settings=case.settings,
        kind=case.kind,
        time_ms=1e3 * statistics.median(method_times),
        floor_ms=1e3 * statistics.median(floor_times),
        ratio=statistics.median(ratios),
        spread=(min(ratios), max(ratios)),
        ratio_of_minima=min(method_times) / min(floor_times),
        repeats=repeat,
        target=TARGETS[case.kind],
        traces_after_warmup=new_traces,
    )


# --------------------------------------------------------------------------- report

COLUMNS = (
    "model", "method", "settings", "time (ms)", "floor (ms)", "ratio", "ratio range",
    "min/min", "repeats", "target", "result",
)


def row_cells(r: Result) -> list[str]:
    verdict = "pass" if r.passed else "FAIL"
    if r.traces_after_warmup:
        verdict += f" (retraced {r.traces_after_warmup}x)"
    return [
        r.model,
        r.method,
        r.settings,
        f"{r.time_ms:.1f}",
        f"{r.floor_ms:.1f}",
        f"{r.ratio:.2f}",
        f"{r.spread[0]:.2f}-{r.spread[1]:.2f}",
        f"{r.ratio_of_minima:.2f}",
        str(r.repeats),
        f"<= {r.target:.2f}",
        verdict,
    ]


def text_table(results: list[Result]) -> str:
    rows = [list(COLUMNS)] + [row_cells(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: list[Result]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row_cells(r)) + " |" for r in results]
    return "\n".join(lines)


def misses_summary(results: list[Result]) -> str:
    misses = [r for r in results if not r.passed]
    if not misses:
        return "All targets met."
    lines = [f"{len(misses)} of {len(results)} targets missed:"]
    for r in misses:
        lines.append(
            f"- {r.model} / {r.method}: {r.ratio:.2f}x the floor (target <= {r.target:.2f}; "
            f"{r.time_ms:.1f} ms vs {r.floor_ms:.1f} ms)"
        )
    return "\n".join(lines)


def library_revision() -> str:
    """The git commit of the checkout, and whether keras_viz/ has uncommitted changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        def git(*arguments: str) -> str:
            done = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True, check=True)
            return done.stdout.rstrip()

        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "keras_viz")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = [line[3:] for line in dirty.splitlines()]
    if not changed:
        return commit
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return f"{commit} with uncommitted changes in {shown}"


def machine_description() -> list[str]:
    threads = (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )
    return [
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- CPU: {os.cpu_count()} logical cores ({platform.processor() or platform.machine()}), "
        f"no GPU used ({len(tf.config.list_physical_devices('GPU'))} visible)",
        f"- TF intra/inter-op threads: {threads[0] or 'default'} / {threads[1] or 'default'}",
        f"- Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"NumPy {np.__version__}, keras-viz {kv.__version__} (git {library_revision()})",
        f"- Platform: {platform.platform()}",
    ]


def write_markdown(path: str, results: list[Result], args: argparse.Namespace, load: tuple[str, str]) -> None:
    command = " ".join([os.path.basename(sys.executable), *sys.argv])
    lines = [
        "# keras-viz explainer benchmark",
        "",
        "Time of each explainer call divided by a *floor* measured in the same process "
        "(see `benchmarks/README.md`). Ratio = median over repeats of (method time / floor time), "
        "floor and method interleaved (order flipped every repeat); times are medians. "
        "`ratio range` is the spread of the per-repeat ratios; `min/min` is the fastest method "
        "call over the fastest floor call, a cross-check that is robust to load from other processes. "
        "`time` and `floor` are medians taken separately, so under bursty load their quotient can differ "
        "from `ratio`, which pairs each method call with the floor call next to it.",
        "",
        "## Machine",
        "",
        *machine_description(),
        f"- Load average at start / end: {load[0]} / {load[1]} "
        "(the machine was shared with other work; absolute times are noisy, ratios less so)",
        "",
        "## Settings",
        "",
        f"- Command: `{command}`",
        f"- Mode: {'quick' if args.quick else 'full'}; models: {args.models}; at least {args.repeats} "
        f"repeats per row and at least {args.min_seconds:g} s per row (the `repeats` column), after "
        f"{args.warmup} warm-up call(s) of each method and floor; seed {SEED}",
        "- Inputs: random uniform [0, 1) images; targets: class `i % 10` for image i",
        "- Explainers use default options apart from `batch_size` and the sizes in the table; "
        "SmoothGrad / IntegratedGradients use few images and samples/steps on ResNet50 "
        "to bound run time on this CPU machine.",
        "",
        "## Results",
        "",
        markdown_table(results),
        "",
        misses_summary(results),
        "",
    ]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small sizes, 2 repeats, small_cnn only unless --models is given")
    parser.add_argument("--models", default=None,
                        help="comma-separated subset of resnet50,small_cnn (default: both; quick: small_cnn)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated explainer names (default: all)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per row (default 15; quick 2)")
    parser.add_argument("--min-seconds", type=float, default=None,
                        help="keep repeating a row until it has run this long (default 6; quick 0.5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (default 2)")
    parser.add_argument("--output", default="benchmarks/RESULTS.md", help="Markdown report path")
    args = parser.parse_args(argv)
    if args.models is None:
        args.models = "small_cnn" if args.quick else "resnet50,small_cnn"
    if args.repeats is None:
        args.repeats = 2 if args.quick else 15
    if args.min_seconds is None:
        args.min_seconds = 0.5 if args.quick else 6.0
    if args.repeats < 1 or args.warmup < 1:
        parser.error("--repeats and --warmup must be at least 1 (the first call traces the function)")
    known = setups(args.quick)
    for name in args.models.split(","):
        if name not in known:
            parser.error(f"unknown model {name!r}; choose from {', '.join(known)}")
    for name in args.methods.split(","):
        if name not in METHODS:
            parser.error(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return args


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_start = load_average()
    print("\n".join(machine_description()), flush=True)
    methods = args.methods.split(",")
    results = []
    for name in args.models.split(","):
        setup = setups(args.quick)[name]
        keras.utils.set_random_seed(SEED)
        model = setup.build()
        for case in build_cases(setup, model, methods):
            start = time.perf_counter()
            result = measure(case, args.repeats, args.warmup, args.min_seconds)
            results.append(result)
            print(
                f"{result.model:<10} {result.method:<20} {result.time_ms:9.1f} ms  floor "
                f"{result.floor_ms:9.1f} ms  ratio {result.ratio:5.2f} (target {result.target:.2f}) "
                f"{'pass' if result.passed else 'FAIL'}  [{time.perf_counter() - start:.0f} s]",
                flush=True,
            )
    print()
    print(text_table(results))
    print()
    print(misses_summary(results))
    output_dir = os.path.dirname(args.output)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    write_markdown(args.output, results, args, (load_start, load_average()))
    print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
