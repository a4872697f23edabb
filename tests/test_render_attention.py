"""kv.render's attention pictures and the font chain that draws any Unicode token."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from keras_viz import render
from keras_viz.render import _text
from keras_viz.render._text import FontChain, font_chain

VIRIDIS_LOW = (68, 1, 84)
VIRIDIS_HIGH = (253, 231, 37)
WHITE = (255, 255, 255)
DEJAVU = _text._installed_fonts().get("DejaVuSans.ttf")
TOKENS = {
    "accented Latin": "café naïve Ærø",
    "Greek": "Ωμέγα λόγος",
    "Cyrillic": "Москва жизнь",
    "CJK": "東京 数据",
}


def _ink(picture) -> int:
    """Number of pixels that are not white."""
    return int(np.any(np.asarray(picture) < 250, axis=-1).sum())


def _missing_box(chain: FontChain) -> np.ndarray:
    return np.asarray(chain.image("\U0010ffff"))


def test_heatmap_cells_show_the_weights():
    matrix = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    picture = render.attention_heatmap(matrix, cell=10, colorbar=False, vmax=1.0)
    # Gap of 4 px, then the matrix, 10 px per cell: rows 2, columns 3.
    assert picture.dtype == np.uint8 and picture.shape == (4 + 20 + 4, 4 + 30 + 4, 3)
    for (i, j), value in np.ndenumerate(matrix):
        assert tuple(picture[4 + 10 * i + 5, 4 + 10 * j + 5]) == (VIRIDIS_HIGH if value else VIRIDIS_LOW)
    with_bar = render.attention_heatmap(matrix, cell=10)
    assert with_bar.shape[1] > picture.shape[1]


def test_token_labels_sit_on_both_axes_and_long_ones_are_cut():
    matrix = np.full((2, 3), 1 / 3)
    bare = render.attention_heatmap(matrix, cell=16, colorbar=False)
    labelled = render.attention_heatmap(matrix, ["q0", "q1"], ["k0", "k1", "k2"], cell=16, colorbar=False)
    assert labelled.shape[0] > bare.shape[0] and labelled.shape[1] > bare.shape[1]  # keys on top, queries left
    long = render.attention_heatmap(matrix, ["q0", "q1"], ["x" * 300, "k1", "k2"], cell=16, colorbar=False, max_label_width=60)
    short = render.attention_heatmap(matrix, ["q0", "q1"], ["x" * 8, "k1", "k2"], cell=16, colorbar=False, max_label_width=60)
    assert long.shape[0] <= short.shape[0] + 20  # the key label is cut with "…", not drawn 300 x wide
    chain = font_chain(12)
    cut = chain.fit("a-very-long-token-indeed", 50)
    assert cut.endswith("…") and chain.width(cut) <= 50 and chain.fit("ok", 50) == "ok"
    many = render.attention_heatmap(np.eye(200) * 0.5, [f"t{i}" for i in range(200)], [f"t{i}" for i in range(200)])
    assert max(many.shape[:2]) < 1100  # 3 px cells, every few labels


def test_wrong_number_of_tokens_is_a_clear_error():
    matrix = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"`key_tokens` has 2 tokens but the matrix has 3 key positions"):
        render.attention_heatmap(matrix, ["a", "b"], ["a", "b"])
    with pytest.raises(ValueError, match=r"`query_tokens` has 3 tokens but the matrix has 2 query positions"):
        render.attention_heatmap(matrix, ["a", "b", "c"])
    with pytest.raises(TypeError, match=r"not one string"):
        render.attention_heatmap(matrix, "ab")
    with pytest.raises(ValueError, match=r"\(T_query, T_key\) matrix"):
        render.attention_heatmap(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match=r"`tokens` has 2 tokens but the matrix has 3 scores"):
        render.token_heatmap(["a", "b"], [1.0, 2.0, 3.0])


@pytest.mark.skipif(DEJAVU is None, reason="DejaVu Sans is not installed")
@pytest.mark.parametrize("script", ["accented Latin", "Greek", "Cyrillic"])
def test_non_ascii_tokens_render_as_real_glyphs(script):
    chain = font_chain(14)
    text = TOKENS[script]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "missing glyph" warning
        picture = np.asarray(chain.image(text))
    assert _ink(picture) > 40
    missing = _missing_box(chain)
    for char in text.replace(" ", ""):  # every character has its own glyph, none is the box
        glyph = np.asarray(chain.image(char))
        assert not (glyph.shape == missing.shape and np.array_equal(glyph, missing)), char
    tokens = text.split()
    heat = render.attention_heatmap(np.eye(len(tokens)), tokens, tokens, colorbar=False)
    plain = render.attention_heatmap(np.eye(len(tokens)), ["x"] * len(tokens), ["x"] * len(tokens), colorbar=False)
    assert heat.shape != plain.shape or not np.array_equal(heat, plain)


def test_cjk_tokens_render_or_fall_back_to_a_box_with_a_warning():
    chain = font_chain(14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        has_cjk = any(
            not np.array_equal(np.asarray(FontChain([path], 14).image("東")), _missing_box(FontChain([path], 14)))
            for path in chain.paths
        )
    _text._warned_missing.clear()
    if has_cjk:  # a CJK font is installed: real glyphs, no warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            glyph = np.asarray(chain.image("東"))
        assert not np.array_equal(glyph, _missing_box(chain))
    else:  # documented fallback: the first font's empty box, and one warning naming a fix
        chain.font_index.cache_clear()
        with pytest.warns(RuntimeWarning, match=r"U\+6771.*fonts-noto-cjk.*KERAS_VIZ_FONT"):
            glyph = np.asarray(chain.image("東"))
        assert _ink(glyph) > 0
    picture = render.attention_heatmap(np.eye(2), ["東京", "数据"], ["東京", "数据"])
    assert picture.dtype == np.uint8


@pytest.mark.skipif(
    DEJAVU is None or "DejaVuMathTeXGyre.ttf" not in _text._installed_fonts(), reason="needs two DejaVu fonts"
)
def test_each_character_uses_the_first_font_that_has_it():
    math_font = _text._installed_fonts()["DejaVuMathTeXGyre.ttf"]  # Latin and Greek, no Cyrillic
    chain = FontChain([math_font, DEJAVU], 14)
    assert [chain.font_index(c) for c in "aΩж"] == [0, 0, 1]
    assert [index for index, _ in chain.runs("aж b")] == [0, 1, 0]
    alone = FontChain([math_font], 14)
    assert not np.array_equal(np.asarray(chain.image("ж")), np.asarray(alone.image("\U0010ffff")))


def test_font_argument_and_environment_variable(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"Font file .*nope.ttf.* does not exist"):
        render.attention_heatmap(np.eye(2), ["a", "b"], font=str(tmp_path / "nope.ttf"))
    monkeypatch.setenv(_text.FONT_ENV, str(tmp_path / "missing.ttf"))
    with pytest.raises(ValueError, match=r"KERAS_VIZ_FONT"):
        font_chain(13)
    if DEJAVU is not None:
        monkeypatch.setenv(_text.FONT_ENV, DEJAVU)
        assert font_chain(13).paths[0] == DEJAVU
    # A named file that exists but is no font is an error too, not silently skipped.
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    with pytest.raises(ValueError, match=r"Font file .*broken.ttf.* \(from `font`\) could not be read as a TrueType or OpenType font"):
        render.attention_heatmap(np.eye(2), ["a", "b"], font=str(broken))
    monkeypatch.setenv(_text.FONT_ENV, str(broken))
    with pytest.raises(ValueError, match=r"broken.ttf.* \(from KERAS_VIZ_FONT\) could not be read"):
        font_chain(13)
    monkeypatch.delenv(_text.FONT_ENV)
    assert len(FontChain([str(broken)], 13).fonts) == 1  # a font found on the machine: skipped (built-in font)


def test_heads_grid_alignment_marks_and_patch_overlay():
    weights = np.random.default_rng(0).dirichlet(np.ones(4), size=(3, 4))
    grid = render.attention_heads(weights, list("abcd"), list("abcd"))
    single = render.attention_heatmap(weights[0], list("abcd"), list("abcd"), title="head 0")
    assert grid.shape[1] > 3.5 * single.shape[1]  # three heads and their average in one row
    alignment = render.alignment_matrix(np.eye(3)[::-1], list("xyz"), list("123"), expected=[2, 1, 0], cell=20)
    red = (alignment[..., 0] > 200) & (alignment[..., 1] < 80) & (alignment[..., 2] < 80)
    assert red.sum() > 3 * 20  # three outlined cells
    with pytest.raises(ValueError, match=r"`expected`\[0\]=5 is out of range"):
        render.alignment_matrix(np.eye(3), expected=[5, 1, 0])

    image = np.zeros((32, 32, 3), np.float32)
    attention = np.zeros(16)
    attention[5] = 1.0  # patch (1, 1) of a 4x4 grid
    picture = render.patch_attention_overlay(image, attention, value_range=(0, 1))
    assert picture.shape == (32, 32, 3)
    assert picture[12, 12].sum() > picture[28, 28].sum() + 100  # the attended patch is bright
    with_class_token = render.patch_attention_overlay(image, np.concatenate([[0.5], attention]), value_range=(0, 1))
    np.testing.assert_array_equal(with_class_token, picture)  # 17 = 1 class token + 4x4
    with pytest.raises(ValueError, match=r"neither a square number .*grid_shape"):
        render.patch_attention_overlay(image, np.ones(15))
    assert render.patch_attention_overlay(image, np.ones(8), grid_shape=(2, 4)).shape == (32, 32, 3)


def test_token_heatmap_colours_by_sign_and_wraps():
    picture = render.token_heatmap(["good", "bad", "meh"], [2.0, -2.0, 0.0], width=400)
    red = (picture[..., 0] > 90) & (picture[..., 0] < 200) & (picture[..., 1] < 40)
    blue = (picture[..., 2] > 80) & (picture[..., 0] < 40)
    assert red.sum() > 50 and blue.sum() > 50
    wrapped = render.token_heatmap([f"token{i}" for i in range(40)], np.arange(40.0), width=200)
    assert wrapped.shape[1] == 200 and wrapped.shape[0] > 5 * 20
    assert _ink(render.token_heatmap(TOKENS["Cyrillic"].split(), [1.0, 0.5])) > 100
