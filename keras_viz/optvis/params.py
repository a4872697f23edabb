"""Parameterisations: how the optimised images are made from the variables that are learnt.

* :func:`pixel`: the pixels themselves (through a sigmoid into the value range, or clipped).
* :func:`fourier`: a spectrum scaled by ``1/max(f, 1/max(h, w))^decay`` and turned into an
  image by an inverse real FFT, with colours decorrelated by the square root of an RGB
  covariance (Olah et al. 2017, "Feature Visualization", lucid's ``param/spatial.py`` and
  ``param/color.py``). Gradient steps on such a spectrum move every frequency at the same
  rate instead of favouring the high ones, which is what makes pixel-space optimisation
  noisy; decorrelated colours do the same for colour.
* :func:`generator`: a generative prior (Nguyen et al. 2016, "Synthesizing the preferred
  inputs for neurons in neural networks via deep generator networks"): a Keras model maps a
  latent code to an image, and the code is optimised.

Every parameterisation is deterministic given a seed, and initialises the images of one
*replica* index the same way whatever the batch holds, so a batch of K objectives starts
from the same images as K separate runs.

A parameterisation with a *raw* image (pixel, Fourier) exposes it for the projection
regularizers (blur every k steps, clipping of small pixels): the centred image before the
squashing into the value range, whose zero is the middle of the range.
"""

from __future__ import annotations

import abc
import copy
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz.optvis._checks import check_choice, check_number, check_positive

__all__ = [
    "Fourier",
    "Generator",
    "Param",
    "Pixel",
    "colour_covariance_of",
    "fourier",
    "generator",
    "pixel",
    "resolve_param",
]

# Square root of the RGB covariance of ImageNet photos (lucid's ``color_correlation_svd_sqrt``),
# as published: its largest column norm is about 0.462.
IMAGENET_COLOUR_SQRT_RAW = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)


# --------------------------------------------------------------------------- pure maths


def spectrum_frequencies(height: int, width: int) -> np.ndarray:
    """``(height, width // 2 + 1)`` spatial frequencies (cycles per pixel) of ``rfft2d``."""
    fy = np.fft.fftfreq(height)[:, np.newaxis]
    fx = np.fft.rfftfreq(width)[np.newaxis, :]
    return np.sqrt(fx * fx + fy * fy)


def spectrum_scale(height: int, width: int, decay: float = 1.0) -> np.ndarray:
    """``1 / max(f, 1/max(h, w))^decay``, times ``sqrt(h·w)`` so that a unit step in the
    spectrum moves pixels about as much as a unit step on pixels does."""
    frequencies = spectrum_frequencies(height, width)
    scale = 1.0 / np.maximum(frequencies, 1.0 / max(height, width)) ** decay
    return (scale * np.sqrt(height * width)).astype(np.float32)


def covariance_sqrt(covariance: Any) -> np.ndarray:
    """A normalised square root ``M`` (``M Mᵀ ∝ Σ``) of a 3x3 colour covariance.

    The symmetric square root from the eigen-decomposition, divided by its largest column
    norm (as lucid normalises its matrix).
    """
    sigma = np.asarray(covariance, dtype=np.float64)
    if sigma.shape != (3, 3) or not np.all(np.isfinite(sigma)) or not np.allclose(sigma, sigma.T, atol=1e-6):
        raise ValueError(f"`colour_covariance` must be a finite symmetric 3x3 matrix; received shape {sigma.shape}.")
    eigenvalues, vectors = np.linalg.eigh(sigma)
    if eigenvalues.min() <= 0:
        raise ValueError("`colour_covariance` must be positive definite (all eigenvalues > 0).")
    return normalised_colour_sqrt(vectors @ np.diag(np.sqrt(eigenvalues)) @ vectors.T)


def normalised_colour_sqrt(root: Any) -> np.ndarray:
    """A colour square root divided by its largest column norm (lucid's ``max_norm_svd_sqrt``):
    a unit value in any decorrelated channel then becomes an RGB colour of norm at most 1."""
    root = np.asarray(root, dtype=np.float64)
    return (root / np.linalg.norm(root, axis=0).max()).astype(np.float32)


# What the default Fourier parameterisation mixes colours with: lucid's
# ``color_correlation_svd_sqrt / max_norm_svd_sqrt`` (``param/color.py``).
IMAGENET_COLOUR_SQRT = normalised_colour_sqrt(IMAGENET_COLOUR_SQRT_RAW)


def colour_covariance_of(images: Any) -> np.ndarray:
    """The 3x3 RGB covariance of a set of images ``(N, H, W, 3)``, for ``fourier(colour_covariance=)``."""
    pixels = np.asarray(images, dtype=np.float64)
    if pixels.ndim < 2 or pixels.shape[-1] != 3:
        raise ValueError(f"`images` must be RGB images (..., 3); received shape {pixels.shape}.")
    return np.cov(pixels.reshape(-1, 3), rowvar=False)


