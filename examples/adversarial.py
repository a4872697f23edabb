"""Adversarial examples: invisible changes that change a digit classifier's answer.

The seeds' figure (Szegedy et al. 2014; Goodfellow et al. 2015): for a few correctly
classified test digits, the original, the perturbation amplified ten times and the
adversarial image, with the classes the model predicts. ``fgsm.png``: one signed-gradient
step of ε = 0.15 away from the true class (FGSM). ``pgd_targeted.png``: 20 projected
gradient steps inside the same L∞ ball towards the next digit (targeted PGD, Madry et al.).

    python examples/adversarial.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np

from keras_viz import optvis, render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import digits_model, parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import digits_model, parse_args, save

EPSILON = 0.15


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _, (x_test, y_test) = digits_model(args.fast)
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    count = 3 if args.fast else 5
    picks = [int(np.flatnonzero((y_test == d) & (predicted == d))[0]) for d in range(count)]
    images, labels = x_test[picks], y_test[picks]

    untargeted = optvis.adversarial(model, images, labels, epsilon=EPSILON, method="fgsm")
    targeted = optvis.adversarial(model, images, target=(labels + 1) % 10, epsilon=EPSILON, steps=20)
    paths = []
    for name, result in (("fgsm", untargeted), ("pgd_targeted", targeted)):
        figure = render.adversarial_figure(
            images, result.images, result.original_predictions, result.predictions, scale=4
        )
        paths.append(save(figure, args.out, name))
        print(f"{name}: {int(result.success.sum())}/{len(images)} succeeded within epsilon={EPSILON}")
    return paths


if __name__ == "__main__":
    main()
