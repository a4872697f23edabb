"""Texture synthesis and neural style with a random convolutional network (Gatys et al. 2016).

No pretrained weights are needed: the Gram matrices of a small convolutional network with
random filters already describe a texture's local statistics well (Ustyuzhaninov et al.
2017, "What does it take to generate natural textures?"). Top row: two texture crops from
scikit-learn's photographs (dahlia petals, foliage) and textures synthesised from them.
Bottom row: the content photograph, the style crop, and the photograph painted with it.
The optimised images use the style image's spectrum and colours (``style_transfer``'s
default parameterisation, ``optvis.fourier(reference=style)``).

    python examples/style_transfer.py [--fast] [--out DIR]
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from keras_viz import datasets, optvis, render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save

STYLE_LAYERS = ["conv1", "conv2", "conv3"]


def random_features(filters=(32, 64, 128)) -> keras.Model:
    """Three 3x3 ReLU convolutions with He-normal random weights, each followed by 2x2 pooling."""
    inputs = keras.Input((None, None, 3))
    x = layers.Rescaling(2.0, offset=-1.0)(inputs)
    for i, count in enumerate(filters):
        init = keras.initializers.HeNormal(seed=i)
        x = layers.Conv2D(count, 3, activation="relu", kernel_initializer=init, name=f"conv{i + 1}")(x)
        x = layers.AveragePooling2D(2, name=f"pool{i + 1}")(x)
    return keras.Model(inputs, x, name="random_features")


def crop(photo: np.ndarray, top: int, left: int, side: int, size: int) -> np.ndarray:
    return tf.image.resize(photo[top : top + side, left : left + side], (size, size), antialias=True).numpy()


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    size, steps = (48, 15) if args.fast else (80, 250)
    model = random_features()
    china, flower = datasets.load_sample_photos()
    petals, foliage = crop(flower, 120, 250, 180, size), crop(china, 300, 380, 120, size)
    textures = [
        optvis.style_transfer(model, None, style, style_layers=STYLE_LAYERS, steps=steps, tv_weight=0.0)
        for style in (petals, foliage)
    ]
    content = datasets.load_sample_photos(int(size * 1.2))[0]
    painted = optvis.style_transfer(
        model, content, petals, content_layer="conv2", style_layers=STYLE_LAYERS, style_weight=5.0,
        steps=steps, tv_weight=0.0,
    )
    tiles = [petals, textures[0], foliage, textures[1], content, petals, painted]
    labels = ["petals", "texture", "foliage", "texture", "content", "style", "content + style"]
    side = max(t.shape[0] for t in tiles)
    tiles = [tf.image.resize(t, (side, side)).numpy() if t.shape[0] != side else t for t in tiles]
    tiles.insert(7, np.ones_like(tiles[0]))  # a blank tile ends the second row
    labels.insert(7, "")
    figure = render.optvis_grid(np.stack(tiles), labels, columns=4, scale=2)
    return [save(figure, args.out, "style_transfer")]


if __name__ == "__main__":
    main()
