"""AttentionCallback on a tiny Transformer trained to reverse letters: the known alignment,
seen by kv.AttentionMaps and read back from the event files the callback wrote."""

from __future__ import annotations

import io
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import keras_viz as kv
from keras_viz import attention_demo, render
from keras_viz import callbacks as kvc

LENGTH = 8
SHOWN = 4


def _events(run_dir):
    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def _pngs(event):
    return [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in event.tensor_proto.string_val[2:]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The reversal Transformer trained once (fast settings) with the callback attached."""
    log_dir = tmp_path_factory.mktemp("attention_logs")
    held_out, _ = attention_demo.make_reversal_task(256, LENGTH, seed=1)  # what training holds out
    letters = [[attention_demo.LETTERS[i] for i in row] for row in held_out[:SHOWN]]
    outputs = [[f"out {t}" for t in range(LENGTH)]] * SHOWN
    callback = kvc.AttentionCallback(
        held_out[:SHOWN],
        tokens=letters,
        query_tokens={"cross_attention": outputs},
        rollout=["encoder_self_attention"],
        log_dir=str(log_dir),
        freq=2,
        raise_errors=True,
    )
    untrained = attention_demo.build_reversal_transformer(LENGTH)
    before = kv.AttentionMaps(untrained)(held_out)
    model, info = attention_demo.train_reversal_transformer(True, length=LENGTH, callbacks=[callback])
    return {"model": model, "info": info, "callback": callback, "run": log_dir / "keras_viz",
            "letters": letters, "outputs": outputs, "before": before}


def test_cross_attention_finds_the_known_alignment(trained):
    info = trained["info"]
    assert info["accuracy"] > 0.9
    maps = kv.AttentionMaps(trained["model"])(info["source"])
    assert set(maps) == {"encoder_self_attention", "cross_attention"}
    argmax = maps["cross_attention"].mean(axis=1).argmax(axis=-1)  # (N, T_out)
    assert np.mean(argmax == info["alignment"][None]) >= 0.9


def test_event_file_holds_the_alignment(trained):
    events = _events(trained["run"])
    tag = "attention_alignment/cross_attention"
    assert [e.step for e in events.Tensors(tag)] == [1, 2]  # freq=2, and the last of 3 epochs
    table = events.Tensors(tag)[-1].tensor_proto.string_val[0].decode("utf-8")
    rows = re.findall(r"^\| (\d+): out \d+ \| (\d+): (\w) \| ([\d.]+) \|$", table, flags=re.MULTILINE)
    assert len(rows) == SHOWN * LENGTH
    query, key = np.array([[int(q), int(k)] for q, k, _, _ in rows]).T
    assert np.mean(key == LENGTH - 1 - query) >= 0.9  # read back from the event file
    letters = [letter for sample in trained["letters"] for letter in sample]
    keys_letters = [letter for _, _, letter, _ in rows]
    assert keys_letters == [letters[s * LENGTH + k] for s, k in zip(np.repeat(np.arange(SHOWN), LENGTH), key)]


def test_event_file_pictures_are_the_captured_attention(trained):
    events = _events(trained["run"])
    callback, model = trained["callback"], trained["model"]
    maps = kv.AttentionMaps(model)(callback.inputs)
    for name in maps:
        event = events.Tensors(f"attention/{name}")[-1]
        logged = _pngs(event)
        assert len(logged) == SHOWN
        for sample, picture in enumerate(logged):
            expected = callback.heads_picture(name, sample, maps[name][sample])
            np.testing.assert_array_equal(picture[: expected.shape[0], : expected.shape[1]], expected)
    queries, keys = callback.labels("cross_attention", 0, (LENGTH, LENGTH))
    assert queries == trained["outputs"][0] and keys == trained["letters"][0]
    assert callback.labels("encoder_self_attention", 0, (LENGTH, LENGTH)) == (trained["letters"][0],) * 2
    rollout = _pngs(events.Tensors("attention/rollout")[-1])[0]
    expected = render.attention_heatmap(
        kv.attention_rollout({"e": maps["encoder_self_attention"]})[0],
        trained["letters"][0], trained["letters"][0], title="rollout", font_size=11,
    )
    np.testing.assert_array_equal(rollout[: expected.shape[0], : expected.shape[1]], expected)


def test_heads_specialise_and_the_entropy_scalars_say_so(trained):
    events = _events(trained["run"])
    tags = [t for t in events.Tags()["tensors"] if t.startswith("attention_entropy/")]
    assert sorted(tags) == [f"attention_entropy/{layer}/head_{h}" for layer in ("cross_attention", "encoder_self_attention") for h in (0, 1)]
    final = np.array([tf.make_ndarray(events.Tensors(f"attention_entropy/cross_attention/head_{h}")[-1].tensor_proto) for h in (0, 1)])
    untrained = kv.attention.attention_entropy(trained["before"]["cross_attention"])
    assert np.all(untrained > 0.8 * np.log(LENGTH))  # spread over all 8 source letters
    assert np.min(final) < 0.25 * np.log(LENGTH)  # a head now reads one letter
    np.testing.assert_allclose(
        final, kv.attention.attention_entropy(kv.AttentionMaps(trained["model"])(trained["callback"].inputs)["cross_attention"]),
        rtol=1e-5,
    )


def test_bad_tokens_and_models_without_attention(tmp_path):
    ids = np.zeros((3, 5), np.int32)
    with pytest.raises(ValueError, match=r"`tokens`\[1\] has 4 tokens but the input sequence length is 5"):
        kvc.AttentionCallback(ids, tokens=[list("abcde"), list("abcd"), list("abcde")], log_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"`tokens` has 2 token list\(s\) but 3 input sample\(s\)"):
        kvc.AttentionCallback(ids, tokens=[list("abcde")] * 2, log_dir=str(tmp_path))
    with pytest.raises(TypeError, match=r"a list of lists"):
        kvc.AttentionCallback(ids, tokens=list("abcde"), log_dir=str(tmp_path))
    inputs = keras.Input((5,), dtype="int32")
    plain = keras.Model(inputs, layers.Dense(2)(layers.Flatten()(layers.Embedding(10, 4)(inputs))))
    plain.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = kvc.AttentionCallback(ids, log_dir=str(tmp_path), raise_errors=True)
    with pytest.raises(ValueError, match=r"has no attention layer"):
        plain.fit(ids, np.zeros(3), epochs=1, verbose=0, callbacks=[callback])


def test_two_token_inputs_label_each_axis_from_its_input_and_roll_out_self_attention(tmp_path):
    # Source and target of one length (a copy task): every matrix is 5 × 5, yet only the
    # encoder's self-attention is chained, and the decoder's axes get the target's tokens.
    src = keras.Input((5,), dtype="int32", name="src")
    tgt = keras.Input((5,), dtype="int32", name="tgt")
    x = layers.Embedding(10, 8)(src)
    x = x + layers.MultiHeadAttention(2, 4, name="enc_0")(x, x)
    x = x + layers.MultiHeadAttention(2, 4, name="enc_1")(x, x)
    y = layers.Embedding(10, 8)(tgt)
    y = y + layers.MultiHeadAttention(2, 4, name="cross")(y, x)
    model = keras.Model([src, tgt], layers.Dense(10)(y))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], np.int32)
    source = [list("abcde"), list("edcba")]
    target = [list("ABCDE"), list("EDCBA")]
    callback = kvc.AttentionCallback([ids, ids], tokens={0: source, 1: target}, log_dir=str(tmp_path),
                                     freq=1, raise_errors=True)
    model.fit([ids, ids], ids, epochs=1, verbose=0, callbacks=[callback])
    assert callback.labels("enc_1", 1, (5, 5)) == (source[1], source[1])
    assert callback.labels("cross", 1, (5, 5)) == (target[1], source[1])
    rollout = _events(tmp_path / "keras_viz").Tensors("attention/rollout")[-1]
    maps = kv.AttentionMaps(model)([ids, ids])
    expected = callback.rollout_picture(0, kv.attention_rollout(maps)[0], "enc_0")
    np.testing.assert_array_equal(_pngs(rollout)[0][: expected.shape[0], : expected.shape[1]], expected)
    np.testing.assert_allclose(kv.attention_rollout(maps), kv.attention_rollout([maps["enc_0"], maps["enc_1"]]), rtol=1e-6)
    with pytest.raises(ValueError, match=r"`tokens` names input 2; the fixed inputs are 0, 1"):
        kvc.AttentionCallback([ids, ids], tokens={2: source}, log_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"`tokens\[1\]`\[0\] has 4 tokens but the input sequence length is 5"):
        kvc.AttentionCallback([ids, ids], tokens={1: [list("abcd")] * 2}, log_dir=str(tmp_path))


def test_an_overlay_that_cannot_be_drawn_is_said_once(tmp_path):
    image = keras.Input((6, 4, 3))
    x = layers.Reshape((24, 3))(image)  # 24 keys: no square grid of patches
    x = layers.MultiHeadAttention(1, 3, name="rows")(x, x)
    model = keras.Model(image, layers.Dense(2)(layers.Flatten()(x)))
    model.compile("sgd", "mse")
    images = np.random.default_rng(0).uniform(size=(2, 6, 4, 3)).astype(np.float32)
    callback = kvc.AttentionCallback(images, log_dir=str(tmp_path), freq=1, raise_errors=True)
    with pytest.warns(RuntimeWarning, match=r"no image overlay for attention layer 'rows': .*24") as caught:
        model.fit(images, np.zeros((2, 2)), epochs=2, verbose=0, callbacks=[callback])
    assert sum("no image overlay" in str(w.message) for w in caught) == 1
