"""An Embedding Projector export that TensorBoard really loads.

Keras 3's ``TensorBoard(embeddings_freq=...)`` writes nothing the projector can read
(keras-team/keras#20210); this module writes the files of TensorBoard's projector plugin
itself (SPEC §3, checked against TensorBoard 2.21's ``projector_plugin.py`` and its web
front end):

* every export gets its own run directory (the plugin re-reads configurations only when
  the set of runs changes), holding an event file (so it is a run at all) and
  ``projector_config.pbtxt``;
* the tensor is a TensorFlow checkpoint (named after the embedding, found through the
  run's ``checkpoint`` file with a relative path, so the log directory can be moved) or
  a TSV file;
* metadata: one column without header, several columns with a header row; the front end
  splits rows on ``\\n``, columns on tab and drops blank lines, so tabs, newlines,
  carriage returns, other control characters and Unicode line separators are escaped
  (``\\t``, ``\\n``, ``\\r``, ``\\uXXXX``; a backslash becomes ``\\\\``) and a blank row
  gets a visible placeholder;
* sprites: one square grid of thumbnails at most 8192 x 8192 pixels (the front end
  refuses larger sprites), thumbnails shrunk to fit.

All paths in the configuration are relative to the run directory.
"""

from __future__ import annotations

import datetime
import io
import math
import os
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from keras_viz._checks import check_int

__all__ = ["MAX_SPRITE_SIZE", "escape_label", "export_projector", "sprite_layout"]

MAX_SPRITE_SIZE = 8192
"""Largest sprite side, in pixels, that TensorBoard's projector accepts."""

BLANK = "(blank)"
"""Written for a metadata row whose every cell is empty or white space (the front end drops
blank lines, which would shift every later row)."""

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape_label(value: Any, *, ascii_only: bool = False) -> str:
    """One metadata cell: ``str(value)`` with the characters that would break a row escaped.

    Tab, newline and carriage return become ``\\t``, ``\\n``, ``\\r``; other control
    characters and line/paragraph separators (U+0085, U+2028, U+2029) become ``\\uXXXX``;
    a backslash becomes ``\\\\`` so the escaping can be undone. Other text, non-ASCII
    included, is kept as UTF-8 unless ``ascii_only``.
    """
    text = value.item() if isinstance(value, np.generic) else value
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif unicodedata.category(char) in ("Cc", "Zl", "Zp") or (ascii_only and ord(char) > 127):
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


# --------------------------------------------------------------------------- validation


def _check_embeddings(embeddings: Any) -> np.ndarray:
    try:
        array = np.asarray(embeddings)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`embeddings` could not be read as an array: {error}") from error
    if array.dtype.kind not in "fiub":
        raise TypeError(f"`embeddings` must be numeric; received dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(
            f"`embeddings` must be a 2-D (points, dimensions) array; received shape {array.shape}. "
            f"Flatten or pool layer outputs first (kv.embeddings does)."
        )
    return array


def _columns(metadata: Any, count: int) -> dict[str, list[Any]] | None:
    """Metadata as ``{column: values}`` (one unnamed column for a plain list)."""
    if metadata is None:
        return None
    if isinstance(metadata, Mapping):
        if not metadata:
            raise ValueError("`metadata` is an empty dict; give at least one column.")
        columns = {str(name): _column(values, f"metadata[{name!r}]") for name, values in metadata.items()}
    else:
        columns = {"": _column(metadata, "metadata")}
    for name, values in columns.items():
        if len(values) != count:
            where = f"column {name!r} of `metadata`" if name else "`metadata`"
            raise ValueError(
                f"{where} has {len(values)} rows but `embeddings` has {count} points; the "
                f"projector needs exactly one metadata row per point."
            )
    return columns


def _column(values: Any, name: str) -> list[Any]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"`{name}` must be a sequence with one value per point; received {type(values).__name__}")
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise ValueError(f"`{name}` must hold one value per point (1-D); received shape {values.shape}")
    return list(values)


def _metadata_text(columns: dict[str, list[Any]], ascii_only: bool) -> str:
    names = list(columns)
    rows = []
    if len(names) > 1 or names[0]:
        if len(names) == 1:  # one named column: the projector wants no header then
            names = [""]
        else:
            rows.append("\t".join(escape_label(name, ascii_only=ascii_only) or BLANK for name in names))
    for cells in zip(*columns.values()):
        escaped = [escape_label(cell, ascii_only=ascii_only) for cell in cells]
        if not "".join(escaped).strip():
            escaped[0] = BLANK
        rows.append("\t".join(escaped))
    return "\n".join(rows) + "\n"


# --------------------------------------------------------------------------- sprites


