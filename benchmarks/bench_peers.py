"""Side-by-side speed of keras-viz's explainers and the same methods in peer libraries.

For each model and method, every library that has the method explains the same random
images for the same integer class targets, with its documented API and the work-relevant
settings made equal (images per call, samples / steps, noise level, baseline, layer, patch
and stride, rows per forward pass where the library lets one choose). Explainers are built
once, outside the timed call. Each library gets ``--warmup`` untimed calls (keras-viz also
its ``EAGER_CALLS`` first calls, which run without a graph); then, in every repeat, each
library is called once, in an order rotated every repeat, and the reported time is the
median of one call, its result fetched as a NumPy array. ``ratio`` is the median over
repeats of (peer time / keras-viz time of the same repeat).

``r`` checks that both libraries compute the same quantity: the Pearson correlation of the
peer's map with keras-viz's, per image, averaged over the images (min in brackets). The
keras-viz map used for it is computed with the channel reduction (``reduce=``) and fill
value the peer uses, so that only the attribution itself is compared.

Peers: xplique (``xplique.attributions``), tf-explain (``tf_explain.core``, one class per
``explain`` call: the timed call is one ``explain`` per distinct target class, on the
images with that target) and tf-keras-vis (``Saliency``, ``Gradcam``, ``GradcamPlusPlus``),
each when it imports. Run with an interpreter that has them::

    PYTHONPATH=$PWD /work/peers-venv/bin/python benchmarks/bench_peers.py --output benchmarks/PEERS.md
    PYTHONPATH=$PWD /work/peers-venv/bin/python benchmarks/bench_peers.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_viz as kv  # noqa: E402
from bench_explainers import (  # noqa: E402
    SEED,
    build_resnet50,
    build_small_cnn,
    load_average,
    machine_description,
    timed,
)

METHODS = (
    "Saliency",
    "GradientInput",
    "SmoothGrad",
    "IntegratedGradients",
    "GradCAM",
    "GradCAMPlusPlus",
    "Occlusion",
    "Deconvnet",
    "GuidedBackprop",
)
LIBRARIES = ("xplique", "tf-explain", "tf-keras-vis")
NUM_CLASSES = 10
SAMPLES = 16  # SmoothGrad samples = Integrated Gradients steps
NOISE_LEVEL = 0.15  # SmoothGrad noise standard deviation, as a fraction of each image's value range
MAX_ROW_SECONDS = 60.0


# --------------------------------------------------------------------------- peers


def import_peers() -> tuple[dict[str, Any], dict[str, str]]:
    """The peer modules that import, and the first error line of those that do not."""
    modules, errors = {}, {}
    try:
        import xplique
        import xplique.attributions

        modules["xplique"] = xplique
    except Exception as error:  # noqa: BLE001 - any import failure is reported, not raised
        errors["xplique"] = first_line(error)
    try:
        import tf_explain
        import tf_explain.core

        modules["tf-explain"] = tf_explain
    except Exception as error:  # noqa: BLE001
        errors["tf-explain"] = first_line(error)
    try:
        import tf_keras_vis
        import tf_keras_vis.gradcam
        import tf_keras_vis.gradcam_plus_plus
        import tf_keras_vis.saliency
        import tf_keras_vis.utils.model_modifiers
        import tf_keras_vis.utils.scores

        modules["tf-keras-vis"] = tf_keras_vis
    except Exception as error:  # noqa: BLE001
        errors["tf-keras-vis"] = first_line(error)
    return modules, errors


def library_version(name: str, modules: dict[str, Any]) -> str:
    if name == "keras-viz":
        return kv.__version__
    if name not in modules:
        return "not importable"
    from importlib.metadata import version

    return version(name)


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".strip()[:160]


# --------------------------------------------------------------------------- setup


@dataclasses.dataclass(frozen=True)
class ModelSetup:
    name: str
    build: Callable[[], keras.Model]
    input_shape: tuple[int, int, int]
    images: int
    patch: int  # occlusion patch = stride
    occlusion_batch: int  # occluded copies per forward pass
    methods: tuple[str, ...]  # rows run by default


SETUPS = {
    "small_cnn": ModelSetup("small_cnn", build_small_cnn, (32, 32, 3), 16, 4, 64, METHODS),
    # SmoothGrad, IG (8 x 16 = 128 path/noise rows) and Occlusion (8 x 64 occluded images) are
    # 16-64x a Saliency call: with 9+ calls per library a row takes well over a minute here.
    "resnet50": ModelSetup(
        "resnet50", build_resnet50, (128, 128, 3), 8, 16, 64,
        ("Saliency", "GradientInput", "GradCAM", "GradCAMPlusPlus", "Deconvnet", "GuidedBackprop"),
    ),
}


def logits_twin(model: keras.Model) -> keras.Model:
    """The same model ending in class scores: the final softmax Dense rebuilt without activation.

    The peers explain the model's output as it is and ask users to pass a model without
    the final softmax (keras-viz takes scores before a final softmax by itself).
    """
    head = model.layers[-1]
    dense = keras.layers.Dense(head.units, name=f"{head.name}_logits")
    outputs = dense(head.input)
    dense.set_weights(head.get_weights())
    return keras.Model(model.inputs, outputs, name=f"{model.name}_logits")


def last_spatial_layer(model: keras.Model) -> str:
    for layer in reversed(model.layers):
        if len(layer.output.shape) == 4:
            return layer.name
    raise ValueError("no 4-D layer")


@dataclasses.dataclass
class Context:
    setup: ModelSetup
    model: keras.Model  # softmax output, as trained
    logits: keras.Model  # the same weights, class scores out
    images: np.ndarray
    labels: np.ndarray
    onehot: np.ndarray
    groups: list[tuple[int, np.ndarray]]  # (class, image indices): tf-explain's one-class calls
    conv: str  # the last layer with spatial output: Grad-CAM's layer in every library
    sigma: float  # SmoothGrad noise standard deviation in input units

    @property
    def single_batch(self) -> int:
        return self.setup.images

    @property
    def sampled_batch(self) -> int:  # noisy copies / path points per forward pass
        return self.setup.images * SAMPLES


def make_context(setup: ModelSetup) -> Context:
    keras.utils.set_random_seed(SEED)
    model = setup.build()
    rng = np.random.default_rng(SEED)
    images = rng.uniform(0.0, 1.0, (setup.images, *setup.input_shape)).astype(np.float32)
    labels = np.arange(setup.images) % NUM_CLASSES
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    groups = [(int(c), np.flatnonzero(labels == c)) for c in np.unique(labels)]
    ranges = images.reshape(len(images), -1).max(axis=1) - images.reshape(len(images), -1).min(axis=1)
    return Context(setup, model, logits_twin(model), images, labels, onehot, groups,
                   last_spatial_layer(model), float(NOISE_LEVEL * ranges.mean()))


# --------------------------------------------------------------------------- library entries


@dataclasses.dataclass
class Entry:
    """One library's way of running one method: ``run()`` is the timed call."""

    run: Callable[[], Any]
    maps: Callable[[Any], np.ndarray]  # the output of run() -> per-image maps for the correlation
    reference: dict[str, Any]  # keras-viz options that give the map the peer computes
    call: str  # what one timed call is
    explainer: Any = None


