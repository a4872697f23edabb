"""The projector export's files: metadata rows, sprite geometry, tensors, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_viz as kv
from keras_viz import projector

LABELS = ["tab\there", "new\nline", "carriage\rreturn", "café ✓ 日本", "", "back\\slash", "sep\u2028x", "plain"]


def test_escape_keeps_every_label_on_one_row_and_is_reversible():
    escaped = [projector.escape_label(label) for label in LABELS]
    assert all("\t" not in e and "\n" not in e and "\r" not in e and "\u2028" not in e for e in escaped)
    assert escaped[:4] == ["tab\\there", "new\\nline", "carriage\\rreturn", "café ✓ 日本"]
    assert escaped[5] == "back\\\\slash" and escaped[6] == "sep\\u2028x"
    assert projector.escape_label("café", ascii_only=True) == "caf\\u00e9"
    decoded = [e.encode("latin-1", "backslashreplace").decode("unicode_escape") for e in escaped]
    assert decoded[:3] + decoded[4:6] == LABELS[:3] + LABELS[4:6]


def test_single_and_multi_column_metadata_files(tmp_path):
    codes = np.random.default_rng(0).normal(size=(len(LABELS), 3)).astype(np.float32)
    one = kv.tensorboard.export_projector(tmp_path, codes, metadata=LABELS)
    rows = open(os.path.join(one, "metadata.tsv"), encoding="utf-8").read().split("\n")
    assert rows[-1] == "" and len(rows) - 1 == len(LABELS)  # no header for one column
    assert rows[4] == projector.BLANK  # a blank line would be dropped by the projector
    many = kv.tensorboard.export_projector(tmp_path, codes, metadata={"label": LABELS, "index": np.arange(len(LABELS))})
    rows = open(os.path.join(many, "metadata.tsv"), encoding="utf-8").read().split("\n")[:-1]
    assert rows[0] == "label\tindex" and len(rows) == len(LABELS) + 1
    assert all(row.count("\t") == 1 for row in rows)
    assert rows[5] == "\t4"  # an empty cell next to a non-empty one stays empty
    assert one != many and os.path.basename(one).startswith("projector_embedding_")


@pytest.mark.parametrize("tensor_format", ["checkpoint", "tsv"])
def test_tensor_round_trip(tmp_path, tensor_format):
    codes = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    run = kv.tensorboard.export_projector(tmp_path, codes, name="codes", tensor_format=tensor_format, run="r")
    if tensor_format == "checkpoint":
        reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(run))
        np.testing.assert_array_equal(reader.get_tensor("codes"), codes)
    else:
        np.testing.assert_array_equal(np.loadtxt(os.path.join(run, "tensor.tsv"), delimiter="\t", dtype=np.float32), codes)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(run))


@pytest.mark.parametrize(
    "count,image,thumbnail,expected",
    [
        (10, (32, 32), None, (4, (32, 32))),
        (10_000, (64, 48), None, (100, (64, 48))),  # never enlarged
        (10_000, (128, 96), None, (100, (81, 60))),  # 8192 // 100 = 81 px for the longer side
        (70_000, (8, 8), None, (265, (8, 8))),
        (100, (28, 28), 10, (10, (10, 10))),
    ],
)
def test_sprite_layout_fits_the_limit(count, image, thumbnail, expected):
    side, (h, w) = projector.sprite_layout(count, image, thumbnail)
    assert (side, (h, w)) == expected
    assert side * max(h, w) <= projector.MAX_SPRITE_SIZE


def test_sprite_png_is_the_grid_of_thumbnails(tmp_path):
    images = np.random.default_rng(2).uniform(size=(5, 6, 4, 1)).astype(np.float32)
    run = kv.tensorboard.export_projector(tmp_path, np.zeros((5, 2)), images=images)
    sprite = np.asarray(Image.open(os.path.join(run, "sprite.png")))
    assert sprite.shape == (3 * 6, 3 * 4, 3)
    np.testing.assert_array_equal(sprite[6:12, 4:8, 0], np.round(images[4, ..., 0] * 255).astype(np.uint8))
    assert (sprite[12:, 4:] == 0).all()  # unused cells stay black
    config = open(os.path.join(run, "projector_config.pbtxt")).read()
    assert 'image_path: "sprite.png"' in config and "single_image_dim: 4" in config


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"embeddings": np.zeros((4, 2, 2))}, ValueError, r"`embeddings` must be a 2-D \(points, dimensions\) array; received shape \(4, 2, 2\)"),
        ({"embeddings": np.zeros(4)}, ValueError, r"must be a 2-D"),
        ({"embeddings": [["a", "b"]]}, TypeError, r"`embeddings` must be numeric"),
        ({"embeddings": np.full((2, 2), np.nan)}, ValueError, r"NaN"),
        ({"metadata": ["a", "b", "c"]}, ValueError, r"`metadata` has 3 rows but `embeddings` has 4 points"),
        ({"metadata": {"label": [1, 2, 3, 4], "x": [1]}}, ValueError, r"column 'x' of `metadata` has 1 rows"),
        ({"metadata": "abcd"}, TypeError, r"`metadata` must be a sequence"),
        ({"images": np.zeros((3, 4, 4, 3))}, ValueError, r"`images` has 3 images but `embeddings` has 4 points"),
        ({"tensor_format": "npy"}, ValueError, r"`tensor_format` must be 'checkpoint' or 'tsv'"),
        ({"name": "a\tb"}, ValueError, r"`name` must be a non-empty single-line string"),
        ({"run": "../x"}, ValueError, r"`run` must be a relative run name"),
    ],
)
def test_bad_input(tmp_path, kwargs, error, message):
    arguments = {"embeddings": np.zeros((4, 2), np.float32), **kwargs}
    with pytest.raises(error, match=message):
        kv.tensorboard.export_projector(tmp_path, arguments.pop("embeddings"), **arguments)


def test_more_points_than_a_sprite_can_hold(tmp_path):
    count = projector.MAX_SPRITE_SIZE**2 + 1  # 8193 x 8193 grid: thumbnails below 1 px
    codes = np.broadcast_to(np.zeros((1, 1), np.float32), (count, 1))  # no memory behind it
    images = np.broadcast_to(np.zeros((1, 1, 1, 1), np.uint8), (count, 1, 1, 1))
    with pytest.raises(ValueError, match=r"cannot share one sprite.*smaller than 1 pixel"):
        kv.tensorboard.export_projector(tmp_path, codes, images=images)
    assert os.listdir(tmp_path) == []  # refused before writing anything


def test_an_existing_export_run_is_not_overwritten(tmp_path):
    kv.tensorboard.export_projector(tmp_path, np.zeros((2, 2)), run="same")
    with pytest.raises(ValueError, match=r"already holds a projector export"):
        kv.tensorboard.export_projector(tmp_path, np.zeros((2, 2)), run="same")