def reference_scale(reference: np.ndarray, height: int, width: int, like: np.ndarray) -> np.ndarray:
    """The mean amplitude spectrum of ``reference`` images, with the RMS of ``like``.

    Used instead of ``1/f^decay``: the optimised images then get the frequency content of
    the data (upsampled digits are smooth; photographs are close to ``1/f``). The images are
    resized to ``(height, width)``, their mean over the set is removed, and the amplitude is
    averaged over images and channels. The constant term gets the largest amplitude, so the
    mean brightness stays free, and a floor of 1/1000 of the peak keeps every frequency
    learnable.
    """
    images = reference
    if images.shape[1:3] != (height, width):
        images = tf.image.resize(images, (height, width), antialias=True).numpy()
    centred = images - images.mean(axis=(0, 1, 2), keepdims=True)
    amplitude = np.abs(np.fft.rfft2(centred, axes=(1, 2))).mean(axis=(0, 3))
    amplitude[0, 0] = 0.0
    # The mean brightness must stay free (one reference image has no DC left at all).
    amplitude[0, 0] = amplitude.max()
    amplitude = np.maximum(amplitude, 1e-3 * amplitude.max() + 1e-12)
    rms = np.sqrt(np.mean(amplitude**2))
    return (amplitude / rms * np.sqrt(np.mean(like**2))).astype(np.float32)


def squash(raw: tf.Tensor, value_range: tuple[float, float], mode: str) -> tf.Tensor:
    """Maps a centred raw image into ``value_range`` (sigmoid, or clip of ``mid + raw·span``)."""
    low, high = value_range
    if mode == "sigmoid":
        return low + (high - low) * tf.sigmoid(raw)
    return tf.clip_by_value((low + high) / 2.0 + raw * (high - low), low, high)


def unsquash(images: tf.Tensor, value_range: tuple[float, float], mode: str) -> tf.Tensor:
    """The raw image whose :func:`squash` is ``images`` (clipped slightly inside the range)."""
    low, high = value_range
    unit = tf.clip_by_value((tf.cast(images, tf.float32) - low) / (high - low), 1e-3, 1.0 - 1e-3)
    if mode == "sigmoid":
        return tf.math.log(unit / (1.0 - unit))
    return unit - 0.5


def replica_normal(seed: int, replicas: np.ndarray, shape: tuple[int, ...], stddev: float) -> tf.Tensor:
    """Normal noise ``(B, *shape)``: row ``b`` depends only on ``(seed, replicas[b])``."""
    count = int(replicas.max()) + 1
    noise = tf.random.stateless_normal((count, *shape), seed=tf.constant([seed, 7919], tf.int64), stddev=stddev)
    return tf.gather(noise, replicas)


# --------------------------------------------------------------------------- parameterisations


class Param(abc.ABC):
    """How images ``(B, H, W, C)`` in ``value_range`` are made from learnt parameters."""

    name = "param"
    has_raw = False
    #: standard deviation of the noise added to an image whose gradient is exactly zero
    restart_std = 1.0

    def bind(self, height: int, width: int, channels: int, value_range: tuple[float, float]) -> "Param":
        """A copy for one image geometry (the parameterisation itself is not changed)."""
        bound = copy.copy(self)
        bound.height, bound.width, bound.channels = height, width, channels
        bound.value_range = value_range
        return bound

    @abc.abstractmethod
    def init(self, seed: int, replicas: np.ndarray) -> tf.Tensor:
        """Initial parameters for images with the given replica indices."""

    def images(self, params: tf.Tensor) -> tf.Tensor:
        """``(B, H, W, C)`` images in the value range (inside the traced step)."""
        return self.images_from_raw(self.raw(params))

    def raw(self, params: tf.Tensor) -> tf.Tensor:
        """The centred raw image (for projection regularizers)."""
        raise NotImplementedError

    def images_from_raw(self, raw: tf.Tensor) -> tf.Tensor:
        """The images of a raw image."""
        raise NotImplementedError

    def constrain(self, params: tf.Tensor) -> tf.Tensor:
        """Applied after every update (identity unless the parameters are bounded)."""
        return params

    def from_raw(self, raw: tf.Tensor) -> tf.Tensor:
        """Parameters whose raw image is ``raw``."""
        raise NotImplementedError

    def encode(self, images: tf.Tensor) -> tf.Tensor:
        """Parameters whose images are (about) ``images`` (an optimisation started from photos)."""
        raise NotImplementedError(f"The {self.name} parameterisation cannot start from given images.")


