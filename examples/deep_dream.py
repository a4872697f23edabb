"""DeepDream with octaves: a digits CNN dreams its strokes into photographs.

The two photographs that ship with scikit-learn, dreamt by the demo's digits CNN (which sees
grey: it dreams on the brightness, and the photograph's colours are put back). Columns: the
photograph; one scale only (no octaves); the octave cascade on block 2; the cascade on
blocks 2 and 3. The octaves (small to large, the dream so far upscaled onto the photograph
at each scale) grow patterns at several sizes instead of one fine texture (Mordvintsev et
al. 2015). The photographs are 4x the model's 32-pixel input: the network is fully
convolutional up to these layers.

    python examples/deep_dream.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np

from keras_viz import datasets, optvis, render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import digits_model, parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import digits_model, parse_args, save


def dream_in_colour(model, photos: np.ndarray, layers, **options) -> np.ndarray:
    """Dreams on the brightness of RGB photos with a greyscale model; puts the colour back."""
    grey = photos.mean(axis=-1, keepdims=True)
    dream = optvis.deep_dream(model, grey, layers, **options)
    return np.clip(photos + (dream - grey), 0.0, 1.0)


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _, _ = digits_model(args.fast)
    photos = datasets.load_sample_photos(64 if args.fast else 128)
    steps = 3 if args.fast else 10
    both = {"block2_relu": 1.0, "block3_relu": 1.0}
    columns = {
        "photograph": photos,
        "one scale": dream_in_colour(model, photos, both, octaves=1, steps=3 * steps, step_size=0.004),
        "octaves, block 2": dream_in_colour(model, photos, "block2_relu", octaves=3, steps=steps, step_size=0.004),
        "octaves, blocks 2+3": dream_in_colour(model, photos, both, octaves=3, steps=steps, step_size=0.004),
    }
    tiles = [images[row] for row in range(len(photos)) for images in columns.values()]
    labels = [name for _ in range(len(photos)) for name in columns]
    figure = render.optvis_grid(np.stack(tiles), labels, columns=len(columns), scale=2)
    return [save(figure, args.out, "deep_dream")]


if __name__ == "__main__":
    main()
