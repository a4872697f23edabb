"""The keras-viz demo: train a small digit classifier, explain it, browse it in TensorBoard.

:func:`run_demo` is what ``keras-viz demo`` runs. It needs no download: the digits ship
with scikit-learn (:func:`keras_viz.datasets.load_digits`). In a few seconds on a CPU it

1. trains a small CNN (convolutions and ReLUs, then global average pooling and a dense
   softmax, so that CAM applies) with ``keras.callbacks.TensorBoard(log_dir)``, which
   writes the runs ``train`` and ``validation``;
2. explains 8 test digits against their true labels with seven methods (Saliency, guided
   backprop, Integrated Gradients, Grad-CAM, Grad-CAM++, CAM and occlusion) and writes
   the input, heatmap and overlay of each into the sibling run ``keras_viz``, plus one
   labelled grid comparing the methods;
3. saves that grid as a PNG in ``log_dir``;
4. exports the codes of the test digits (global average pooling) with their labels,
   predictions and thumbnails to the Embedding Projector (run ``keras_viz_projector``) and
   logs the top-9 patches of 8 channels of ``block2_conv`` (run ``keras_viz_views``);
5. trains a tiny Transformer to reverse letter sequences with an ``AttentionCallback``
   (run ``keras_viz_attention``) and saves its alignment (:func:`run_attention_demo`);
6. prints ``tensorboard --logdir <log_dir>``.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import layers

from keras_viz import callbacks, datasets, render
from keras_viz import tensorboard as kv_tensorboard
from keras_viz.explainers import (
    CAM,
    Explainer,
    GradCAM,
    GradCAMPlusPlus,
    GuidedBackprop,
    IntegratedGradients,
    Occlusion,
    Saliency,
)

__all__ = [
    "ATTENTION_FILENAME",
    "ATTENTION_RUN",
    "DEMO_METHODS",
    "GRID_FILENAME",
    "GRID_TAG",
    "PATCHES_TAG",
    "PROJECTOR_RUN",
    "TRAINING_RUN",
    "VIEWS_RUN",
    "build_demo_model",
    "demo_callbacks",
    "run_attention_demo",
    "run_demo",
]

IMAGE_SIZE = 32
EXAMPLES = 8
BATCH_SIZE = 32
LEARNING_RATE = 1e-2
DISPLAY_SCALE = 4  # 32x32 digits are drawn as 128x128 pictures

TRAINING_RUN = "keras_viz_training"
"""Run written by the keras-viz callbacks during training (one step per logged epoch)."""

GRID_TAG = "comparison/methods"
"""Tag of the labelled grid that compares the methods (one row per digit)."""

GRID_FILENAME = "keras_viz_comparison.png"

PROJECTOR_RUN = "keras_viz_projector"
"""Run of the demo's Embedding Projector export."""

PROJECTOR_LAYER = "gap"
"""Layer whose codes of the test digits the demo exports to the Embedding Projector."""

VIEWS_RUN = "keras_viz_views"
"""Run of the demo's dataset views (the top-patches sheet)."""

PATCHES_LAYER = "block2_conv"
PATCHES_TAG = "top_patches/block2_conv"
"""Tag of the top-9 patches of the first channels of :data:`PATCHES_LAYER`."""
"""File name of the comparison grid saved in ``log_dir``."""

# Tag prefix -> (short label for the grid, explainer factory). Order = grid columns.
DEMO_METHODS: dict[str, tuple[str, Callable[[keras.Model], Explainer]]] = {
    "saliency": ("saliency", lambda model: Saliency(model)),
    "guided_backprop": ("guided backprop", lambda model: GuidedBackprop(model)),
    "integrated_gradients": ("integr. gradients", lambda model: IntegratedGradients(model, steps=32)),
    "grad_cam": ("Grad-CAM", lambda model: GradCAM(model)),
    "grad_cam_plus_plus": ("Grad-CAM++", lambda model: GradCAMPlusPlus(model)),
    "cam": ("CAM", lambda model: CAM(model)),
    # An eighth of the image per patch (4x4 px), stride 2; many copies per forward pass.
    "occlusion": ("occlusion", lambda model: Occlusion(model, batch_size=256)),
}
"""The methods the demo compares: tag prefix -> (grid label, explainer factory)."""