class Pixel(Param):
    """Plain pixels. See :func:`pixel`."""

    name = "pixel"
    has_raw = True

    def __init__(self, squash: str = "sigmoid", init_std: float = 0.01):
        self.squash = check_choice(squash, "squash", ("sigmoid", "clip"))
        self.init_std = check_number(init_std, "init_std", minimum=0.0)

    def __repr__(self) -> str:
        return f"optvis.pixel(squash={self.squash!r})"

    def init(self, seed, replicas):
        return replica_normal(seed, replicas, (self.height, self.width, self.channels), self.init_std)

    def raw(self, params):
        return params

    def images_from_raw(self, raw):
        return squash(raw, self.value_range, self.squash)

    def from_raw(self, raw):
        return self.constrain(raw)

    def constrain(self, params):
        return tf.clip_by_value(params, -0.5, 0.5) if self.squash == "clip" else params

    def encode(self, images):
        return unsquash(images, self.value_range, self.squash)


class Fourier(Param):
    """A decorrelated spectrum. See :func:`fourier`."""

    name = "fourier"
    has_raw = True

    def __init__(
        self,
        decay: float = 1.0,
        decorrelate: bool = True,
        colour_covariance: Any = None,
        init_std: float = 0.01,
        reference: Any = None,
    ):
        self.decay = check_number(decay, "decay", minimum=0.0)
        self.decorrelate = bool(decorrelate)
        self.reference = None
        if reference is not None:
            self.reference = np.asarray(reference, dtype=np.float32)
            if self.reference.ndim == 3:
                self.reference = self.reference[np.newaxis]
            if self.reference.ndim != 4 or self.reference.shape[0] == 0 or not np.all(np.isfinite(self.reference)):
                raise ValueError(
                    f"`reference` must be finite images (N, H, W, C); received shape {np.shape(reference)}."
                )
            if colour_covariance is None and self.reference.shape[-1] == 3:
                colour_covariance = colour_covariance_of(self.reference)
        self.colour_sqrt = IMAGENET_COLOUR_SQRT if colour_covariance is None else covariance_sqrt(colour_covariance)
        self.init_std = check_number(init_std, "init_std", minimum=0.0)

    def __repr__(self) -> str:
        source = ", reference=images" if self.reference is not None else ""
        return f"optvis.fourier(decay={self.decay:g}, decorrelate={self.decorrelate}{source})"

    def bind(self, height, width, channels, value_range):
        bound = super().bind(height, width, channels, value_range)
        scale = spectrum_scale(height, width, self.decay)
        if self.reference is not None:
            if self.reference.shape[-1] != channels:
                raise ValueError(
                    f"`reference` images have {self.reference.shape[-1]} channels but the optimised "
                    f"images have {channels}."
                )
            scale = reference_scale(self.reference, height, width, scale)
        bound._scale = tf.constant(scale)
        bound._mix = self.decorrelate and channels == 3
        bound._offset = None
        if self.reference is not None:  # raw 0 is the data's mean colour, not mid-grey
            low, high = value_range
            mean = (self.reference.mean(axis=(0, 1, 2)) - low) / (high - low)
            mean = np.clip(mean, 0.02, 0.98)
            bound._offset = tf.constant(np.log(mean / (1.0 - mean)).astype(np.float32))
        return bound

    def init(self, seed, replicas):
        shape = (2, self.channels, self.height, self.width // 2 + 1)
        return replica_normal(seed, replicas, shape, self.init_std)

    def _decorrelated(self, params):
        # Real products, then one complex tensor: slicing and complex products have slow gradients.
        real, imag = tf.unstack(params, axis=1)
        spectrum = tf.complex(real * self._scale, imag * self._scale)
        image = tf.signal.irfft2d(spectrum, fft_length=[self.height, self.width])  # (B, C, H, W)
        return tf.transpose(image, [0, 2, 3, 1]) / 4.0  # lucid's scale: a gentle start

    def raw(self, params):
        image = self._decorrelated(params)
        if self._mix:  # recorrelate: each pixel's colour vector times Mᵀ
            image = tf.einsum("bhwc,dc->bhwd", image, self.colour_sqrt)
        return image

    def images_from_raw(self, raw):
        return squash(raw + self._offset if self._offset is not None else raw, self.value_range, "sigmoid")

    def from_raw(self, raw):
        if self._mix:
            raw = tf.einsum("bhwd,cd->bhwc", raw, np.linalg.inv(self.colour_sqrt).astype(np.float32))
        spectrum = tf.signal.rfft2d(tf.transpose(raw * 4.0, [0, 3, 1, 2]), fft_length=[self.height, self.width])
        return tf.stack([tf.math.real(spectrum) / self._scale, tf.math.imag(spectrum) / self._scale], axis=1)

    def encode(self, images):
        raw = unsquash(images, self.value_range, "sigmoid")
        return self.from_raw(raw - self._offset if self._offset is not None else raw)


class Generator(Param):
    """A generative prior. See :func:`generator`."""

    name = "generator"

    def __init__(self, model: keras.Model, init_std: float = 1.0, latent_bound: float | None = 3.0):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`generator` must be a keras.Model mapping a latent code to an image; received {model!r:.80}")
        inputs = model.inputs if hasattr(model, "inputs") else None
        if not inputs or len(inputs) != 1 or any(s is None for s in inputs[0].shape[1:]):
            raise ValueError(
                f"The generator {model.name!r} must have one input with a fixed latent shape, e.g. "
                f"keras.Input((16,)); it has inputs {[tuple(t.shape) for t in inputs or []]}."
            )
        self.model = model
        self.latent_shape = tuple(int(s) for s in inputs[0].shape[1:])
        self.init_std = check_number(init_std, "init_std", minimum=0.0)
        self.latent_bound = None if latent_bound is None else check_positive(latent_bound, "latent_bound")

    def __repr__(self) -> str:
        return f"optvis.generator({self.model.name!r})"

    def bind(self, height, width, channels, value_range):
        bound = super().bind(height, width, channels, value_range)
        produced = tuple(self.model.outputs[0].shape[1:]) if getattr(self.model, "outputs", None) else None
        if produced is not None and produced != (height, width, channels):
            raise ValueError(
                f"The generator {self.model.name!r} makes images of shape {produced} but the model "
                f"takes ({height}, {width}, {channels}); `param=generator` needs the model's input shape."
            )
        return bound

    def init(self, seed, replicas):
        return replica_normal(seed, replicas, self.latent_shape, self.init_std)

    def images(self, params):
        if self.latent_bound is not None:  # keep the code where the generator was trained
            params = self.latent_bound * tf.tanh(params / self.latent_bound)
        images = tf.cast(self.model(params, training=False), tf.float32)
        low, high = self.value_range
        return tf.clip_by_value(images, low, high)


def pixel(squash: str = "sigmoid", init_std: float = 0.01) -> Pixel:
    """Plain pixels.

    Args:
        squash: ``"sigmoid"`` maps the learnt values into the value range with a sigmoid
            (lucid); ``"clip"`` uses them directly (centred on the middle of the range) and
            clips after each step (Simonyan et al. 2014, Yosinski et al. 2015).
        init_std: standard deviation of the initial noise.
    """
    return Pixel(squash, init_std)


def fourier(
    decay: float = 1.0,
    decorrelate: bool = True,
    colour_covariance: Any = None,
    init_std: float = 0.01,
    reference: Any = None,
) -> Fourier:
    """A spectrum with ``1/f^decay`` scaling and decorrelated colours (lucid's ``param.image``).

    Args:
        decay: the exponent of the ``1/f`` scaling; 0 weighs every frequency alike.
        decorrelate: mix colours with the square root of an RGB covariance (RGB images only;
            other channel counts are left as they are).
        colour_covariance: a 3x3 RGB covariance, e.g. :func:`colour_covariance` of your
            training images; None uses ImageNet's (lucid's matrix), or the reference images'.
        init_std: standard deviation of the initial spectrum.
        reference: real images ``(N, H, W, C)`` in the value range (a few hundred training
            images, or one texture): their mean amplitude spectrum replaces ``1/f^decay``, a
            raw value of 0 is their mean colour and, for RGB, their colour covariance is
            used. Small models trained on smooth data (upsampled digits) give images with
            the data's smooth strokes instead of the sharp patterns ``1/f`` lets through.
    """
    return Fourier(decay, decorrelate, colour_covariance, init_std, reference)


def generator(model: keras.Model, init_std: float = 1.0, latent_bound: float | None = 3.0) -> Generator:
    """A generative prior: optimise the latent code of ``model`` (latent -> image).

    Args:
        model: a Keras model from latent codes ``(B, *latent)`` to images in the value range,
            e.g. the decoder of an autoencoder trained on the data.
        init_std: standard deviation of the initial codes.
        latent_bound: codes pass through ``b·tanh(z/b)``, keeping them within ``±b`` where
            the generator was trained; None leaves them free.
    """
    return Generator(model, init_std, latent_bound)


def resolve_param(param: Any, argument: str = "param") -> Param:
    """``"fourier"``, ``"pixel"``, a Keras generator model or a :class:`Param`."""
    if isinstance(param, Param):
        return param
    if isinstance(param, keras.Model):
        return Generator(param)
    wanted = (
        "'fourier', 'pixel', a Keras generator model (latent -> image) or an optvis "
        "parameterisation (optvis.fourier(...), optvis.pixel(...))"
    )
    if not isinstance(param, str):
        raise TypeError(f"`{argument}` must be {wanted}; received {argument}={param!r:.80}")
    if param == "fourier":
        return Fourier()
    if param == "pixel":
        return Pixel()
    raise ValueError(f"`{argument}` must be {wanted}; received {argument}={param!r:.80}")