def sprite_layout(count: int, image_size: Sequence[int], thumbnail_size: int | None = None) -> tuple[int, tuple[int, int]]:
    """``(grid side, (thumbnail height, width))`` of a sprite of ``count`` thumbnails.

    The grid is square (``ceil(sqrt(count))`` per side, as the projector expects);
    thumbnails keep the images' aspect ratio, are never enlarged past ``thumbnail_size``
    (default: the image size) and shrink so that the sprite fits in
    :data:`MAX_SPRITE_SIZE` pixels.

    Raises:
        ValueError: so many points that thumbnails would be smaller than 1 pixel.
    """
    side = max(1, math.ceil(math.sqrt(count)))
    if side > MAX_SPRITE_SIZE:
        raise ValueError(
            f"{count} points cannot share one sprite: a {side}x{side} grid in "
            f"{MAX_SPRITE_SIZE}x{MAX_SPRITE_SIZE} pixels leaves thumbnails smaller than 1 "
            f"pixel. Export at most {MAX_SPRITE_SIZE ** 2} points with images, or none."
        )
    height, width = (int(n) for n in image_size)
    longest = max(height, width)
    limit = longest if thumbnail_size is None else int(thumbnail_size)
    scale = min(limit, MAX_SPRITE_SIZE // side) / longest
    return side, (max(1, int(height * scale)), max(1, int(width * scale)))


def _sprite(images: Any, count: int, thumbnail_size: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    array = np.asarray(images) if not isinstance(images, np.ndarray) else images
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"`images` must be (N, H, W, C) with C in 1, 3, 4 (or (N, H, W)); received shape {np.shape(images)}")
    if array.shape[0] != count:
        raise ValueError(f"`images` has {array.shape[0]} images but `embeddings` has {count} points.")
    if thumbnail_size is not None:
        thumbnail_size = check_int(thumbnail_size, "thumbnail_size")
    side, (th, tw) = sprite_layout(count, array.shape[1:3], thumbnail_size)
    if array.dtype.kind == "f":
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        if not np.isfinite(array).all():
            raise ValueError("`images` holds NaN or infinite values.")
        if low < 0.0 or high > 1.0:  # not [0, 1]: scale the whole set (one shared range)
            array = (array - low) / max(high - low, 1e-12)
        array = np.round(array * 255.0).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    channels = array.shape[-1]
    if array.shape[1:3] != (th, tw):
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        method = Image.Resampling.BILINEAR if min(th, tw) < 8 else Image.Resampling.LANCZOS
        array = np.stack(
            [np.asarray(Image.fromarray(a[..., 0] if channels == 1 else a, mode).resize((tw, th), method)) for a in array]
        ).reshape(count, th, tw, channels)
    if channels == 1:
        array = np.repeat(array, 3, axis=-1)
    tiles = np.zeros((side * side, th, tw, array.shape[-1]), np.uint8)
    tiles[:count] = array
    sheet = tiles.reshape(side, side, th, tw, -1).transpose(0, 2, 1, 3, 4).reshape(side * th, side * tw, -1)
    return sheet, (th, tw)


# --------------------------------------------------------------------------- the export


def _new_run(log_dir: str, run: str | None, name: str) -> str:
    import tensorflow as tf  # tf.io.gfile: log_dir may be gs://, s3://, hdfs://...

    if run is not None:
        if not isinstance(run, str) or not run or os.path.isabs(run) or ".." in run.replace("\\", "/").split("/"):
            raise ValueError(f"`run` must be a relative run name inside `log_dir`; received run={run!r}")
        path = os.path.join(log_dir, run)
        if tf.io.gfile.exists(os.path.join(path, "projector_config.pbtxt")):
            raise ValueError(
                f"`run`={run!r} already holds a projector export; TensorBoard re-reads a "
                f"configuration only when the set of runs changes, so each export needs a new run."
            )
        return path
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"projector_{_safe(name)}_{stamp}"
    for attempt in range(10_000):
        path = os.path.join(log_dir, base if attempt == 0 else f"{base}_{attempt}")
        if not tf.io.gfile.exists(path):
            tf.io.gfile.makedirs(path)
            return path
    raise RuntimeError(f"Could not create a new run directory under {log_dir}")


def _write_text(path: str, text: str) -> None:
    """Writes UTF-8 text through ``tf.io.gfile`` (any filesystem TensorFlow reads)."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(text.encode("utf-8"))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def export_projector(
    log_dir: str | os.PathLike[str],
    embeddings: Any,
    *,
    metadata: Any = None,
    images: Any = None,
    run: str | None = None,
    name: str = "embedding",
    tensor_format: str = "checkpoint",
    thumbnail_size: int | None = None,
    ascii_metadata: bool = False,
    description: str | None = None,
) -> str:
    """Writes an Embedding Projector export that TensorBoard's projector loads.

    Args:
        log_dir: the log directory TensorBoard serves (``tensorboard --logdir log_dir``).
        embeddings: ``(N, D)`` points, e.g. ``kv.embeddings(model, x, "features")``.
        metadata: one label per point (a list: one column, no header), or a dict
            ``{column: values}`` (several columns with a header row). Values are written
            with ``str``; tabs, newlines and other row-breaking characters are escaped.
        images: optional ``(N, H, W, C)`` thumbnails (C in 1, 3, 4; uint8, or float in
            ``[0, 1]`` -- other float ranges are scaled as one set) for the sprite.
        run: run directory name; default ``projector_<name>_<time>`` (a new run each
            time, as the plugin only notices new runs).
        name: the tensor's name in the projector.
        tensor_format: ``"checkpoint"`` (default; fast and compact) or ``"tsv"``.
        thumbnail_size: largest thumbnail side in pixels (default: the image size,
            shrunk so the sprite stays within 8192 x 8192).
        ascii_metadata: also escape non-ASCII characters (``\\uXXXX``).
        description: optional Markdown written as a text summary into the run.

    Returns:
        The run directory written.

    Raises:
        ValueError, TypeError: a non-2-D or non-finite tensor, metadata or images whose
            count differs from the number of points, too many points for one sprite,
            an existing export in ``run``.

    Example:
        >>> codes = kv.embeddings(model, x_test, "gap")
        >>> kv.tensorboard.export_projector("logs", codes, metadata={"label": y_test,
        ...     "prediction": pred}, images=x_test)
    """
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    if not isinstance(log_dir, (str, os.PathLike)):
        raise TypeError(f"`log_dir` must be a path; received log_dir={log_dir!r}")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "\t\n\r"):
        raise ValueError(f"`name` must be a non-empty single-line string; received name={name!r}")
    if tensor_format not in ("checkpoint", "tsv"):
        raise ValueError(f"`tensor_format` must be 'checkpoint' or 'tsv'; received {tensor_format!r}")
    tensor = _check_embeddings(embeddings)
    count = len(tensor)
    columns = _columns(metadata, count)
    if images is not None:
        sprite_layout(count, (1, 1))  # too many points for a sprite: fail before any work
    tensor = tensor.astype(np.float32, copy=False)
    if not np.isfinite(tensor).all():
        raise ValueError("`embeddings` holds NaN or infinite values.")
    sprite = _sprite(images, count, thumbnail_size) if images is not None else None

    run_dir = _new_run(os.fspath(log_dir), run, name)
    tf.io.gfile.makedirs(run_dir)
    config = projector_config_pb2.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = name
    if tensor_format == "checkpoint":
        prefix = os.path.join(run_dir, "embedding.ckpt")
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=[name], shape_and_slices=[""], tensors=[tf.constant(tensor)])
        # The plugin finds the checkpoint through this file; a relative path keeps the
        # log directory movable.
        _write_text(
            os.path.join(run_dir, "checkpoint"),
            'model_checkpoint_path: "embedding.ckpt"\nall_model_checkpoint_paths: "embedding.ckpt"\n',
        )
    else:
        buffer = io.StringIO()
        np.savetxt(buffer, tensor, delimiter="\t", fmt="%.9g")
        _write_text(os.path.join(run_dir, "tensor.tsv"), buffer.getvalue())
        embedding.tensor_path = "tensor.tsv"
        embedding.tensor_shape.extend(tensor.shape)
    if columns is not None:
        _write_text(os.path.join(run_dir, "metadata.tsv"), _metadata_text(columns, ascii_metadata))
        embedding.metadata_path = "metadata.tsv"
    if sprite is not None:
        sheet, (th, tw) = sprite
        png = io.BytesIO()
        Image.fromarray(sheet).save(png, format="PNG", optimize=False, compress_level=1)
        with tf.io.gfile.GFile(os.path.join(run_dir, "sprite.png"), "wb") as handle:
            handle.write(png.getvalue())
        embedding.sprite.image_path = "sprite.png"
        embedding.sprite.single_image_dim.extend([tw, th])
    _write_text(os.path.join(run_dir, "projector_config.pbtxt"), text_format.MessageToString(config))
    _write_event_file(tf, run_dir, name, count, tensor.shape[1], columns, description)
    return run_dir


def _write_event_file(tf, run_dir, name, count, dims, columns, description) -> None:
    """An event file makes the directory a run; its text summary says what was exported."""
    lines = [f"Embedding Projector export `{name}`: {count} points x {dims} dimensions."]
    if columns:
        lines.append("Metadata columns: " + ", ".join(f"`{c}`" for c in columns if c) if any(columns) else "One metadata column.")
    if description:
        lines.append(description)
    writer = tf.summary.create_file_writer(run_dir)
    try:
        with writer.as_default(), tf.summary.record_if(True):
            tf.summary.text("projector/export", "\n\n".join(lines), step=0)
    finally:
        writer.flush()
        writer.close()
