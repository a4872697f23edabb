"""Write explanation pictures into TensorBoard, next to Keras' own runs.

``keras.callbacks.TensorBoard(log_dir)`` writes the runs ``log_dir/train`` and
``log_dir/validation``. keras-viz writes into a sibling run, ``log_dir/keras_viz`` by
default (:func:`run_writer`), so its pictures show up as their own run in the same UI.

Three layers, each usable on its own:

* :func:`image_summary` is ``tf.summary.image`` with checked inputs, and it always
  records: Keras' callback with ``update_freq`` other than ``"epoch"`` leaves a
  ``tf.summary.record_if(step % n == 0)`` condition active between batches, which
  would otherwise drop our writes without a word.
* :func:`explanation_images` turns raw maps into coloured heatmaps and overlays
  (uint8 pictures) with the pure functions of :mod:`keras_viz.render`.
* :func:`log_explanations` writes, for one method, three image tags holding one
  picture per sample: ``<prefix>/input``, ``<prefix>/heatmap`` and
  ``<prefix>/overlay``. TensorBoard shows the samples of a tag with a slider, and the
  three tags side by side in the ``<prefix>`` group. (A labelled grid of several
  methods is one more picture: build it with :func:`keras_viz.render.grid` and write it
  with :func:`image_summary`, as :func:`keras_viz.demo.run_demo` does.)

Example::

    from keras_viz import tensorboard as kvtb

    writer = kvtb.run_writer("logs")  # next to keras.callbacks.TensorBoard("logs")
    maps = kv.GradCAM(model)(x_val[:8], targets=y_val[:8])
    kvtb.log_explanations(writer, "grad_cam", x_val[:8], maps, step=epoch,
                          labels=y_val[:8], value_range=(0, 1), scale=4)

TensorBoard keeps 10 steps per image tag unless started with
``--samples_per_plugin images=N``.

This module imports TensorFlow; explainers and :mod:`keras_viz.render` never import it.
"""

from __future__ import annotations

import numbers
import os
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from numpy.typing import ArrayLike

from keras_viz import render
from keras_viz.projector import export_projector

__all__ = [
    "DEFAULT_RUN",
    "encode_image_tensor",
    "encode_png",
    "explanation_images",
    "export_projector",
    "histogram_buckets",
    "histogram_summary",
    "image_summary",
    "input_pictures",
    "log_explanations",
    "run_writer",
]

DEFAULT_RUN = "keras_viz"
"""Name of the run directory keras-viz writes into, a sibling of Keras' ``train``."""

# The diverging map shows the sign of signed maps (Integrated Gradients, gradient x
# input); the sequential one shows magnitudes. Same defaults as render.heatmap_to_rgb.
_SIGNED_COLORMAP = "RdBu_r"
_UNSIGNED_COLORMAP = "viridis"


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #


def _check_tag(tag: str, name: str) -> str:
    """Checks a summary tag: a non-empty string without whitespace."""
    if not isinstance(tag, str):
        raise TypeError(
            f"`{name}` must be a string tag such as 'grad_cam/overlay'; received {name}={tag!r}."
        )
    if not tag or any(ch.isspace() for ch in tag):
        raise ValueError(
            f"`{name}` must be a non-empty, slash-scoped tag without spaces, such as "
            f"'grad_cam/overlay'; received {name}={tag!r}."
        )
    return tag


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; received {name}={value!r}.")
    return int(value)


def _check_pictures(images: Any) -> np.ndarray:
    """Returns ``images`` as a ``(k, h, w, c)`` uint8 or float32 batch that tf.summary.image takes.

    Accepts a batch ``(k, h, w, c)``, one picture ``(h, w, c)`` or one grey picture
    ``(h, w)``, with ``c`` in 1, 3, 4; uint8 (any integer dtype with values in
    ``[0, 255]``) or float in ``[0, 1]``. Values are never clipped silently.
    """
    array = np.asarray(images)
    if array.dtype.kind not in "uif":
        raise TypeError(
            f"`images` must be uint8 or float in [0, 1]; received dtype {array.dtype}."
        )
    if array.ndim == 2:
        array = array[np.newaxis, ..., np.newaxis]
    elif array.ndim == 3:
        array = array[np.newaxis]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(
            "`images` must have shape (k, h, w, c), (h, w, c) or (h, w) with c in 1, 3, 4 "
            f"(a batch of grey images needs its channel axis); received shape {np.shape(images)}."
        )
    if array.size == 0:
        raise ValueError(f"`images` must hold at least one pixel; received shape {array.shape}.")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise ValueError("`images` holds NaN or infinite values.")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                "Float `images` must hold values in [0, 1] (tf.summary.image would clip them "
                f"silently); received values in [{low:g}, {high:g}]. Convert them with "
                "keras_viz.render.to_uint8_image first."
            )
        return array.astype(np.float32)
    if array.dtype != np.uint8:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(
                "Integer `images` must hold values in [0, 255]; received values in "
                f"[{low}, {high}]."
            )
        array = array.astype(np.uint8)
    return array


