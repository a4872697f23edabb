"""``keras-viz attention``: a saved model's attention for token sequences from the command line."""

from __future__ import annotations

import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from keras_viz import cli

VOCAB = ["[PAD]", "[UNK]", "the", "cat", "sat", "on", "mat", "Ωμέγα", "東京"]
LENGTH = 6


def encoder() -> keras.Model:
    ids = keras.Input((LENGTH,), dtype="int32", name="ids")
    x = layers.Embedding(len(VOCAB), 8, name="embedding")(ids)
    x = x + layers.MultiHeadAttention(2, 4, name="block_1")(x, x)
    x = x + layers.MultiHeadAttention(2, 4, name="block_2")(x, x)
    return keras.Model(ids, layers.Dense(2)(layers.GlobalAveragePooling1D()(x)), name="encoder")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("attention_cli")
    keras.utils.set_random_seed(0)
    encoder().save(root / "encoder.keras")
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (root / "no_unk.txt").write_text("\n".join(v for v in VOCAB if v != "[UNK]") + "\n", encoding="utf-8")
    ids = keras.Input((LENGTH,), dtype="int32")
    keras.Model(ids, layers.Dense(2)(layers.Flatten()(layers.Embedding(9, 4)(ids)))).save(root / "plain.keras")
    return root


def run_cli(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_words_from_a_vocabulary_give_one_picture_per_layer_and_a_rollout(files, tmp_path, capsys):
    code, out, err = run_cli(capsys, "attention", files / "encoder.keras", "the cat sat on Ωμέγα",
                             "--vocab", files / "vocab.txt", "--output", tmp_path)
    assert code == 0, err
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == ["block_1_heads.png", "block_2_heads.png", "rollout.png"]
    for name in written:
        with Image.open(tmp_path / name) as image:
            pixels = np.asarray(image.convert("RGB"), np.float32)
        assert pixels.std() > 5
    assert "block_1: self-attention, 2 head(s), 6x6; entropy per head (nats):" in out
    assert "rollout through 2 self-attention layers (block_1, block_2)" in out


def test_words_and_their_integer_ids_give_the_same_attention(files, tmp_path, capsys):
    code, by_words, err = run_cli(capsys, "attention", files / "encoder.keras", "the cat sat",
                                  "--vocab", files / "vocab.txt", "--output", tmp_path / "words")
    assert code == 0, err
    code, by_ids, err = run_cli(capsys, "attention", files / "encoder.keras", "2 3 4", "--output", tmp_path / "ids")
    assert code == 0, err
    entropies = [line.split("->")[0] for line in by_words.splitlines() if "entropy" in line]
    assert len(entropies) == 2 and entropies == [line.split("->")[0] for line in by_ids.splitlines() if "entropy" in line]
    with Image.open(tmp_path / "words" / "block_1_heads.png") as a, Image.open(tmp_path / "ids" / "block_1_heads.png") as b:
        assert not np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))  # labelled differently


@pytest.mark.parametrize(
    "argv, message",
    [
        (["cat dog"], "no --vocab was given"),
        (["the dog", "--vocab", "no_unk.txt"], r"1 token\(s\) not in the vocabulary \('dog'\)"),
        (["1 2 3 4 5 6 7"], "SEQUENCE 1 has 7 tokens but the model input takes 6"),
        (["1 2", "3 4"], r"takes 1 input\(s\) but 2 SEQUENCE"),
        (["1 2", "--vocab", "missing.txt"], "--vocab file not found"),
        (["1 2", "--pad-id", "20", "--vocab", "vocab.txt"], "--pad-id 20 is outside the vocabulary"),
        (["1 2", "--layer", "embedding"], "is a Embedding, not an attention layer"),
        (["1 2", "--colormap", "jet"], "unknown --colormap 'jet'"),
    ],
)
def test_bad_arguments_are_one_line_errors(files, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(files)
    code, _, err = run_cli(capsys, "attention", files / "encoder.keras", *argv, "--output", tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("keras-viz attention: error:")
    assert re.search(message, err), err


def test_unknown_words_map_to_unk_and_a_model_without_attention_is_refused(files, tmp_path, capsys):
    code, _, err = run_cli(capsys, "attention", files / "encoder.keras", "the dog sat", "--vocab",
                           files / "vocab.txt", "--output", tmp_path)
    assert code == 0, err
    code, _, err = run_cli(capsys, "attention", files / "plain.keras", "1 2", "--output", tmp_path)
    assert code == 2 and "has no attention layer" in err


_NO_TF_PROBE = """
import sys
from keras_viz.cli import main
code = main(sys.argv[1:])
print("TF-IMPORTED" if "tensorflow" in sys.modules else "TF-NOT-IMPORTED", code)
"""


@pytest.mark.parametrize(
    "argv",
    [["attention", "--help"], ["attention", "m.keras", "cat sat"], ["attention", "m.keras", "1 2", "--vocab", "v.txt"],
     ["attention", "missing.keras", "1 2"]],
)
def test_arguments_are_checked_before_tensorflow_is_imported(tmp_path, argv):
    result = subprocess.run([sys.executable, "-c", _NO_TF_PROBE, *argv], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert "TF-NOT-IMPORTED" in result.stdout, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


def test_cross_attention_of_equal_length_is_neither_rolled_out_nor_labelled_with_the_source(tmp_path, capsys):
    # The demo's reversal Transformer: its cross-attention is 8 × 8 like the encoder's
    # self-attention, but its queries are learned output positions, not source letters.
    from keras_viz import attention_demo, render
    from keras_viz.attention import AttentionMaps

    keras.utils.set_random_seed(0)
    model = attention_demo.build_reversal_transformer()
    model.save(tmp_path / "reversal.keras")
    letters = list(attention_demo.LETTERS[:12])
    (tmp_path / "letters.txt").write_text("\n".join(letters) + "\n", encoding="utf-8")
    sequence = "a b c d e f g h"
    code, out, err = run_cli(capsys, "attention", tmp_path / "reversal.keras", sequence, "--vocab",
                             tmp_path / "letters.txt", "--output", tmp_path / "out")
    assert code == 0, err
    assert "encoder_self_attention: self-attention, 2 head(s), 8x8" in out
    assert "cross_attention: cross-attention, 2 head(s), 8x8" in out
    assert "no rollout: it chains a stack of at least 2 self-attention layers; found 1 (encoder_self_attention), " \
           "and cross-attention (cross_attention), which is never chained" in out
    assert not (tmp_path / "out" / "rollout.png").exists()
    maps = AttentionMaps(model)(np.arange(8, dtype=np.int32)[None])
    tokens = sequence.split()
    for name, queries in (("encoder_self_attention", tokens), ("cross_attention", None)):
        with Image.open(tmp_path / "out" / f"{name}_heads.png") as image:
            written = np.asarray(image.convert("RGB"))
        np.testing.assert_array_equal(written, render.attention_heads(maps[name][0], queries, tokens))
