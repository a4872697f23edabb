"""An Embedding Projector export that TensorBoard loads: digit codes, labels and thumbnails.

Writes the global-average-pooled codes of the test digits, with the columns label, prediction
and correct, and a sprite of the digits, as a new run of ``OUT/logs``. Browse it with
``tensorboard --logdir OUT/logs`` (Projector tab). Also saves a PCA scatter of the same codes.

    python examples/projector_export.py [--fast] [--out DIR]
"""

from __future__ import annotations

import os

import keras_viz as kv
from keras_viz import render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import digits_model, parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import digits_model, parse_args, save


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _, (x_test, y_test) = digits_model(args.fast)
    codes = kv.embeddings(model, x_test, "gap")
    predictions = model.predict(x_test, verbose=0).argmax(axis=-1)
    run_dir = kv.tensorboard.export_projector(
        os.path.join(args.out, "logs"),
        codes,
        metadata={"label": y_test.tolist(), "prediction": predictions.tolist(),
                  "correct": [str(p == t) for p, t in zip(predictions, y_test)]},
        images=x_test,
        name="digits_gap",
    )
    print(f"wrote {run_dir}: {codes.shape[0]} points x {codes.shape[1]} dims; tensorboard --logdir {args.out}/logs")
    points = kv.pca_map(codes)
    return [save(render.scatter(points, y_test.tolist(), size=400), args.out, "projector_pca")]


if __name__ == "__main__":
    main()