def _check_scale(scale: Any) -> int:
    return _check_positive_int(scale, "scale")


def _upscale(pictures: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``(k, h, w, c)`` pictures (small digits stay crisp)."""
    if scale == 1:
        return pictures
    return pictures.repeat(scale, axis=1).repeat(scale, axis=2)


def _as_image_batch(images: ArrayLike) -> np.ndarray:
    """``images`` as an ``(N, H, W, C)`` array; ``(N, H, W)`` is read as grey images."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(
            "`images` must have shape (N, H, W, C) with C in 1, 3, or (N, H, W) for grey "
            f"images; received shape {np.shape(images)}."
        )
    if array.shape[0] == 0:
        raise ValueError("`images` must hold at least one image; received an empty batch.")
    return array


def _as_map_batch(maps: ArrayLike, count: int) -> np.ndarray:
    """``maps`` as an ``(N, h, w)`` array with one map per image."""
    array = np.asarray(maps)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(
            "`maps` must have shape (N, h, w), as returned by an explainer; received shape "
            f"{np.shape(maps)}."
        )
    if array.shape[0] != count:
        raise ValueError(
            f"`maps` must hold one map per image: received {array.shape[0]} maps for {count} images."
        )
    return array


def _input_pictures(
    images: np.ndarray, value_range: tuple[float, float] | None, scale: int
) -> np.ndarray:
    """The model inputs as ``(N, H*scale, W*scale, 3)`` uint8 pictures."""
    pictures = np.stack([render.to_uint8_image(image, value_range=value_range) for image in images])
    return _upscale(pictures, scale)


def input_pictures(
    images: ArrayLike, *, value_range: tuple[float, float] | None = None, scale: int = 1
) -> np.ndarray:
    """Model inputs as the uint8 pictures :func:`log_explanations` shows and overlays.

    Args:
        images: ``(N, H, W, C)`` with ``C`` in 1, 3, or ``(N, H, W)``.
        value_range: as in :func:`explanation_images`.
        scale: as in :func:`explanation_images`.

    Returns:
        uint8 ``(N, H*scale, W*scale, 3)``.
    """
    return _input_pictures(_as_image_batch(images), value_range, _check_scale(scale))


# --------------------------------------------------------------------------- #
# Public helpers
# --------------------------------------------------------------------------- #


def run_writer(log_dir: str | os.PathLike[str], run: str = DEFAULT_RUN) -> tf.summary.SummaryWriter:
    """Creates the summary writer of the keras-viz run inside ``log_dir``.

    ``keras.callbacks.TensorBoard(log_dir)`` writes ``log_dir/train`` and
    ``log_dir/validation``; this writer writes ``log_dir/<run>``, which TensorBoard
    shows as one more run of the same ``--logdir``. The directory is created when the
    writer is.

    Args:
        log_dir: The directory given to ``keras.callbacks.TensorBoard`` (or any log directory).
        run: Name of the run directory. Defaults to ``"keras_viz"``.

    Returns:
        A ``tf.summary.SummaryWriter``; close it (or use it as a context manager via
        ``writer.as_default()`` and ``writer.close()``) when done.

    Raises:
        TypeError: If ``log_dir`` is not a path or ``run`` is not a string.
        ValueError: If ``run`` is empty, absolute or leaves ``log_dir`` (``..``).
    """
    if not isinstance(log_dir, (str, os.PathLike)):
        raise TypeError(f"`log_dir` must be a path; received log_dir={log_dir!r}.")
    if not isinstance(run, str):
        raise TypeError(f"`run` must be a string; received run={run!r}.")
    parts = run.replace("\\", "/").split("/")
    if not run or os.path.isabs(run) or any(part in ("", "..") for part in parts):
        raise ValueError(
            "`run` must be a relative run name inside `log_dir`, such as 'keras_viz'; "
            f"received run={run!r}."
        )
    return tf.summary.create_file_writer(os.path.join(os.fspath(log_dir), run))


