"""What the example scripts share: their two options, a small trained model, saving figures.

Every example is ``python examples/<name>.py [--fast] [--out DIR]``: ``--fast`` trains and
optimises briefly (seconds; the tests run every example this way), ``--out`` is the folder
its figure(s) go to (default ``gallery/``). Everything runs offline on data that ships with
installed packages (scikit-learn's digits and sample photographs) or is generated.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np


def parse_args(description: str, argv: Sequence[str] | None = None, **extra: Any) -> argparse.Namespace:
    """``--fast`` and ``--out DIR`` (plus ``extra``: name -> ``add_argument`` keyword dict)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true", help="a quick, smaller run (seconds)")
    parser.add_argument("--out", default="gallery", help="output folder (default: %(default)s)")
    for name, options in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", **options)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    return args


def save(picture: np.ndarray, out: str, name: str) -> str:
    """Saves a uint8 picture as ``out/name.png`` and prints the path."""
    from keras_viz import render

    path = os.path.join(out, f"{name}.png")
    render.to_pil(picture).save(path)
    print(f"wrote {path}")
    return path


@functools.lru_cache(maxsize=4)
def digits_model(fast: bool, size: int = 32, seed: int = 0) -> tuple[Any, tuple, tuple]:
    """The demo's digits CNN trained briefly: ``(model, (x_train, y_train), (x_test, y_test))``.

    Cached per process, so examples run one after another (the gallery, the tests) train it
    once; explainers and visualizations never change the model.
    """
    import keras

    from keras_viz import datasets
    from keras_viz.demo import build_demo_model

    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = datasets.load_digits(size, seed=seed)
    model = build_demo_model((size, size, 1))
    epochs = 2 if fast else 6
    # The demo's recipe: cosine decay to 0 ends training at a small step (BatchNorm settles).
    schedule = keras.optimizers.schedules.CosineDecay(1e-2, epochs * -(-len(x_train) // 32))
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return model, (x_train, y_train), (x_test, y_test)


@functools.lru_cache(maxsize=4)
def shapes_model(fast: bool, watermark: float = 0.0, size: int = 32, seed: int = 0) -> tuple[Any, Any]:
    """The demo CNN trained on RGB shapes (``make_shapes``): ``(model, training data)``.

    ``watermark=1`` trains on shapes that all carry their class's corner tab (the confound).
    Cached per process like :func:`digits_model`.
    """
    import keras

    from keras_viz import datasets
    from keras_viz.demo import build_demo_model

    keras.utils.set_random_seed(seed)
    count, epochs = (300, 2) if fast else ((1500, 8) if watermark == 0 else (600, 5))
    data = datasets.make_shapes(count, size=size, seed=seed + 1, watermark=watermark)
    model = build_demo_model((size, size, 3), len(data.class_names))
    steps = epochs * -(-count // 32)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(5e-3, steps)),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.images, data.labels, epochs=epochs, batch_size=32, verbose=0)
    return model, data


def explainer_zoo(fast: bool) -> dict[str, Any]:
    """Every attribution method, by its tag name, as ``model -> explainer`` factories.

    ``fast`` uses few samples/steps for SmoothGrad and Integrated Gradients.
    """
    import keras_viz as kv

    samples = 4 if fast else 32
    return {
        "saliency": kv.Saliency,
        "deconvnet": kv.Deconvnet,
        "guided_backprop": kv.GuidedBackprop,
        "gradient_input": kv.GradientInput,
        "smoothgrad": functools.partial(kv.SmoothGrad, samples=samples),
        "integrated_gradients": functools.partial(kv.IntegratedGradients, steps=samples),
        "cam": kv.CAM,
        "grad_cam": kv.GradCAM,
        "grad_cam_plus_plus": kv.GradCAMPlusPlus,
        "guided_grad_cam": kv.GuidedGradCAM,
        "occlusion": functools.partial(kv.Occlusion, patch_size=4, stride=2, batch_size=256),
    }


def write_text(text: str, out: str, name: str) -> str:
    """Writes ``out/name`` (a Markdown report, a CSV) and prints the path."""
    path = os.path.join(out, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {path}")
    return path
