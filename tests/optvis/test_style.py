"""Style transfer lowers both its content and its Gram-matrix style losses; textures."""

from __future__ import annotations

import numpy as np
import pytest

from keras_viz import optvis
from keras_viz.optvis._graph import layer_outputs

STYLE_LAYERS = ["block1_relu", "block2_relu"]


def test_content_and_style_losses_fall_from_their_start(digits):
    model = digits.model
    content, style = digits.x_test[0], digits.x_test[1]
    (phi,) = layer_outputs(model, content[None], ["block3_relu"])
    content_loss = optvis.feature_match("block3_relu", phi)
    style_outputs = layer_outputs(model, style[None], STYLE_LAYERS)
    style_loss = sum(optvis.gram_match(layer, out) for layer, out in zip(STYLE_LAYERS, style_outputs))
    options = dict(content_layer="block3_relu", style_layers=STYLE_LAYERS, style_weight=2.0)
    start = optvis.style_transfer(model, content, style, steps=1, **options)
    end = optvis.style_transfer(model, content, style, steps=120, **options)
    assert end.shape == content.shape and end.min() >= 0 and end.max() <= 1
    for loss in (content_loss, style_loss):
        before = optvis.score(model, loss, start[None])[0, 0]
        after = optvis.score(model, loss, end[None])[0, 0]
        assert after > before + 0.1 * abs(before), (loss.name, before, after)


def test_texture_synthesis_without_content(digits):
    style = digits.x_test[2]
    texture, history = optvis.style_transfer(
        digits.model, None, style, style_layers=STYLE_LAYERS, steps=40, size=(20, 20), return_history=True
    )
    assert texture.shape == (20, 20, 1)
    assert history[-1, 0] > history[0, 0]
    with pytest.raises(ValueError, match="content_layer"):
        optvis.style_transfer(digits.model, digits.x_test[0], style, style_layers=STYLE_LAYERS, steps=1)
    with pytest.raises(TypeError, match="style_layers"):
        optvis.style_transfer(digits.model, None, style, style_layers="block1_relu", steps=1)
    with pytest.raises(ValueError, match="style_layers"):
        optvis.style_transfer(digits.model, None, style, style_layers=[], steps=1)
    with pytest.raises(ValueError, match="one image"):
        optvis.style_transfer(digits.model, None, digits.x_test[:2], style_layers=STYLE_LAYERS, steps=1)
    with pytest.raises(ValueError, match="style_weight"):
        optvis.style_transfer(digits.model, None, style, style_layers=STYLE_LAYERS, steps=1, style_weight=-1)


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(size="big"), TypeError, "`size`.*'big'"),
        (dict(size=(0, 20)), ValueError, "`size`"),
        (dict(size=2.5), TypeError, "`size`"),
        (dict(init="photo"), ValueError, "`init`.*'photo'"),
        (dict(content=True, size=(20, 20)), ValueError, "`size`=\\(20, 20\\) applies to textures"),
    ],
)
def test_bad_sizes_name_the_argument(digits, options, error, match):
    content = digits.x_test[0] if options.pop("content", False) else None
    with pytest.raises(error, match=match):
        optvis.style_transfer(digits.model, content, digits.x_test[2], content_layer="block3_relu",
                              style_layers=STYLE_LAYERS, steps=1, **options)


def test_starting_from_the_content_image(digits):
    content = digits.x_test[4]
    kept = optvis.style_transfer(
        digits.model, content, digits.x_test[5], content_layer="block2_relu", style_layers=STYLE_LAYERS,
        steps=1, init="content", learning_rate=1e-6,
    )
    np.testing.assert_allclose(kept, content, atol=2e-3)