def image_summary(
    name: str,
    images: ArrayLike,
    step: int | tf.Variable | None = None,
    max_outputs: int = 3,
    description: str | None = None,
) -> bool:
    """Writes images to the default summary writer, like ``tf.summary.image``.

    Unlike ``tf.summary.image`` it records even inside ``tf.summary.record_if(False)``
    (Keras' TensorBoard callback leaves such a condition active between batches when
    ``update_freq`` is not ``"epoch"``), and it refuses float values outside ``[0, 1]``
    instead of clipping them silently.

    Args:
        name: Tag, slash-scoped without spaces (e.g. ``"grad_cam/overlay"``).
        images: ``(k, h, w, c)`` batch, one ``(h, w, c)`` picture or one ``(h, w)`` grey
            picture; ``c`` in 1, 3, 4; uint8 (or integers in ``[0, 255]``) or float in
            ``[0, 1]``.
        step: Step of the summary; None uses ``tf.summary.experimental.get_step()``.
            Inside a ``tf.function`` pass a ``tf.Variable``.
        max_outputs: At most this many images of the batch are written. Defaults to 3.
        description: Optional Markdown shown with the tag in TensorBoard.

    Returns:
        True on success, False if no default summary writer is active (as
        ``tf.summary.image``).

    Raises:
        TypeError: If ``name`` is not a string or ``images`` is not numeric.
        ValueError: If ``name`` is empty or has spaces, ``images`` has an unsupported
            shape or value range, ``max_outputs`` is not a positive integer, or no step
            is given and no default step is set.
    """
    from tensorboard.plugins.image import metadata as image_metadata

    name = _check_tag(name, "name")
    max_outputs = _check_positive_int(max_outputs, "max_outputs")
    pictures = _check_pictures(images)
    summary_metadata = image_metadata.create_summary_metadata(
        display_name=None, description=description
    )
    with tf.summary.record_if(True):
        return bool(
            tf.summary.write(
                name, tf.constant(encode_image_tensor(pictures[:max_outputs])), step=step, metadata=summary_metadata
            )
        )


def encode_image_tensor(pictures: np.ndarray) -> np.ndarray:
    """The image plugin's tensor: ``[width, height, png, png, ...]`` as bytes.

    The same layout ``tf.summary.image`` writes, but the PNGs are encoded here
    (:func:`encode_png`): ``tf.summary.image`` encodes with TensorFlow ops, tens of
    milliseconds per call in eager mode.
    """
    if pictures.dtype != np.uint8:
        pictures = np.round(np.clip(pictures, 0.0, 1.0) * 255.0).astype(np.uint8)
    height, width = pictures.shape[1:3]
    blobs = [str(width).encode(), str(height).encode()]
    blobs.extend(encode_png(picture) for picture in pictures)
    return np.array(blobs, dtype=object)


_PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA


def encode_png(picture: np.ndarray, level: int = 1) -> bytes:
    """One uint8 ``(h, w, c)`` picture (c in 1..4) as PNG bytes (PNG spec, ISO/IEC 15948).

    8 bits per channel, no filtering, zlib ``level`` 1: small pictures are mostly
    overhead, and encoding them directly is several times faster than through
    Pillow's general encoder (measured in benchmarks/CALLBACKS.md); the bytes decode
    to the same pixels.
    """
    height, width, channels = picture.shape
    rows = np.zeros((height, width * channels + 1), np.uint8)  # a leading 0 per row: filter "None"
    rows[:, 1:] = picture.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), level)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def histogram_buckets(values: ArrayLike, bucket_count: int = 30) -> np.ndarray:
    """TensorBoard's histogram buckets in NumPy: ``(k, 3)`` rows ``[left, right, count]``.

    Equal-width buckets between the minimum and the maximum, as
    ``tensorboard.plugins.histogram.summary_v2`` builds them; a constant input gives one
    bucket of width 1 around the value, empty input ``bucket_count`` empty buckets.
    Non-finite values are dropped.
    """
    data = np.asarray(values, np.float64).ravel()
    data = data[np.isfinite(data)]
    if data.size == 0:
        return np.zeros((bucket_count, 3), np.float64)
    low, high = float(data.min()), float(data.max())
    if low == high:
        return np.array([[low - 0.5, low + 0.5, float(data.size)]])
    counts, edges = np.histogram(data, bins=bucket_count, range=(low, high))
    return np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)


