"""Activation maximisation of a digits CNN: the seeds' regularisation table, and a generative prior.

The table of seed 003 ("Regularization tricks"), one row per approach, one column per digit,
each image optimised for the log-probability of its digit (Simonyan et al. 2014's class
models):

* unregularised pixels (Erhan et al. 2009) - high-frequency patterns the model responds to;
* L2 decay, blur every 4 steps and clipping of small pixels (Yosinski et al. 2015);
* total variation (Mahendran & Vedaldi 2015);
* transformation robustness: pad, jitter, scale, rotate (Mordvintsev et al. 2015);
* the decorrelated Fourier parameterisation, 1/f-scaled (Olah et al. 2017, lucid);
* the same with the training digits' spectrum and mean (``optvis.fourier(reference=...)``);
* a learned prior: the decoder of a small digits autoencoder (Nguyen et al. 2016);
* dataset examples: the test digit the model gives the highest log-probability.

It writes ``activation_maximization.png`` (the table) and ``generator_prior.png`` (pixel
space beside the decoder prior, larger).

    python examples/activation_maximization.py [--fast] [--out DIR]
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from keras_viz import optvis, render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import digits_model, parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import digits_model, parse_args, save


def digits_decoder(x_train: np.ndarray, epochs: int, latent: int = 8) -> keras.Model:
    """A small convolutional autoencoder of the digits; returns its decoder.

    The decoder takes standardised codes (each latent unit divided by its spread over the
    training digits), so that a code of norm ~1 per unit lies where real digits do and
    ``optvis.generator``'s bound of 3 keeps the optimised code within 3 standard deviations.
    """
    keras.utils.set_random_seed(1)
    size = x_train.shape[1]
    encoder = keras.Sequential(
        [
            keras.Input(x_train.shape[1:]),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(latent),
        ],
        name="encoder",
    )
    decoder = keras.Sequential(
        [
            keras.Input((latent,)),
            layers.Dense((size // 4) * (size // 4) * 32, activation="relu"),
            layers.Reshape((size // 4, size // 4, 32)),
            layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid"),
        ],
        name="decoder",
    )
    autoencoder = keras.Sequential([encoder, decoder])
    autoencoder.compile(keras.optimizers.Adam(2e-3), "binary_crossentropy")
    autoencoder.fit(x_train, x_train, epochs=epochs, batch_size=32, verbose=0)
    codes = encoder.predict(x_train, verbose=0)
    mean, spread = codes.mean(axis=0), codes.std(axis=0) + 1e-6
    return keras.Sequential(
        [keras.Input((latent,)), layers.Rescaling(spread, offset=mean), decoder], name="standardised_decoder"
    )


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, (x_train, _), (x_test, _) = digits_model(args.fast)
    digits = list(range(5)) if args.fast else list(range(10))
    steps = 12 if args.fast else 160
    objective = optvis.class_score(digits, probability=True, log=True)
    decoder = digits_decoder(x_train, epochs=1 if args.fast else 8)
    data_spectrum = optvis.fourier(reference=x_train[:256])
    yosinski = [optvis.l2(0.5), optvis.blur_every(4, 0.5), optvis.clip_small_norm(20)]

    rows = {
        "pixels": dict(param="pixel", transforms=None),
        "L2+blur+clip": dict(param="pixel", transforms=None, regularizers=yosinski),
        "total variation": dict(param="pixel", transforms=None, regularizers=[optvis.total_variation(5.0)]),
        "transforms": dict(param="pixel"),
        "Fourier 1/f": dict(),
        "data spectrum": dict(param=data_spectrum),
        "decoder prior": dict(param=decoder),
    }
    tiles, labels, pictures = [], [], {}
    for name, options in rows.items():
        images = optvis.activation_maximization(model, objective, steps=steps, **options)
        pictures[name] = images
        tiles += list(images)
        labels += [name] + [str(d) for d in digits[1:]]
    # The last column of the seed's table: the real digits the model is surest about.
    best = optvis.score(model, objective, x_test).argmax(axis=0)
    tiles += list(x_test[best])
    labels += ["dataset"] + [str(d) for d in digits[1:]]
    table = render.optvis_grid(np.stack(tiles), labels, columns=len(digits), scale=3)

    prior = np.concatenate([pictures["pixels"], pictures["data spectrum"], pictures["decoder prior"]])
    prior_labels = [f"{kind} {d}" for kind in ("pixels", "spectrum", "decoder") for d in digits]
    comparison = render.optvis_grid(prior, prior_labels, columns=len(digits), scale=4)
    return [save(table, args.out, "activation_maximization"), save(comparison, args.out, "generator_prior")]


if __name__ == "__main__":
    main()