def build_demo_model(
    input_shape: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 1), classes: int = 10
) -> keras.Model:
    """The demo's CNN: three conv/BN/ReLU blocks, global average pooling, dense softmax.

    The dense layer reads the globally pooled last feature maps directly, which is the
    architecture CAM (Zhou et al. 2016) needs. Batch normalisation (momentum 0.9, so the
    running statistics catch up within a short training) makes three epochs enough.

    Args:
        input_shape: ``(H, W, C)`` of the images. Defaults to ``(32, 32, 1)``.
        classes: Number of classes. Defaults to 10.

    Returns:
        An uncompiled ``keras.Sequential`` model named ``"digits_cnn"``.
    """

    def block(filters: int, name: str) -> list[layers.Layer]:
        return [
            layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv"),
            layers.BatchNormalization(momentum=0.9, name=f"{name}_bn"),
            layers.ReLU(name=f"{name}_relu"),
        ]

    return keras.Sequential(
        [
            keras.Input(input_shape, name="image"),
            *block(16, "block1"),
            layers.MaxPooling2D(name="block1_pool"),
            *block(32, "block2"),
            layers.MaxPooling2D(name="block2_pool"),
            *block(64, "block3"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(classes, activation="softmax", name="predictions"),
        ],
        name="digits_cnn",
    )


def tensorboard_command() -> str:
    """The ``tensorboard`` executable to run, as a full path when it can be found.

    A newcomer's shell often does not have the virtual environment's ``bin`` on its PATH,
    so a bare ``tensorboard`` would not be found: the one installed beside this Python
    comes first, then the one on PATH, then ``python -m tensorboard.main``.
    """
    beside = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return shlex.quote(os.path.abspath(beside))
    on_path = shutil.which("tensorboard")
    if on_path:
        return shlex.quote(os.path.abspath(on_path))
    return f"{shlex.quote(sys.executable)} -m tensorboard.main"


def _check_epochs(epochs: Any) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer; received epochs={epochs!r}.")
    return int(epochs)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer; received seed={seed!r}.")
    return int(seed)


def _pick_examples(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` test samples, the first of each class first (varied digits)."""
    firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
    taken = set(firsts)
    rest = [i for i in range(len(labels)) if i not in taken]
    return np.asarray((firsts + rest)[:count])


def demo_callbacks(
    log_dir: str,
    images: np.ndarray,
    labels: np.ndarray,
    health_x: np.ndarray,
    health_y: np.ndarray,
    **options: Any,
) -> list[keras.callbacks.Callback]:
    """Keras' TensorBoard callback plus every keras-viz callback, as a user would add them.

    The keras-viz callbacks write the run :data:`TRAINING_RUN`: explanations of the fixed
    digits (Saliency, guided backprop, Grad-CAM and CAM sharing one forward pass), the
    filters of every layer, feature maps, and training health (dead ReLUs, histograms,
    the block diagram of the model), with the callbacks' default schedule (the first and the
    last epoch, and the epochs in between their time budget allows). ``options`` (e.g.
    ``freq=1``) go to every keras-viz callback.
    """
    common = {"log_dir": log_dir, "run": TRAINING_RUN, **options}
    return [
        keras.callbacks.TensorBoard(log_dir),
        callbacks.ExplanationCallback(
            images,
            explainers=[Saliency, GuidedBackprop, GradCAM, CAM],
            targets=labels,
            value_range=(0.0, 1.0),
            **common,
        ),
        callbacks.FilterCallback(**common),
        callbacks.ActivationCallback(images[:4], **common),
        callbacks.TrainingHealthCallback(health_x, health_y, **common),
    ]


def run_demo(
    log_dir: str | os.PathLike[str] = "logs/keras-viz-demo",
    epochs: int = 3,
    seed: int = 0,
    quiet: bool = False,
) -> dict[str, Any]:
    """Trains a digit classifier, explains 8 test digits and logs everything to TensorBoard.

    Writes into ``log_dir``: the runs ``train`` and ``validation`` (from
    ``keras.callbacks.TensorBoard``: loss and accuracy curves, the graph), the run
    ``keras_viz`` with the tags ``<method>/input``, ``<method>/heatmap`` and
    ``<method>/overlay`` for each method of :data:`DEMO_METHODS` (8 samples each) and the
    grid :data:`GRID_TAG`, all at step ``epochs - 1`` (the last point of the loss
    curves), and the same grid as the PNG file :data:`GRID_FILENAME`.

    Args:
        log_dir: Log directory; browse it with ``tensorboard --logdir log_dir``.
            Defaults to ``"logs/keras-viz-demo"``.
        epochs: Training epochs. Defaults to 3 (about 97-99% test accuracy).
        seed: Seed of ``keras.utils.set_random_seed`` and of the train/test split; the
            same seed gives the same run. Defaults to 0.
        quiet: Print nothing (no training progress either). Defaults to False.

    Returns:
        A dict with ``accuracy`` (test accuracy, float), ``log_dir``, ``run_dir`` (the
        ``keras_viz`` run), ``tags`` (image tags written there, in order), ``grid_png``
        (path of the saved grid) and ``seconds`` (``{"train": ..., "explain": ...}``).

    Raises:
        ValueError: If ``epochs`` or ``seed`` is not a valid integer.
    """
    epochs = _check_epochs(epochs)
    seed = _check_seed(seed)
    log_dir = os.fspath(log_dir)
    say: Callable[..., None] = (lambda *args: None) if quiet else print

    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = datasets.load_digits(size=IMAGE_SIZE, seed=seed)

    model = build_demo_model(x_train.shape[1:], len(datasets.DIGIT_CLASS_NAMES))
    steps = epochs * math.ceil(len(x_train) / BATCH_SIZE)
    model.compile(
        # Cosine decay to 0 ends training at a small step, so the last epoch is stable.
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    say(f"Training {model.name} on {len(x_train)} digits of {IMAGE_SIZE}x{IMAGE_SIZE} px, "
        f"{epochs} epoch(s)...")
    chosen = _pick_examples(y_test, EXAMPLES)
    images, labels = x_test[chosen], y_test[chosen]
    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=(x_test, y_test),
        callbacks=demo_callbacks(log_dir, images, labels, x_train[:64], y_train[:64]),
        verbose=0 if quiet else 2,
    )
    train_seconds = time.perf_counter() - start
    accuracy = float(model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"])
    say(f"Test accuracy: {accuracy:.4f} on {len(x_test)} digits ({train_seconds:.1f} s of training).")

    start = time.perf_counter()
    step = epochs - 1
    tags: list[str] = []
    overlays: dict[str, np.ndarray] = {}
    writer = kv_tensorboard.run_writer(log_dir)
    try:
        for prefix, (_, make) in DEMO_METHODS.items():
            explainer = make(model)
            maps = explainer(images, targets=labels)
            tags += kv_tensorboard.log_explanations(
                writer,
                prefix,
                images,
                maps,
                step=step,
                labels=[f"digit {label}" for label in labels],
                description=f"{type(explainer).__name__} of the true class of {EXAMPLES} test digits.",
                max_outputs=EXAMPLES,
                value_range=(0.0, 1.0),
                scale=DISPLAY_SCALE,
            )
            _, overlays[prefix] = kv_tensorboard.explanation_images(
                images, maps, value_range=(0.0, 1.0), scale=DISPLAY_SCALE
            )
        sheet = _comparison_grid(images, labels, overlays)
        with writer.as_default():
            kv_tensorboard.image_summary(
                GRID_TAG,
                sheet,
                step=step,
                max_outputs=1,
                description=(
                    "One row per test digit: the input, then the overlay of each method "
                    "(explaining the true class)."
                ),
            )
        tags.append(GRID_TAG)
    finally:
        writer.close()
    grid_png = os.path.join(log_dir, GRID_FILENAME)
    render.to_pil(sheet).save(grid_png)
    projector_run, patch_tag = _dataset_views(model, x_test, y_test, log_dir, step)
    explain_seconds = time.perf_counter() - start
    start = time.perf_counter()
    feature_pictures = log_feature_visualizations(model, x_train, log_dir, step)
    optvis_seconds = time.perf_counter() - start

    run_dir = os.path.join(log_dir, kv_tensorboard.DEFAULT_RUN)
    say(f"Wrote {len(tags)} image tags to the run {run_dir} ({explain_seconds:.1f} s):")
    say(f"  <method>/input, <method>/heatmap, <method>/overlay for {', '.join(DEMO_METHODS)}")
    say(f"  {GRID_TAG}: all methods side by side")
    say(f"Saved the comparison grid to {grid_png}")
    say(f"Feature visualisation ({optvis_seconds:.1f} s): {', '.join(feature_pictures['tags'])} in the run "
        f"{os.path.join(log_dir, OPTVIS_RUN)}, and {', '.join(feature_pictures['pngs'])}")
    say(f"During training, the keras-viz callbacks wrote explanations, filters, feature maps and "
        f"training health (dead ReLUs, histograms, the model diagram) to the run "
        f"{os.path.join(log_dir, TRAINING_RUN)}")
    say(f"Exported the codes of the {len(x_test)} test digits (layer `{PROJECTOR_LAYER}`) to the "
        f"Embedding Projector (run {projector_run}) and logged `{patch_tag}` (top-9 patches) to the run "
        f"{os.path.join(log_dir, VIEWS_RUN)}.")
    attention = run_attention_demo(log_dir, seed=seed, say=say)
    say(f"Browse it with:\n  {tensorboard_command()} --logdir {shlex.quote(log_dir)}")
    return {
        "accuracy": accuracy,
        "log_dir": log_dir,
        "run_dir": run_dir,
        "training_run_dir": os.path.join(log_dir, TRAINING_RUN),
        "tags": tags,
        "grid_png": grid_png,
        "seconds": {
            "train": train_seconds,
            "explain": explain_seconds,
            "attention": attention["seconds"],
            "optvis": optvis_seconds,
        },
        "attention": attention,
        "projector_run_dir": projector_run,
        "views_run_dir": os.path.join(log_dir, VIEWS_RUN),
        "views_tags": [patch_tag],
        "optvis_tags": feature_pictures["tags"],
        "optvis_pngs": feature_pictures["pngs"],
    }


def _comparison_grid(
    images: np.ndarray, labels: np.ndarray, overlays: dict[str, np.ndarray]
) -> np.ndarray:
    """One row per sample: the input, then the overlay of each method, labelled."""
    inputs = np.stack([render.to_uint8_image(image, value_range=(0.0, 1.0)) for image in images])
    inputs = inputs.repeat(DISPLAY_SCALE, axis=1).repeat(DISPLAY_SCALE, axis=2)
    tiles: list[np.ndarray] = []
    names: list[str] = []
    for row, label in enumerate(labels):
        tiles.append(inputs[row])
        names.append(f"digit {label}")
        for prefix, pictures in overlays.items():
            tiles.append(pictures[row])
            names.append(DEMO_METHODS[prefix][0])
    return render.grid(tiles, labels=names, columns=1 + len(overlays))


OPTVIS_RUN = "keras_viz_optvis"
"""Run of the feature visualisations (beside ``keras_viz``)."""
OPTVIS_CLASSES_TAG = "optvis/class_visualizations"
OPTVIS_DREAM_TAG = "optvis/deep_dream"


def log_feature_visualizations(model: keras.Model, x_train: np.ndarray, log_dir: str, step: int) -> dict[str, list[str]]:
    """Class visualisations of the digits model and a DeepDream of a photograph.

    * :data:`OPTVIS_CLASSES_TAG`: one image per digit optimised for the log-probability
      of that digit, with the Fourier parameterisation scaled like the training digits'
      spectrum (smooth strokes rather than sharp patterns on this small model);
    * :data:`OPTVIS_DREAM_TAG`: the photograph, and the photograph dreamt by the digit
      convolutions on its brightness (the model sees grey) with its colours put back. It is
      4x larger than the model's input: the model is fully convolutional up to those layers.

    Both go to the run :data:`OPTVIS_RUN` at ``step`` and to PNG files in ``log_dir``.
    """
    from keras_viz import optvis  # imported here: the demo's other steps do not need it

    objective = optvis.class_score(range(len(datasets.DIGIT_CLASS_NAMES)), probability=True, log=True)
    param = optvis.fourier(reference=x_train[:256])
    classes = optvis.activation_maximization(model, objective, steps=128, param=param)
    probabilities = model.predict(classes, verbose=0)
    labels = [f"digit {k}: p={probabilities[k, k]:.2f}" for k in range(len(classes))]
    class_sheet = render.optvis_grid(classes, labels, columns=5, scale=DISPLAY_SCALE)

    photo = datasets.load_sample_photos(4 * IMAGE_SIZE)[0]
    grey = photo.mean(axis=-1, keepdims=True)
    dream = optvis.deep_dream(
        model, grey, {"block2_relu": 1.0, "block3_relu": 1.0}, octaves=3, steps=10, step_size=0.004
    )
    coloured = np.clip(photo + (dream - grey), 0.0, 1.0)
    dream_sheet = render.optvis_grid(np.stack([photo, coloured]), ["photograph", "DeepDream"], scale=2)

    writer = kv_tensorboard.run_writer(log_dir, OPTVIS_RUN)
    pngs = []
    try:
        with writer.as_default():
            for tag, sheet, description in (
                (OPTVIS_CLASSES_TAG, class_sheet,
                 "Images optimised for the probability of each digit (activation maximisation), with the "
                 "probability the model gives them."),
                (OPTVIS_DREAM_TAG, dream_sheet,
                 "DeepDream of block2_relu and block3_relu on a photograph 4x the model's input size."),
            ):
                kv_tensorboard.image_summary(tag, sheet, step=step, max_outputs=1, description=description)
                path = os.path.join(log_dir, f"keras_viz_{tag.split('/')[-1]}.png")
                render.to_pil(sheet).save(path)
                pngs.append(path)
    finally:
        writer.close()
    return {"tags": [OPTVIS_CLASSES_TAG, OPTVIS_DREAM_TAG], "pngs": pngs}


def _dataset_views(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, log_dir: str, step: int
) -> tuple[str, str]:
    """Exports the test digits' codes to the projector and logs a top-patches sheet.

    Returns:
        ``(projector run directory, image tag of the top-patches sheet)``.
    """
    from keras_viz.views import embeddings, top_activations

    codes = embeddings(model, images, PROJECTOR_LAYER, batch_size=128)
    predictions = np.asarray(model.predict(images, batch_size=128, verbose=0)).argmax(axis=-1)
    # A demo run again into the same log directory exports into a new run (the projector
    # only notices new runs).
    taken = os.path.exists(os.path.join(log_dir, PROJECTOR_RUN, "projector_config.pbtxt"))
    run_dir = kv_tensorboard.export_projector(
        log_dir,
        codes,
        metadata={
            "label": [int(v) for v in labels],
            "prediction": [int(v) for v in predictions],
            "correct": [str(bool(p == t)) for p, t in zip(predictions, labels)],
        },
        images=images,
        run=None if taken else PROJECTOR_RUN,
        name="digits_gap",
        description="Global-average-pooled codes of the test digits after training.",
    )
    top = top_activations(model, images, PATCHES_LAYER, channels=range(8), k=9, batch_size=128)
    sheet = render.top_patches_sheet(top.patches, top.values, channels=top.channels, value_range=(0.0, 1.0), scale=4)
    writer = kv_tensorboard.run_writer(log_dir, VIEWS_RUN)
    try:
        with writer.as_default():
            kv_tensorboard.image_summary(
                PATCHES_TAG,
                sheet,
                step=step,
                max_outputs=1,
                description=(
                    f"For 8 channels of `{PATCHES_LAYER}`, the 9 test digits that activate it most, "
                    f"cropped to the receptive field ({top.receptive_field.size[0]} px) of the strongest unit."
                ),
            )
    finally:
        writer.close()
    return run_dir, PATCHES_TAG


# --------------------------------------------------------------------------- attention

ATTENTION_RUN = "keras_viz_attention"
"""Run written by the AttentionCallback while the demo's tiny Transformer trains."""

ATTENTION_FILENAME = "keras_viz_attention.png"
"""File name of the demo's alignment picture saved in ``log_dir``."""


def run_attention_demo(log_dir: str, *, seed: int = 0, say: Callable[..., None] = print) -> dict[str, Any]:
    """Trains a tiny Transformer to reverse 8 letters (about 3 s) with an AttentionCallback.

    Writes the run :data:`ATTENTION_RUN` (every head of both attention layers per epoch,
    the alignment table, per-head entropies) and :data:`ATTENTION_FILENAME`: the
    cross-attention of 4 held-out sequences, the known alignment outlined in red.

    Returns:
        ``{"run_dir", "png", "alignment" (share of output positions whose cross-attention
        argmax is the known source position), "accuracy", "seconds"}``.
    """
    from keras_viz import attention_demo
    from keras_viz.attention import AttentionMaps, fuse_heads

    start = time.perf_counter()
    held_out, _ = attention_demo.make_reversal_task(256, seed=seed + 1)  # what training holds out
    letters = [[attention_demo.LETTERS[i] for i in row] for row in held_out[:4]]
    outputs = [[f"out {t}" for t in range(held_out.shape[1])]] * 4
    callback = callbacks.AttentionCallback(
        held_out[:4], tokens=letters, query_tokens={"cross_attention": outputs}, rollout=False,
        log_dir=log_dir, run=ATTENTION_RUN, freq=1,  # every epoch: the demo shows attention forming
    )
    say("Training a tiny Transformer to reverse letter sequences (its attention goes to the run "
        f"{os.path.join(log_dir, ATTENTION_RUN)})...")
    model, info = attention_demo.train_reversal_transformer(fast=True, seed=seed, callbacks=[callback])
    cross = fuse_heads(AttentionMaps(model)(info["source"])["cross_attention"])
    alignment = float(np.mean(cross.argmax(axis=-1) == info["alignment"]))
    pictures = [
        render.alignment_matrix(cross[i], info["tokens"][i], outputs[i], expected=list(info["alignment"]), cell=24)
        for i in range(4)
    ]
    png = os.path.join(log_dir, ATTENTION_FILENAME)
    render.to_pil(render.grid(pictures, columns=4, padding=8)).save(png)
    seconds = time.perf_counter() - start
    say(f"Reversal: {info['accuracy']:.1%} letters right; the cross-attention looks at the right source "
        f"letter for {alignment:.1%} of output positions ({seconds:.1f} s). Saved {png}")
    return {"run_dir": os.path.join(log_dir, ATTENTION_RUN), "png": png, "alignment": alignment,
            "accuracy": info["accuracy"], "seconds": seconds}