def histogram_summary(
    name: str,
    values: ArrayLike,
    step: int | tf.Variable | None = None,
    buckets: int = 30,
    description: str | None = None,
) -> bool:
    """Like ``tf.summary.histogram``, with the buckets computed in NumPy.

    ``tf.summary.histogram`` builds its buckets with TensorFlow ops, which costs tens
    of milliseconds per call in eager mode; a callback that logs every weight of a
    model each epoch would spend seconds on it.
    """
    from tensorboard.plugins.histogram import metadata as histogram_metadata

    _check_tag(name, "name")
    summary_metadata = histogram_metadata.create_summary_metadata(display_name=None, description=description)
    with tf.summary.record_if(True):
        return tf.summary.write(
            name, tf.constant(histogram_buckets(values, buckets)), step=step, metadata=summary_metadata
        )


def explanation_images(
    images: ArrayLike,
    maps: ArrayLike,
    *,
    colormap: str | None = None,
    alpha: float = 0.5,
    percentile: float = 99.0,
    value_range: tuple[float, float] | None = None,
    scale: int = 1,
    input_pictures: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Colours attribution maps and blends them over their images.

    Each map is normalised on its own (:func:`keras_viz.render.normalize`). When any map
    of the batch has negative values the batch is shown as signed (diverging colour
    map, 0 is white and only strong positive or negative pixels tint the overlay);
    otherwise as magnitudes.

    Args:
        images: Model inputs, ``(N, H, W, C)`` with ``C`` in 1, 3, or ``(N, H, W)``.
        maps: Raw maps ``(N, h, w)`` as returned by an explainer; resized to ``(H, W)``
            for the overlays.
        colormap: One of :func:`keras_viz.render.available_colormaps`; None picks
            ``"RdBu_r"`` for signed maps and ``"viridis"`` otherwise.
        alpha: Opacity of the heatmap in the overlays, in ``[0, 1]``. Defaults to 0.5.
        percentile: Clipping percentile of the normalisation. Defaults to 99.0.
        value_range: ``(lo, hi)`` range of the model inputs, e.g. ``(0, 1)``; None
            min-max scales each image (see :func:`keras_viz.render.to_uint8_image`).
        scale: Integer nearest-neighbour upscaling of the pictures (TensorBoard shows
            a 32x32 digit very small). Defaults to 1.
        input_pictures: ``images`` already drawn with ``value_range`` and ``scale``
            (:func:`input_pictures`), e.g. fixed inputs a callback draws once.

    Returns:
        ``(heatmaps, overlays)``: uint8 arrays ``(N, h*scale, w*scale, 3)`` and
        ``(N, H*scale, W*scale, 3)``.

    Raises:
        TypeError: If an array is not numeric or ``alpha`` is not a number.
        ValueError: If shapes do not match, a value is not finite, or ``colormap``,
            ``alpha``, ``percentile``, ``value_range`` or ``scale`` is invalid.
    """
    batch = _as_image_batch(images)
    raw_maps = _as_map_batch(maps, len(batch))
    scale = _check_scale(scale)
    signed = bool(np.min(raw_maps) < 0.0)
    name = colormap if colormap is not None else (_SIGNED_COLORMAP if signed else _UNSIGNED_COLORMAP)
    heatmaps = np.stack(
        [
            render.heatmap_to_rgb(one, colormap=name, percentile=percentile, symmetric=signed)
            for one in raw_maps
        ]
    )
    # Overlays are blended at display resolution so the upsampled heatmap stays smooth.
    inputs = _input_pictures(batch, value_range, scale) if input_pictures is None else input_pictures
    overlays = np.stack(
        [
            render.overlay(picture, one, alpha=alpha, colormap=name, percentile=percentile)
            for picture, one in zip(inputs, raw_maps)
        ]
    )
    return _upscale(heatmaps, scale), overlays


def log_explanations(
    writer: tf.summary.SummaryWriter,
    tag_prefix: str,
    images: ArrayLike,
    maps: ArrayLike,
    step: int | tf.Variable | None,
    labels: Sequence[Any] | None = None,
    description: str | None = None,
    max_outputs: int = 8,
    *,
    colormap: str | None = None,
    alpha: float = 0.5,
    value_range: tuple[float, float] | None = None,
    scale: int = 1,
    with_inputs: bool = True,
    input_pictures: np.ndarray | None = None,
) -> list[str]:
    """Writes the inputs, heatmaps and overlays of one explanation method.

    Three image tags are written, each holding one picture per sample (TensorBoard's
    sample slider steps through them, in the order of ``images``):
    ``<tag_prefix>/input``, ``<tag_prefix>/heatmap`` and ``<tag_prefix>/overlay``.
    The writer is flushed afterwards so a running TensorBoard sees the pictures.

    Args:
        writer: Summary writer, e.g. from :func:`run_writer`.
        tag_prefix: Tag scope, slash-scoped without spaces, e.g. ``"grad_cam"`` or
            ``"grad_cam/conv3"``. A trailing ``/`` is ignored.
        images: Model inputs ``(N, H, W, C)`` (``C`` in 1, 3) or ``(N, H, W)``.
        maps: The explainer's maps ``(N, h, w)`` for those inputs.
        step: Summary step (e.g. the epoch); None uses the default step.
        labels: Optional label per image (class index or name); listed in the tags'
            description as ``sample i: label``.
        description: Optional Markdown shown with each tag.
        max_outputs: Only the first ``max_outputs`` samples are rendered and written.
            Defaults to 8.
        colormap, alpha, value_range, scale: As in :func:`explanation_images`.
        with_inputs: Also write ``<tag_prefix>/input``. A callback explaining fixed
            inputs writes them once, not at every step.
        input_pictures: ``images`` already drawn (:func:`input_pictures` with the same
            ``value_range`` and ``scale``), so fixed inputs are drawn once, not per step.

    Returns:
        The tags written, in the order input, heatmap, overlay.

    Raises:
        TypeError: If ``writer`` is not a summary writer or an argument has the wrong type.
        ValueError: If ``tag_prefix`` is empty or has spaces, ``labels`` has the wrong
            length, or :func:`explanation_images` rejects the arrays.
    """
    if not isinstance(writer, tf.summary.SummaryWriter):
        raise TypeError(
            "`writer` must be a tf.summary.SummaryWriter, e.g. from "
            f"keras_viz.tensorboard.run_writer(log_dir); received writer={writer!r}."
        )
    prefix = _check_tag(tag_prefix, "tag_prefix").rstrip("/")
    _check_tag(prefix, "tag_prefix")  # a prefix of only slashes is empty once stripped
    max_outputs = _check_positive_int(max_outputs, "max_outputs")
    batch = _as_image_batch(images)
    raw_maps = _as_map_batch(maps, len(batch))
    if labels is not None:
        if isinstance(labels, str):
            raise TypeError(
                f"`labels` must be a sequence with one label per image; received labels={labels!r}."
            )
        labels = list(labels)
        if len(labels) != len(batch):
            raise ValueError(
                f"`labels` must hold one label per image: received {len(labels)} labels for "
                f"{len(batch)} images."
            )

    shown = slice(0, min(max_outputs, len(batch)))
    drawn = None if input_pictures is None else np.asarray(input_pictures)[shown]
    if drawn is None and with_inputs:
        drawn = _input_pictures(batch[shown], value_range, _check_scale(scale))
    heatmaps, overlays = explanation_images(
        batch[shown],
        raw_maps[shown],
        colormap=colormap,
        alpha=alpha,
        value_range=value_range,
        scale=scale,
        input_pictures=drawn,
    )
    inputs = drawn if with_inputs else None
    text = _describe(description, labels[shown] if labels is not None else None)

    written = [(f"{prefix}/input", inputs), (f"{prefix}/heatmap", heatmaps), (f"{prefix}/overlay", overlays)]
    written = [(tag, pictures) for tag, pictures in written if pictures is not None]
    tags = [tag for tag, _ in written]
    with writer.as_default():
        for tag, pictures in written:
            image_summary(tag, pictures, step=step, max_outputs=max_outputs, description=text)
    writer.flush()
    return tags


def _describe(description: str | None, labels: Sequence[Any] | None) -> str | None:
    """The Markdown description of a tag: the caller's text, then one line per sample."""
    parts = [description] if description else []
    if labels is not None:
        lines = [f"sample {i}: {_label_text(label)}" for i, label in enumerate(labels)]
        parts.append("  \n".join(lines))  # two trailing spaces: a Markdown line break
    return "\n\n".join(parts) if parts else None


def _label_text(label: Any) -> str:
    """NumPy scalars print as plain numbers (``3``, not ``np.int64(3)``)."""
    return str(label.item() if isinstance(label, np.generic) else label)