def numpy(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def squeeze_maps(value: Any) -> np.ndarray:
    array = numpy(value)
    return array[..., 0] if array.ndim == 4 and array.shape[-1] == 1 else array


def keras_viz_entry(ctx: Context, method: str, **reference: Any) -> Entry:
    """keras-viz with its defaults apart from the equalised settings; ``reference`` overrides."""
    options: dict[str, Any] = {"batch_size": ctx.single_batch}
    if method == "SmoothGrad":
        options = {"samples": SAMPLES, "noise_level": NOISE_LEVEL, "batch_size": ctx.sampled_batch}
    elif method == "IntegratedGradients":
        options = {"steps": SAMPLES, "baseline": 0.0, "batch_size": ctx.sampled_batch}
    elif method in ("GradCAM", "GradCAMPlusPlus"):
        options["layer"] = ctx.conv
    elif method == "Occlusion":
        options = {"patch_size": ctx.setup.patch, "stride": ctx.setup.patch, "fill": 0.0,
                   "batch_size": ctx.setup.occlusion_batch}
    options.update(reference)
    explainer = getattr(kv, method)(ctx.model, **options)
    return Entry(lambda: explainer(ctx.images, ctx.labels), squeeze_maps, {}, "one call", explainer)


def xplique_entry(ctx: Context, method: str) -> Entry | None:
    from xplique import attributions as xa

    x, y = ctx.images, ctx.onehot
    single = {"batch_size": ctx.single_batch}
    if method == "Saliency":
        explainer, reference = xa.Saliency(ctx.logits, **single), {}  # max |grad| over channels
    elif method == "GradientInput":
        explainer, reference = xa.GradientInput(ctx.logits, **single), {"reduce": "mean"}
    elif method == "SmoothGrad":
        explainer = xa.SmoothGrad(ctx.logits, batch_size=ctx.sampled_batch, nb_samples=SAMPLES, noise=ctx.sigma)
        reference = {"reduce": "mean"}
    elif method == "IntegratedGradients":
        explainer = xa.IntegratedGradients(ctx.logits, batch_size=ctx.sampled_batch, steps=SAMPLES, baseline_value=0.0)
        reference = {"reduce": "mean"}
    elif method == "GradCAM":
        explainer, reference = xa.GradCAM(ctx.logits, conv_layer=ctx.conv, **single), {}
    elif method == "GradCAMPlusPlus":
        explainer, reference = xa.GradCAMPP(ctx.logits, conv_layer=ctx.conv, **single), {}
    elif method == "Occlusion":
        # Probability drop, as keras-viz's Occlusion by default: the softmax model.
        explainer = xa.Occlusion(ctx.model, batch_size=ctx.setup.occlusion_batch, patch_size=ctx.setup.patch,
                                 patch_stride=ctx.setup.patch, occlusion_value=0.0)
        reference = {}
    elif method == "Deconvnet":
        explainer, reference = xa.DeconvNet(ctx.logits, **single), {"reduce": "mean"}
    elif method == "GuidedBackprop":
        explainer, reference = xa.GuidedBackprop(ctx.logits, **single), {"reduce": "mean"}
    else:
        return None
    return Entry(lambda: explainer.explain(x, y).numpy(), squeeze_maps, reference, "one explain(images, one-hot)",
                 explainer)


def tf_explain_entry(ctx: Context, method: str) -> Entry | None:
    from tf_explain.core.grad_cam import GradCAM
    from tf_explain.core.gradients_inputs import GradientsInputs
    from tf_explain.core.integrated_gradients import IntegratedGradients
    from tf_explain.core.occlusion_sensitivity import OcclusionSensitivity
    from tf_explain.core.smoothgrad import SmoothGrad
    from tf_explain.core.vanilla_gradients import VanillaGradients

    x = ctx.images
    per_class = f"{len(ctx.groups)} explain() calls, one per target class"

    def each_class(function):
        return lambda: [function((x[idx], None), c) for c, idx in ctx.groups]

    def scatter(compute):
        """Per-image maps from tf-explain's own computation (explain() returns a rendered grid)."""

        def maps(_):
            parts = {}
            for c, idx in ctx.groups:
                for i, m in zip(idx, compute(x[idx], c)):
                    parts[i] = np.asarray(m, np.float64)
            return np.stack([parts[i] for i in range(len(x))])

        return maps

    def abs_sum(tensor):
        return tf.reduce_sum(tf.abs(tensor), axis=-1).numpy()

    if method in ("Saliency", "GradientInput"):
        # The model passed has no final activation layer, so explain() uses it as is (with a warning).
        explainer = VanillaGradients() if method == "Saliency" else GradientsInputs()
        run = each_class(lambda data, c: explainer.explain(data, ctx.logits, c))
        maps = scatter(lambda images, c: abs_sum(explainer.compute_gradients(images, ctx.logits, c)))
        reference = {"reduce": "abs_sum"}
    elif method == "SmoothGrad":
        # Its loss is the cross-entropy of the output: it needs the softmax model.
        explainer = SmoothGrad()
        run = each_class(lambda data, c: explainer.explain(data, ctx.model, c, num_samples=SAMPLES, noise=ctx.sigma))
        maps = scatter(lambda images, c: abs_sum(SmoothGrad.get_averaged_gradients(
            SmoothGrad.generate_noisy_images(images, SAMPLES, ctx.sigma), ctx.model, c, SAMPLES)))
        reference = {"reduce": "abs_sum"}
    elif method == "IntegratedGradients":
        explainer = IntegratedGradients()
        run = each_class(lambda data, c: explainer.explain(data, ctx.logits, c, n_steps=SAMPLES))
        maps = scatter(lambda images, c: abs_sum(IntegratedGradients.get_integrated_gradients(
            IntegratedGradients.generate_interpolations(np.array(images), SAMPLES), ctx.logits, c, SAMPLES)))
        reference = {"reduce": "abs_sum"}
    elif method == "GradCAM":
        explainer = GradCAM()
        run = each_class(lambda data, c: explainer.explain(data, ctx.logits, c, layer_name=ctx.conv,
                                                           use_guided_grads=False))

        def cams(images, c):
            outputs, grads = GradCAM.get_gradients_and_filters(ctx.logits, images, ctx.conv, c, False)
            return [m.numpy() for m in GradCAM.generate_ponderated_output(outputs, grads)]

        maps = scatter(cams)
        reference = {"upsample": False}  # tf-explain weights the layer's maps, then resizes while rendering
    elif method == "Occlusion":
        explainer = OcclusionSensitivity(batch_size=ctx.setup.occlusion_batch)

        def explain(data, c):
            with contextlib.redirect_stdout(io.StringIO()):  # its model.predict() prints a progress bar
                return explainer.explain(data, ctx.model, c, patch_size=ctx.setup.patch)

        run = each_class(explain)
        def sensitivity(images, c):
            with contextlib.redirect_stdout(io.StringIO()):
                return [explainer.get_sensitivity_map(ctx.model, im, c, ctx.setup.patch) for im in images]

        maps = scatter(sensitivity)
        reference = {"fill": 127.5}  # tf-explain's grey patch is 127.5, fixed
    else:
        return None
    return Entry(run, maps, reference, per_class, explainer)


def tf_keras_vis_entry(ctx: Context, method: str) -> Entry | None:
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    score = CategoricalScore(list(ctx.labels))
    x = ctx.images
    if method in ("Saliency", "SmoothGrad"):
        explainer = Saliency(ctx.model, model_modifier=ReplaceToLinear(), clone=True)
        if method == "Saliency":
            run = lambda: explainer(score, x, normalize_map=False)  # noqa: E731 - max |grad| over channels
        else:
            # Average the signed gradients (its default averages |grad|), then max |.| as keras-viz does.
            run = lambda: np.abs(explainer(score, x, smooth_samples=SAMPLES, smooth_noise=NOISE_LEVEL,  # noqa: E731
                                           gradient_modifier=None, keepdims=True, normalize_map=False)).max(-1)
        return Entry(run, squeeze_maps, {}, "one call", explainer)
    if method in ("GradCAM", "GradCAMPlusPlus"):
        cls = Gradcam if method == "GradCAM" else GradcamPlusPlus
        explainer = cls(ctx.model, model_modifier=ReplaceToLinear(), clone=True)
        # seek_penultimate_conv_layer=False: else it moves from the layer given to the Conv layer before it
        # (on ResNet50 from conv5_block3_out to conv5_block3_3_conv, before batch norm, the sum and the ReLU).
        run = lambda: explainer(score, x, penultimate_layer=ctx.conv, seek_penultimate_conv_layer=False,  # noqa: E731
                                normalize_cam=False)
        return Entry(run, squeeze_maps, {}, "one call", explainer)
    return None


BUILDERS = {"xplique": xplique_entry, "tf-explain": tf_explain_entry, "tf-keras-vis": tf_keras_vis_entry}


# --------------------------------------------------------------------------- measuring


@dataclasses.dataclass
class Cell:
    library: str
    call: str = ""
    ms: float | None = None
    ratio: float | None = None
    spread: tuple[float, float] | None = None
    r: tuple[float, float, dict[str, int]] | None = None
    error: str | None = None
    repeats: int = 0
    retraced: int = 0  # keras-viz: new graph traces during the timed repeats (should be 0)


def pearson_per_image(peer: np.ndarray, ours: np.ndarray) -> tuple[float, float, dict[str, int]]:
    """Mean and min over images of the per-image Pearson r, over the images where both maps vary;
    the others are counted (e.g. a Grad-CAM map that a ReLU zeroes everywhere)."""
    values, flat = [], {"both": 0, "keras-viz only": 0, "peer only": 0}
    for x, y in zip(peer.reshape(len(peer), -1).astype(np.float64), ours.reshape(len(ours), -1).astype(np.float64)):
        if x.std() == 0 and y.std() == 0:
            flat["both"] += 1
        elif y.std() == 0:
            flat["keras-viz only"] += 1
        elif x.std() == 0:
            flat["peer only"] += 1
        else:
            values.append(float(np.corrcoef(x, y)[0, 1]))
    if not values:
        return float("nan"), float("nan"), flat
    return float(np.mean(values)), float(np.min(values)), flat


def run_row(ctx: Context, method: str, libraries: list[str], args: argparse.Namespace) -> list[Cell]:
    cells = {"keras-viz": Cell("keras-viz")}
    entries: dict[str, Entry] = {}
    try:
        entries["keras-viz"] = keras_viz_entry(ctx, method)
        cells["keras-viz"].call = entries["keras-viz"].call
    except Exception as error:  # noqa: BLE001
        cells["keras-viz"].error = first_line(error)
        return [cells["keras-viz"]]
    for name in libraries:
        cell = cells[name] = Cell(name)
        try:
            entry = BUILDERS[name](ctx, method)
        except Exception as error:  # noqa: BLE001 - the error is the result
            cell.error = first_line(error)
            continue
        if entry is None:
            cell.error = "not offered"
            continue
        cell.call = entry.call
        entries[name] = entry

    # Warm-up: untimed calls (the first trace graphs); a library that fails here is reported.
    outputs: dict[str, Any] = {}
    for name, entry in list(entries.items()):
        extra = getattr(entry.explainer, "EAGER_CALLS", 0) if name == "keras-viz" else 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(extra + args.warmup):
                    seconds, outputs[name] = timed(entry.run)
        except Exception as error:  # noqa: BLE001
            cells[name].error = first_line(error)
            if args.verbose:
                traceback.print_exc()
            del entries[name]
            continue
        estimate = seconds * (args.repeats + args.warmup)
        if estimate > MAX_ROW_SECONDS:
            cells[name].error = f"skipped: one call took {seconds:.1f} s, {args.repeats} repeats would take > {MAX_ROW_SECONDS:.0f} s"
            del entries[name]
    if "keras-viz" not in entries:
        return list(cells.values())

    # Interleaved repeats, order rotated every repeat.
    names = list(entries)
    traces_before = entries["keras-viz"].explainer.trace_count
    times: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    repeat = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while repeat < args.repeats or time.perf_counter() - start < args.min_seconds:
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(timed(entries[name].run)[0])
            repeat += 1
    base = times["keras-viz"]
    cells["keras-viz"].retraced = entries["keras-viz"].explainer.trace_count - traces_before
    for name in names:
        cell = cells[name]
        cell.repeats = repeat
        cell.ms = 1e3 * statistics.median(times[name])
        ratios = [t / b for t, b in zip(times[name], base)]
        cell.ratio = statistics.median(ratios)
        cell.spread = (min(ratios), max(ratios))

    # Same quantity? Correlate each peer's map with keras-viz's map made the peer's way.
    for name in names:
        if name == "keras-viz":
            continue
        entry = entries[name]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                peer = entry.maps(outputs[name])
                reference = keras_viz_entry(ctx, method, **entry.reference)
                ours = squeeze_maps(reference.run())
            if peer.shape != ours.shape:
                raise ValueError(f"map shapes differ: {peer.shape} vs keras-viz {ours.shape}")
            cells[name].r = pearson_per_image(peer, ours)
        except Exception as error:  # noqa: BLE001
            cells[name].error = f"correlation: {first_line(error)}"
    return list(cells.values())


def seed_correlation(ctx: Context) -> tuple[float, float, dict[str, int]]:
    """SmoothGrad against itself with another noise seed: the r two independent draws reach."""
    first = keras_viz_entry(ctx, "SmoothGrad", reduce="mean").run()
    second = keras_viz_entry(ctx, "SmoothGrad", reduce="mean", seed=1).run()
    return pearson_per_image(squeeze_maps(first), squeeze_maps(second))


# --------------------------------------------------------------------------- report


def settings_text(ctx: Context, method: str) -> str:
    n = ctx.setup.images
    if method == "SmoothGrad":
        return f"{n} img x {SAMPLES} samples, noise {NOISE_LEVEL:g} of range (sigma {ctx.sigma:.3f}), {ctx.sampled_batch} rows/pass"
    if method == "IntegratedGradients":
        return f"{n} img x {SAMPLES} steps, zero baseline, {ctx.sampled_batch} rows/pass"
    if method in ("GradCAM", "GradCAMPlusPlus"):
        return f"{n} img, layer `{ctx.conv}`"
    if method == "Occlusion":
        windows = (ctx.images.shape[1] // ctx.setup.patch) * (ctx.images.shape[2] // ctx.setup.patch)
        return (f"{n} img x {windows} windows (patch {ctx.setup.patch}, stride {ctx.setup.patch}) = "
                f"{n * windows} fwd, {ctx.setup.occlusion_batch}/pass")
    return f"{n} img, batch {n}"


COLUMNS = ("model", "method", "settings", "library", "timed call", "median ms", "ratio (range)", "r (min)", "repeats")


def cell_row(model: str, method: str, settings: str, cell: Cell) -> list[str]:
    if cell.ms is None:
        return [model, method, settings, cell.library, cell.call or "—", "—", "—", "—",
                (cell.error or "").replace("|", "\\|")]
    ratio = "1" if cell.library == "keras-viz" else f"**{cell.ratio:.2f}** ({cell.spread[0]:.2f}–{cell.spread[1]:.2f})"
    if cell.library == "keras-viz":
        r = f"— (retraced {cell.retraced}x while timed)" if cell.retraced else "—"
    elif cell.r is None:
        r = (cell.error or "n/a").replace("|", "\\|")
    else:
        r = f"{cell.r[0]:.3f} ({cell.r[1]:.3f})"
        for where, count in cell.r[2].items():
            if count:
                r += f"; {count} of {len_images(model)} maps flat in {where}"
    return [model, method, settings, cell.library, cell.call, f"{cell.ms:.1f}", ratio, r, str(cell.repeats)]


def len_images(model: str) -> int:
    return SETUPS[model].images


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def write_markdown(path: str, rows: list[list[str]], args, modules, errors, load, notes) -> None:
    command = "PYTHONPATH=$PWD " + " ".join([sys.executable, *sys.argv])
    versions = ", ".join(f"{name} {library_version(name, modules)}" for name in ("keras-viz", *LIBRARIES))
    lines = [
        "# keras-viz explainers beside peer libraries",
        "",
        "Median wall time of one warm call of each library's explainer on the same images and "
        "integer class targets, and `ratio` = median over repeats of (peer time / keras-viz time in "
        "the same repeat): above 1 the peer is slower. `r` = Pearson correlation of the peer's map "
        "with keras-viz's (per image, mean and min over the images), keras-viz's map computed with "
        "the peer's channel reduction / fill value. See the notes below the table for what differs.",
        "",
        "## Machine",
        "",
        *machine_description(),
        f"- Libraries: {versions}",
        f"- Load average at start / end: {load[0]} / {load[1]}",
        "",
        "## Settings",
        "",
        f"- Command: `{command}`",
        f"- {args.warmup} warm-up calls per library (keras-viz also its first eager calls), then at least "
        f"{args.repeats} repeats and {args.min_seconds:g} s per row; in each repeat every library is called "
        "once, in an order rotated every repeat. Seed "
        f"{SEED}; inputs random uniform [0, 1); target of image i is class `i % 10`.",
        "- Explainers are built once, outside the timed call; the timed call includes fetching the result "
        "as a NumPy array (xplique returns tensors).",
        "- keras-viz explains the softmax model as built (it takes the scores before the softmax itself); "
        "xplique and tf-explain get the same model with the final Dense rebuilt without softmax (same "
        "weights), as their documentation asks; tf-keras-vis gets the softmax model with its documented "
        "`model_modifier=ReplaceToLinear(), clone=True`. Occlusion explains the class probability everywhere "
        "(the softmax model), as keras-viz does by default; tf-explain's SmoothGrad also needs the softmax "
        "model (its loss is the cross-entropy of the output).",
        "",
        "## Results",
        "",
        markdown_table(rows),
        "",
        "## Notes",
        "",
        *[f"- {note}" for note in (*NOTES, *notes)],
        "",
    ]
    if errors:
        lines += ["Peers that did not import:", "", *[f"- {k}: `{v}`" for k, v in errors.items()], ""]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


NOTES = (
    "**tf-explain** explains one class per `explain(validation_data, model, class_index)` call, so the timed "
    "call is one `explain` per distinct target class on the images with that target (10 calls of 1-2 images "
    "on small_cnn, 8 calls of 1 image on resnet50); its tf.functions are traced per class and shape during "
    "the warm-up. `explain` returns a rendered grid (uint8 grayscale or colour-mapped overlays), and that "
    "rendering is part of its time. `r` uses the attribution `explain` computes before rendering (its own "
    "static methods on the same inputs): the grid's uint8 cast of standardised values wraps around.",
    "tf-explain `VanillaGradients` / `GradientsInputs`: they expect a model whose last layer is an activation "
    "layer and explain the layer before it; the logits model is passed, which they use as is (with a "
    "warning). With a model ending in an `Activation` layer they build a new score model at every call.",
    "tf-explain `GradCAM`: `layer_name` is given (its own layer search reads `layer.output_shape`, which "
    "Keras 3 layers lack: `AttributeError`), and `use_guided_grads=False` (its default is a guided variant). "
    "Its map is the weighted sum at the layer's resolution without ReLU (the display min-max normalises it); "
    "`r` is against keras-viz's `GradCAM(upsample=False)`, which applies the ReLU, so `r` < 1 where the sum "
    "has negative regions.",
    "tf-explain `IntegratedGradients` returns the mean gradient along the path without the "
    "(input − baseline) factor, with equal weights on 16 points including both ends (keras-viz: trapezoid "
    "rule, times (input − baseline)): a different quantity, hence its lower `r`.",
    "tf-explain `SmoothGrad` differentiates the cross-entropy of the softmax output (not the class score) "
    "and takes an absolute noise standard deviation (`noise` = 0.15 × the mean value range of the images); "
    "it draws its own noise with `np.random`.",
    "tf-explain `OcclusionSensitivity`: grey value fixed at 127.5 and stride = patch; map 1 − p per patch, "
    "resized to the image with OpenCV (bilinear); one `model.predict` per image with `batch_size=64` (its "
    "progress bar is redirected away from the terminal). The keras-viz map for `r` uses `fill=127.5`.",
    "**xplique**: `batch_size` = 16 images per pass for the single-pass methods, 256 rows per pass for "
    "SmoothGrad / IG (xplique splits `batch_size` into images × samples), 64 occluded copies per pass for "
    "Occlusion (xplique occludes one image at a time; keras-viz packs copies of several images into a pass, "
    "here also 64). Default reducers (Saliency max |·|, the others the channel mean), so keras-viz's map for "
    "`r` uses `reduce=\"mean\"` there. SmoothGrad takes an absolute noise std (0.15 × mean range) and its own "
    "noise. Grad-CAM / Grad-CAM++ maps are upsampled bicubically (keras-viz: bilinear).",
    "**tf-keras-vis** 0.8.7 runs eagerly (no `tf.function`); `Gradcam` / `GradcamPlusPlus` build a new "
    "intermediate-output model at every call and upsample with `scipy.ndimage.zoom` (order 1); they get "
    "`seek_penultimate_conv_layer=False`, else they replace the layer given by the `Conv` layer before it "
    "(on ResNet50 `conv5_block3_3_conv`, before batch norm, the residual sum and the ReLU). Its SmoothGrad "
    "runs one pass of the 16 images per sample (16 rows per pass; not settable) and by default averages "
    "|grad|: here `gradient_modifier=None, keepdims=True` and max |·| over channels inside the timed call, "
    "which is keras-viz's quantity. `normalize_map` / `normalize_cam=False`. It offers no GradientInput, "
    "Integrated Gradients, Occlusion, Deconvnet or Guided Backprop.",
    "Ratios pair calls of the same repeat on a 2-core machine that may be shared with other work; as for "
    "`bench_explainers.py`, a single ratio can be off by 0.2-0.3 under load, so ratios within about 0.2 of 1 "
    "are ties.",
)


# --------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="small_cnn,resnet50")
    parser.add_argument("--methods", default=None, help="comma-separated (default: each model's list)")
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-seconds", type=float, default=3.0,
                        help="keep repeating a row until it has run this long (default 3)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small_cnn, 2 repeats, no minimum time")
    parser.add_argument("--output", default=None, help="Markdown report (default: none)")
    parser.add_argument("--verbose", action="store_true", help="print tracebacks of peer failures")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.repeats, args.min_seconds = "small_cnn", 2, 0.0
    for name in args.models.split(","):
        if name not in SETUPS:
            parser.error(f"unknown model {name!r}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    load_start = load_average()
    modules, errors = import_peers()
    libraries = [name for name in args.libraries.split(",") if name in modules]
    print("\n".join(machine_description()), flush=True)
    print("peers:", ", ".join(f"{n} {library_version(n, modules)}" for n in libraries), errors or "", flush=True)
    rows, notes = [], []
    for model_name in args.models.split(","):
        setup = SETUPS[model_name]
        ctx = make_context(setup)
        methods = args.methods.split(",") if args.methods else list(setup.methods)
        for method in methods:
            start = time.perf_counter()
            cells = run_row(ctx, method, libraries, args)
            for cell in cells:
                rows.append(cell_row(model_name, method, settings_text(ctx, method), cell))
                r = "" if cell.r is None else f" r {cell.r[0]:.3f}"
                shown = f"{cell.ms:9.1f} ms  ratio {cell.ratio:6.2f}{r}" if cell.ms is not None else cell.error
                print(f"{model_name:<10} {method:<20} {cell.library:<13} {shown}", flush=True)
            print(f"  [{time.perf_counter() - start:.0f} s]", flush=True)
            if method == "Saliency":
                kv_ms = next(c.ms for c in cells if c.library == "keras-viz")
                skipped = [m for m in ("SmoothGrad", "IntegratedGradients", "Occlusion") if m not in methods]
                if skipped and kv_ms is not None:
                    calls = args.warmup + args.repeats
                    notes.append(
                        f"{model_name}: {', '.join(skipped)} not run. SmoothGrad / IG need {SAMPLES}x the forward + "
                        f"backward passes of a Saliency call ({setup.images} x {SAMPLES} rows), so about "
                        f"{SAMPLES * kv_ms / 1e3:.1f} s per keras-viz call from its Saliency median ({kv_ms:.0f} ms), "
                        f"{calls * SAMPLES * kv_ms / 1e3:.0f} s for {calls} calls of keras-viz alone; Occlusion "
                        f"({setup.images} x 64 occluded images = {setup.images * 64} forward passes) costs about as much or more. "
                        f"Each row would take well over a minute with the peers.")
            if method == "SmoothGrad":
                mean, low, _ = seed_correlation(ctx)
                notes.append(
                    f"{model_name} SmoothGrad: keras-viz against itself with another noise seed gives r = "
                    f"{mean:.3f} (min {low:.3f}): the most a peer with its own noise can reach.")
    print()
    for row in rows:
        print(" | ".join(row))
    if args.output:
        write_markdown(args.output, rows, args, modules, errors, (load_start, load_average()), notes)
        print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
