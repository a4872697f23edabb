"""Demo data that needs no download: digits, generated shapes and two photographs.

These machines have no internet, so ``keras.datasets`` and pretrained weights are out of reach.
Everything here comes from files that ship with scikit-learn or is generated from a seed:

* :func:`load_digits` -- scikit-learn's 1797 handwritten 8x8 digits, upsampled bilinearly.
* :func:`make_shapes` -- one filled shape (circle, square, triangle, cross, ring) on a textured,
  noisy background, with the exact ground-truth mask of the object. The class can only be read
  from the outline: colours, background and object size are drawn independently of the class, so a
  model that classifies them must look at the object, and tests can measure whether an explanation
  map points at it (for example the fraction of heatmap energy inside the mask). With
  ``watermark=p`` a class-specific corner tab is added to a fraction ``p`` of the images: a
  *confound* with its own ground-truth mask (``ShapesData.watermark_masks``).
* :func:`load_sample_photos` -- scikit-learn's two sample photographs (``china``, ``flower``).

All images are ``float32`` in ``[0, 1]``, channels last. Only NumPy, scikit-learn and Pillow are used.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = [
    "DIGIT_CLASS_NAMES",
    "PHOTO_NAMES",
    "SHAPE_KINDS",
    "ShapesData",
    "load_digits",
    "load_sample_photos",
    "make_shapes",
    "resize_bilinear",
]

DIGIT_CLASS_NAMES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
"""Class names of :func:`load_digits`: ``("0", "1", ..., "9")``; label ``k`` is digit ``k``."""

PHOTO_NAMES: tuple[str, ...] = ("china", "flower")
"""Names of the photographs returned by :func:`load_sample_photos`, in order."""

SHAPE_KINDS: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring")
"""Every shape kind :func:`make_shapes` can draw."""

# Object area as a fraction of the image area. Targets are drawn from the inner range and the drawn
# (pixelated) mask is redrawn until it falls inside the outer range, for every class alike, so size
# says nothing about the class.
_TARGET_AREA_RANGE = (0.12, 0.30)
_AREA_BOUNDS = (0.10, 0.35)
# Thickness of the cross arms relative to its span, and inner/outer radius of the ring.
_CROSS_ARM_RATIO = 1.0 / 3.0
_RING_INNER_RATIO = 0.6
# Colour of the object against the background under it (Euclidean RGB distance, max sqrt(3)).
_MIN_MEAN_CONTRAST = 0.45
_MIN_PIXEL_CONTRAST = 0.25
_COLOUR_CANDIDATES = 64
_MAX_PLACEMENT_TRIES = 100


# Watermark (the confound of make_shapes): a square tab in a corner chosen by the label, in a colour
# chosen by the label. Corners in label order: top-left, top-right, bottom-left, bottom-right,
# then again (a fifth class differs from the first by its colour only).
_WATERMARK_SIDE_RATIO = 0.1  # side of the tab / image size (at least 2 px)
_WATERMARK_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))  # (bottom?, right?)
_WATERMARK_COLOURS = (
    (1.0, 0.1, 0.1),
    (0.1, 0.9, 0.1),
    (0.1, 0.3, 1.0),
    (1.0, 0.9, 0.1),
    (0.9, 0.1, 0.9),
)

# ----------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    """Whether ``value`` is a Python or NumPy integer (``bool`` excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an ``int`` or raise a ``ValueError`` naming ``name``."""
    if not _is_int(value) or int(value) < minimum:  # type: ignore[call-overload]
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}."
        )
    return int(value)  # type: ignore[call-overload]


# ----------------------------------------------------------------------------------------------
# Resizing (pure NumPy)
# ----------------------------------------------------------------------------------------------


def _bilinear_weights(in_size: int, out_size: int) -> npt.NDArray[np.float64]:
    """Matrix ``W`` of shape ``(out_size, in_size)`` such that ``W @ signal`` resamples linearly.

    Pixel centres are aligned (half-pixel convention, as in Pillow and ``tf.image.resize``) and
    samples beyond the border are clamped to the edge pixel. Meant for upsampling: when
    downsampling it does not low-pass filter first.
    """
    centres = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    centres = np.clip(centres, 0.0, in_size - 1)
    left = np.floor(centres).astype(int)
    right = np.minimum(left + 1, in_size - 1)
    frac = centres - left
    weights = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(weights, (rows, left), 1.0 - frac)
    np.add.at(weights, (rows, right), frac)
    return weights


def resize_bilinear(images: npt.ArrayLike, size: int | tuple[int, int]) -> npt.NDArray[np.float32]:
    """Resize a batch of images with bilinear interpolation (pixel centres aligned).

    Intended for upsampling small images (it does not anti-alias when shrinking). The result is a
    convex combination of input pixels, so value ranges are preserved.

    Args:
        images: Array of shape ``(N, H, W)`` or ``(N, H, W, C)``.
        size: Output ``(height, width)``, or one int for a square output.

    Returns:
        ``float32`` array of shape ``(N, height, width)`` or ``(N, height, width, C)``.

    Raises:
        ValueError: If ``images`` is not 3-D or 4-D, or ``size`` is not a positive int or pair.
    """
    array = np.asarray(images, dtype=np.float64)
    if array.ndim not in (3, 4):
        raise ValueError(
            "`images` must have shape (N, H, W) or (N, H, W, C). "
            f"Received: images.shape={array.shape}."
        )
    height, width = (size, size) if _is_int(size) else tuple(size)  # type: ignore[arg-type]
    if not (_is_int(height) and _is_int(width) and height >= 1 and width >= 1):
        raise ValueError(
            f"`size` must be a positive int or a pair of positive ints. Received: size={size!r}."
        )
    rows = _bilinear_weights(array.shape[1], int(height))
    cols = _bilinear_weights(array.shape[2], int(width))
    if array.ndim == 3:
        return (rows @ array @ cols.T).astype(np.float32)
    channels_first = np.moveaxis(array, -1, 1)  # (N, C, H, W): matmul acts on the last two axes
    return np.moveaxis(rows @ channels_first @ cols.T, 1, -1).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Digits
# ----------------------------------------------------------------------------------------------


def load_digits(
    size: int = 32,
    *,
    channels: int = 1,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> tuple[
    tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]],
    tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]],
]:
    """Load scikit-learn's handwritten digits, upsampled, as a shuffled train/test split.

    The 1797 greyscale 8x8 images (values 0..16) are divided by 16 and resized to
    ``size x size`` with :func:`resize_bilinear`. The split is a plain (not stratified) random
    permutation from ``np.random.default_rng(seed)``: ``round(test_fraction * 1797)`` images go to
    the test set (359 with the default), the rest to the training set.

    Args:
        size: Output height and width in pixels, an int >= 8. ``8`` returns the original pixels.
        channels: ``1`` for greyscale, ``3`` to replicate the grey values into RGB.
        seed: Seed of the shuffle; the same seed gives the same split.
        test_fraction: Fraction of the images in the test set, strictly between 0 and 1.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: images ``float32`` in ``[0, 1]`` of shape
        ``(N, size, size, channels)`` and labels ``int64`` in ``0..9`` (see
        :data:`DIGIT_CLASS_NAMES`).

    Raises:
        ValueError: If ``size``, ``channels`` or ``test_fraction`` is out of range.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_digits(32, channels=3)
        >>> x_train.shape, x_test.shape
        ((1438, 32, 32, 3), (359, 32, 32, 3))
    """
    from sklearn.datasets import load_digits as _sklearn_load_digits  # slow import, done on use

    size = _check_int("size", size, 8)
    if not _is_int(channels) or channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels!r}.")
    digits = _sklearn_load_digits()
    count = len(digits.target)
    n_test = _split_size(test_fraction, count)

    images = np.clip(resize_bilinear(digits.images / 16.0, size), 0.0, 1.0)[..., np.newaxis]
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    labels = digits.target.astype(np.int64)

    order = np.random.default_rng(seed).permutation(count)
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


def _split_size(test_fraction: float, count: int) -> int:
    """Number of test samples for ``test_fraction`` of ``count``; both splits must be non-empty."""
    valid = isinstance(test_fraction, (float, int, np.floating)) and not isinstance(
        test_fraction, bool
    )
    n_test = int(round(float(test_fraction) * count)) if valid and 0 < test_fraction < 1 else 0
    if not 1 <= n_test <= count - 1:
        raise ValueError(
            "`test_fraction` must be a number strictly between 0 and 1 that leaves at least one "
            f"sample in each of the {count} samples' splits. Received: test_fraction={test_fraction!r}."
        )
    return n_test


# ----------------------------------------------------------------------------------------------
# Generated shapes
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class ShapesData:
    """Images of one filled shape each, with labels and exact object masks.

    Attributes:
        images: ``float32`` array ``(n, size, size, 3)`` in ``[0, 1]``.
        labels: ``int64`` array ``(n,)``; ``labels[i]`` indexes ``class_names``.
        masks: ``bool`` array ``(n, size, size)``; ``True`` exactly on the pixels of the shape.
        class_names: The shape kind of each label, in label order.
        watermark_masks: ``bool`` array ``(n, size, size)``; ``True`` on the pixels of the
            class-specific watermark (``make_shapes(..., watermark=p)``), all ``False`` for
            images without one. Defaults to no watermark anywhere.
    """

    images: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    masks: npt.NDArray[np.bool_]
    class_names: tuple[str, ...]
    watermark_masks: npt.NDArray[np.bool_] = None  # type: ignore[assignment]  # filled in below

    def __post_init__(self) -> None:
        if self.watermark_masks is None:  # frozen: set the default through object.__setattr__
            object.__setattr__(self, "watermark_masks", np.zeros_like(self.masks, dtype=bool))

    def __len__(self) -> int:
        """Number of images."""
        return len(self.labels)


def make_shapes(
    n: int,
    *,
    size: int = 64,
    seed: int = 0,
    classes: Sequence[str] = ("circle", "square", "triangle"),
    noise: float = 0.1,
    watermark: float = 0.0,
) -> ShapesData:
    """Generate RGB images of one coloured shape on a textured background, with exact masks.

    Each image has a background made of a random base colour, a linear colour gradient, colour
    stripes of random frequency and orientation and smooth low-frequency colour noise. One shape
    of a random kind from ``classes`` is drawn on it: uniformly random colour chosen to contrast
    with the background under it, random position, object area between 10% and 35% of the image
    (drawn from the same distribution for every class), never touching the border. Squares and
    crosses are axis-aligned and triangles are equilateral, apex up. Finally per-pixel Gaussian
    noise of standard deviation ``noise`` is added everywhere and values are clipped to ``[0, 1]``.

    Colours, background and size are independent of the class: only the outline tells the class.

    **Watermark (a confound).** With ``watermark=p`` each image independently, with probability
    ``p``, also carries a small class-specific mark: a square tab (side ``max(2, round(size/10))``
    pixels) in the image corner of its label (label 0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right, 4 top-left again) and in a saturated colour of its label, drawn before the
    noise. ``ShapesData.watermark_masks`` says where; the tab hides any part of the shape under
    it, and those pixels leave ``masks``. With ``p = 1`` the mark alone predicts the label, as the
    cloudy sky predicted the tank: a model trained on such data can learn the mark instead of the
    shape. Train on ``watermark=1`` and test on ``watermark=0`` (clean) data to expose it, or ask
    an explanation method whether it points at ``watermark_masks`` -- a ready benchmark for your
    own explanation methods. The mark is drawn from its own random stream, so for the same
    ``seed`` everything else (shapes, colours, backgrounds, noise, labels) is identical for
    every ``p``, and ``watermark=0`` gives exactly the data of earlier versions.

    Args:
        n: Number of images, an int >= 1.
        size: Height and width in pixels, an int >= 16.
        seed: Seed of ``np.random.default_rng``; the same arguments give the same data.
        classes: Shape kinds to draw, in label order; a non-empty subset of :data:`SHAPE_KINDS`
            (``"circle"``, ``"square"``, ``"triangle"``, ``"cross"``, ``"ring"``) without repeats.
            A ring's hole shows the background and is not part of its mask.
        noise: Standard deviation of the per-pixel noise, a finite number >= 0.
        watermark: Probability ``p`` in ``[0, 1]`` that an image carries its class's watermark
            (see above). Defaults to 0 (no watermark).

    Returns:
        A :class:`ShapesData` with ``images`` ``(n, size, size, 3)`` ``float32``, ``labels``
        ``(n,)`` ``int64`` balanced across classes (counts differ by at most one, order shuffled),
        ``masks`` ``(n, size, size)`` ``bool``, ``class_names`` equal to ``tuple(classes)`` and
        ``watermark_masks`` ``(n, size, size)`` ``bool``.

    Raises:
        ValueError: If ``n``, ``size``, ``noise`` or ``watermark`` is out of range, or
            ``classes`` is empty, repeats a kind or names an unsupported kind.

    Example:
        >>> data = make_shapes(6, size=32, classes=("circle", "triangle"))
        >>> data.images.shape, data.class_names
        ((6, 32, 32, 3), ('circle', 'triangle'))
    """
    n = _check_int("n", n, 1)
    size = _check_int("size", size, 16)
    class_names = _check_classes(classes)
    if not isinstance(noise, (int, float, np.integer, np.floating)) or isinstance(noise, bool) or (
        not math.isfinite(noise) or noise < 0
    ):
        raise ValueError(f"`noise` must be a finite number >= 0. Received: noise={noise!r}.")
    marked = _watermarked(watermark, n, seed)

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(class_names)).astype(np.int64)
    images = np.empty((n, size, size, 3), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=bool)
    watermark_masks = np.zeros((n, size, size), dtype=bool)
    for index, label in enumerate(labels):
        background = _textured_background(rng, size)
        mask = _random_shape_mask(rng, class_names[label], size)
        colour = _contrasting_colour(rng, background[mask])
        image = np.where(mask[..., np.newaxis], colour, background)
        if marked[index]:  # no draw from `rng` here: the rest of the data stays the same
            tab = _watermark_mask(int(label), size)
            image = np.where(tab[..., np.newaxis], _WATERMARK_COLOURS[label], image)
            mask = mask & ~tab
            watermark_masks[index] = tab
        image = image + rng.normal(0.0, float(noise), image.shape)
        images[index] = np.clip(image, 0.0, 1.0)
        masks[index] = mask
    return ShapesData(
        images=images,
        labels=labels,
        masks=masks,
        class_names=class_names,
        watermark_masks=watermark_masks,
    )


def _watermarked(watermark: float, n: int, seed: int | None) -> npt.NDArray[np.bool_]:
    """Which of ``n`` images carry the watermark, drawn from a stream of their own.

    The stream is a child of ``seed``'s ``SeedSequence``, independent of the one that draws the
    images, so the images are the same for every ``watermark`` (and nothing is drawn for 0 or 1).
    """
    valid = isinstance(watermark, (int, float, np.integer, np.floating)) and not isinstance(
        watermark, (bool, np.bool_)
    )
    if not valid or not 0.0 <= float(watermark) <= 1.0:  # also refuses NaN
        raise ValueError(
            f"`watermark` must be a probability in [0, 1]. Received: watermark={watermark!r}."
        )
    probability = float(watermark)
    if probability in (0.0, 1.0):
        return np.full(n, probability == 1.0)
    child = np.random.SeedSequence(seed).spawn(1)[0]
    return np.random.default_rng(child).random(n) < probability


def _watermark_mask(label: int, size: int) -> npt.NDArray[np.bool_]:
    """The ``(size, size)`` mask of the watermark tab of ``label`` (see :func:`make_shapes`)."""
    side = max(2, int(round(size * _WATERMARK_SIDE_RATIO)))
    bottom, right = _WATERMARK_CORNERS[label % len(_WATERMARK_CORNERS)]
    rows = slice(size - side, size) if bottom else slice(0, side)
    cols = slice(size - side, size) if right else slice(0, side)
    tab = np.zeros((size, size), dtype=bool)
    tab[rows, cols] = True
    return tab


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    """Validate the ``classes`` argument of :func:`make_shapes` and return it as a tuple."""
    supported = ", ".join(SHAPE_KINDS)
    if isinstance(classes, str):
        raise ValueError(
            "`classes` must be a sequence of shape kinds, not a single string; "
            f"for example classes=({classes!r},). Received: classes={classes!r}."
        )
    names = tuple(classes)
    if not names:
        raise ValueError(
            f"`classes` must name at least one shape kind from: {supported}. "
            f"Received: classes={classes!r}."
        )
    unknown = [name for name in names if name not in SHAPE_KINDS]
    if unknown:
        raise ValueError(
            f"Unknown shape kind {unknown[0]!r} in `classes`. Supported kinds: {supported}. "
            f"Received: classes={classes!r}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"`classes` must not repeat a kind. Received: classes={classes!r}.")
    return names


def _pixel_grid(size: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Row and column coordinates of the pixel centres, ``(size, size)`` each."""
    centres = np.arange(size) + 0.5
    return np.meshgrid(centres, centres, indexing="ij")


def _textured_background(rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
    """Random ``(size, size, 3)`` background: base colour, gradient, stripes and smooth noise."""
    rows, cols = _pixel_grid(size)
    y, x = rows / size - 0.5, cols / size - 0.5  # in [-0.5, 0.5]

    base = rng.uniform(0.25, 0.75, size=3)
    gradient_angle = rng.uniform(0.0, 2.0 * np.pi)
    gradient = np.cos(gradient_angle) * x + np.sin(gradient_angle) * y
    gradient_colour = rng.uniform(-0.3, 0.3, size=3)

    stripe_angle = rng.uniform(0.0, np.pi)
    stripe_cycles = rng.uniform(2.0, 6.0)  # per image width
    stripe_phase = rng.uniform(0.0, 2.0 * np.pi)
    stripes = np.sin(
        2.0 * np.pi * stripe_cycles * (np.cos(stripe_angle) * x + np.sin(stripe_angle) * y)
        + stripe_phase
    )
    stripe_colour = rng.uniform(-0.08, 0.08, size=3)

    coarse = rng.normal(0.0, 0.06, size=(1, 4, 4, 3))
    smooth_noise = resize_bilinear(coarse, size)[0].astype(np.float64)

    return (
        base
        + gradient[..., np.newaxis] * gradient_colour
        + stripes[..., np.newaxis] * stripe_colour
        + smooth_noise
    )


def _random_shape_mask(
    rng: np.random.Generator, kind: str, size: int
) -> npt.NDArray[np.bool_]:
    """Mask of one shape of ``kind`` at a random position whose area is within the bounds.

    Redraws until the pixelated area lies in ``_AREA_BOUNDS`` (rarely needed, only for small
    images); the last draw is returned if none does, which cannot happen for ``size >= 16``.
    """
    rows, cols = _pixel_grid(size)
    low, high = _AREA_BOUNDS
    mask = np.zeros((size, size), dtype=bool)
    for _ in range(_MAX_PLACEMENT_TRIES):
        area = rng.uniform(*_TARGET_AREA_RANGE) * size * size
        half_height, half_width = _shape_half_extent(kind, area)
        # One pixel of margin keeps the shape clear of the border.
        centre_row = rng.uniform(1.0 + half_height, size - 1.0 - half_height)
        centre_col = rng.uniform(1.0 + half_width, size - 1.0 - half_width)
        mask = _shape_mask(kind, rows - centre_row, cols - centre_col, area)
        if low <= mask.mean() <= high:
            return mask
    return mask


def _shape_half_extent(kind: str, area: float) -> tuple[float, float]:
    """Half height and half width of the bounding box of a ``kind`` shape of ``area`` pixels."""
    span = _shape_span(kind, area)
    if kind == "triangle":
        return span * math.sqrt(3.0) / 4.0, span / 2.0
    return span / 2.0, span / 2.0


def _shape_span(kind: str, area: float) -> float:
    """Width of a ``kind`` shape whose area is ``area``: diameter, side, or arm-to-arm span."""
    if kind == "circle":
        return 2.0 * math.sqrt(area / math.pi)
    if kind == "square":
        return math.sqrt(area)
    if kind == "triangle":
        return math.sqrt(4.0 * area / math.sqrt(3.0))
    if kind == "cross":
        arm = _CROSS_ARM_RATIO
        return math.sqrt(area / (2.0 * arm - arm * arm))
    if kind == "ring":
        return 2.0 * math.sqrt(area / (math.pi * (1.0 - _RING_INNER_RATIO**2)))
    raise ValueError(f"Unknown shape kind {kind!r}. Supported kinds: {', '.join(SHAPE_KINDS)}.")


def _shape_mask(
    kind: str, dy: npt.NDArray[np.float64], dx: npt.NDArray[np.float64], area: float
) -> npt.NDArray[np.bool_]:
    """Pixels whose centres, at offsets ``(dy, dx)`` from the shape centre, lie inside the shape.

    The shape is centred on its bounding box and scaled so that its continuous area is ``area``.
    """
    span = _shape_span(kind, area)
    half = span / 2.0
    if kind == "circle":
        return dy**2 + dx**2 <= half**2
    if kind == "square":
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    if kind == "triangle":
        height = span * math.sqrt(3.0) / 2.0
        depth = dy + height / 2.0  # distance below the apex
        return (depth >= 0.0) & (depth <= height) & (np.abs(dx) <= depth / math.sqrt(3.0))
    if kind == "cross":
        arm = half * _CROSS_ARM_RATIO
        horizontal = (np.abs(dy) <= arm) & (np.abs(dx) <= half)
        vertical = (np.abs(dx) <= arm) & (np.abs(dy) <= half)
        return horizontal | vertical
    if kind == "ring":
        radius_sq = dy**2 + dx**2
        return (radius_sq <= half**2) & (radius_sq >= (half * _RING_INNER_RATIO) ** 2)
    raise ValueError(f"Unknown shape kind {kind!r}. Supported kinds: {', '.join(SHAPE_KINDS)}.")


def _contrasting_colour(
    rng: np.random.Generator, background_pixels: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """A uniformly random RGB colour that stands out from ``background_pixels`` ``(k, 3)``.

    Draws a fixed number of candidates (so the random stream does not depend on the outcome) and
    returns the first that is far from the mean background colour and from every background pixel;
    if none is, the candidate farthest from its nearest background pixel.
    """
    candidates = rng.uniform(0.0, 1.0, size=(_COLOUR_CANDIDATES, 3))
    background = np.clip(background_pixels, 0.0, 1.0)
    mean_distance = np.sqrt(((candidates - background.mean(axis=0)) ** 2).sum(axis=1))
    # |c - b|^2 = |c|^2 + |b|^2 - 2 c.b for every candidate/pixel pair, as one matrix product.
    squared = (
        (candidates**2).sum(axis=1)[:, np.newaxis]
        + (background**2).sum(axis=1)[np.newaxis, :]
        - 2.0 * candidates @ background.T
    )
    pixel_distance = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
    good = (mean_distance >= _MIN_MEAN_CONTRAST) & (pixel_distance >= _MIN_PIXEL_CONTRAST)
    choice = int(np.argmax(good)) if good.any() else int(np.argmax(pixel_distance))
    return candidates[choice]


# ----------------------------------------------------------------------------------------------
# Sample photographs
# ----------------------------------------------------------------------------------------------


def load_sample_photos(size: int | None = None) -> npt.NDArray[np.float32]:
    """Load scikit-learn's two sample photographs, ``china`` and ``flower`` (:data:`PHOTO_NAMES`).

    The JPEG files ship inside scikit-learn (no download); Pillow decodes them.

    Args:
        size: ``None`` keeps the original 427x640 pixels. An int >= 1 centre-crops each photo to
            a square and resizes it to ``size x size`` (Pillow bilinear, anti-aliased).

    Returns:
        ``float32`` array in ``[0, 1]`` of shape ``(2, 427, 640, 3)``, or ``(2, size, size, 3)``.

    Raises:
        ValueError: If ``size`` is neither ``None`` nor an int >= 1.
    """
    from sklearn.datasets import load_sample_images  # imported here: scikit-learn is slow to import

    if size is not None:
        size = _check_int("size", size, 1)
    photos = load_sample_images().images  # list of uint8 (H, W, 3)
    if size is not None:
        photos = [_centre_crop_resize(photo, size) for photo in photos]
    return np.stack(photos).astype(np.float32) / np.float32(255.0)


def _centre_crop_resize(photo: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    """Centre-crop ``photo`` ``(H, W, 3)`` to a square and resize it to ``(size, size, 3)``."""
    height, width = photo.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = photo[top : top + side, left : left + side]
    resized = Image.fromarray(square).resize((size, size), resample=Image.Resampling.BILINEAR)
    return np.asarray(resized)
