"""kv.AttentionMaps and kv.attention_rollout against Keras' own weights and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import keras
from keras import layers, ops

import keras_viz as kv
from keras_viz.attention import _error_summary, attention_entropy, capturing, fuse_heads

T, D, VOCAB = 6, 8, 20
IDS = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9], [3, 3, 1, 2, 0, 0]], np.int32)


def _direct(layer, *args, **kwargs):
    """What the layer returns when called directly with return_attention_scores=True."""
    _, scores = layer(*args, return_attention_scores=True, training=False, **kwargs)
    return np.asarray(scores)


def close(captured, direct):
    """Equal up to float rounding: the fused kernel scales logits after the product, the
    explicit path (return_attention_scores=True) the query before it."""
    np.testing.assert_allclose(captured, direct, rtol=1e-5, atol=1e-7)


def _embed(model, name, ids):
    return model.get_layer(name)(ids)  # eager: carries the Keras mask of mask_zero=True


# --------------------------------------------------------------------------- models


def mha_self_model(mask_zero=False, dropout=0.0):
    ids = keras.Input((T,), dtype="int32", name="ids")
    x = layers.Embedding(VOCAB, D, mask_zero=mask_zero, name="emb")(ids)
    a = layers.MultiHeadAttention(2, 4, dropout=dropout, name="mha")(x, x)
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling1D()(a))
    return keras.Model(ids, out, name="mha_self")


def mha_cross_model(mask_zero=False):
    queries = keras.Input((4,), dtype="int32", name="queries")
    keys = keras.Input((T,), dtype="int32", name="keys")
    q = layers.Embedding(VOCAB, D, mask_zero=mask_zero, name="q_emb")(queries)
    k = layers.Embedding(VOCAB, D, mask_zero=mask_zero, name="k_emb")(keys)
    a = layers.MultiHeadAttention(3, 4, name="cross")(q, k)
    return keras.Model([queries, keys], layers.Dense(2)(layers.Flatten()(a)), name="mha_cross")


def dot_attention_model(kind, mask_zero=False):
    queries = keras.Input((4,), dtype="int32", name="queries")
    keys = keras.Input((T,), dtype="int32", name="keys")
    q = layers.Embedding(VOCAB, D, mask_zero=mask_zero, name="q_emb")(queries)
    k = layers.Embedding(VOCAB, D, mask_zero=mask_zero, name="k_emb")(keys)
    a = kind(name="att")([q, k])
    return keras.Model([queries, keys], layers.Dense(2)(layers.Flatten()(a)), name=f"{kind.__name__}_model")


CROSS_IDS = [np.array([[1, 2, 0, 0], [3, 4, 5, 6]], np.int32), np.array([[1, 2, 3, 4, 0, 0], [5, 6, 7, 8, 9, 1]], np.int32)]


# --------------------------------------------------------------------------- equality with Keras


@pytest.mark.parametrize("mask_zero", [False, True], ids=["no_mask", "mask"])
def test_mha_self_attention_equals_return_attention_scores(mask_zero):
    model = mha_self_model(mask_zero)
    maps = kv.AttentionMaps(model)(IDS)
    assert list(maps) == ["mha"] and maps["mha"].dtype == np.float32 and maps["mha"].shape == (3, 2, T, T)
    x = _embed(model, "emb", IDS)
    close(maps["mha"], _direct(model.get_layer("mha"), x, x))
    if mask_zero:
        # Fully masked query rows are all zero; masked keys get no weight.
        assert np.all(maps["mha"][0, :, 3:, :] == 0)
        assert np.all(maps["mha"][0, :, :3, 3:] == 0)
        np.testing.assert_allclose(maps["mha"][0, :, :3].sum(-1), 1.0, rtol=1e-5)
    else:
        np.testing.assert_allclose(maps["mha"].sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("mask_zero", [False, True], ids=["no_mask", "mask"])
def test_mha_cross_attention_equals_return_attention_scores(mask_zero):
    model = mha_cross_model(mask_zero)
    maps = kv.AttentionMaps(model)(CROSS_IDS)
    assert maps["cross"].shape == (2, 3, 4, T)
    assert (maps.kinds, maps.query_inputs, maps.key_inputs) == ({"cross": "cross"}, {"cross": (0,)}, {"cross": (1,)})
    q, k = _embed(model, "q_emb", CROSS_IDS[0]), _embed(model, "k_emb", CROSS_IDS[1])
    close(maps["cross"], _direct(model.get_layer("cross"), q, k))
    if mask_zero:
        assert np.all(maps["cross"][0, :, 2:] == 0)  # padded queries
        assert np.all(maps["cross"][0, :, :2, 4:] == 0)  # padded keys


@pytest.mark.parametrize("kind", [layers.Attention, layers.AdditiveAttention])
@pytest.mark.parametrize("mask_zero", [False, True], ids=["no_mask", "mask"])
def test_attention_and_additive_attention_equal_their_scores(kind, mask_zero):
    model = dot_attention_model(kind, mask_zero)
    maps = kv.AttentionMaps(model)(CROSS_IDS)
    assert maps["att"].shape == (2, 1, 4, T)  # heads = 1
    q, k = _embed(model, "q_emb", CROSS_IDS[0]), _embed(model, "k_emb", CROSS_IDS[1])
    np.testing.assert_allclose(maps["att"][:, 0], _direct(model.get_layer("att"), [q, k]), rtol=1e-6, atol=1e-7)
    if mask_zero:
        assert np.all(maps["att"][0, 0, :, 4:] < 1e-6)


def test_dropout_scores_are_pre_dropout_and_inference_mode():
    model = mha_self_model(dropout=0.5)  # the explicit path; dropout must not reach the weights
    first, second = (kv.AttentionMaps(model)(IDS)["mha"] for _ in range(2))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first.sum(-1), 1.0, rtol=1e-5)


class Block(layers.Layer):
    """A Transformer block as a custom layer: the MHA sits inside it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.attention = layers.MultiHeadAttention(2, 4, name="inner_mha")
        self.norm = layers.LayerNormalization()

    def call(self, x):
        return self.norm(x + self.attention(x, x))


class SubclassedTransformer(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.emb = layers.Embedding(VOCAB, D, name="emb")
        self.block = Block(name="block")
        self.pool = layers.GlobalAveragePooling1D()
        self.out = layers.Dense(3)

    def call(self, ids):
        return self.out(self.pool(self.block(self.emb(ids))))


def nested_model():
    inner_in = keras.Input((T, D))
    inner = keras.Model(inner_in, layers.MultiHeadAttention(2, 4, name="inner_mha")(inner_in, inner_in), name="encoder")
    ids = keras.Input((T,), dtype="int32")
    x = layers.Embedding(VOCAB, D, name="emb")(ids)
    return keras.Model(ids, layers.Dense(3)(layers.GlobalAveragePooling1D()(inner(x))), name="nested")


def sequential_model():
    return keras.Sequential([keras.Input((T,), dtype="int32"), layers.Embedding(VOCAB, D, name="emb"),
                             Block(name="block"), layers.GlobalAveragePooling1D(), layers.Dense(3)], name="seq")


@pytest.mark.parametrize(
    "build, path",
    [(nested_model, "encoder/inner_mha"), (sequential_model, "block/inner_mha"),
     (lambda: SubclassedTransformer(name="sub"), "block/inner_mha")],
    ids=["nested", "sequential", "subclassed"],
)
def test_every_model_kind_and_outputs_bit_identical(build, path):
    model = build()
    model(IDS)
    maps = kv.AttentionMaps(model)(IDS)
    assert list(maps) == [path]
    assert (maps.kinds, maps.query_inputs, maps.key_inputs) == ({path: "self"}, {path: (0,)}, {path: (0,)})
    inner = kv.find_layer(model, path)
    x = _embed(model, "emb", IDS)
    close(maps[path], _direct(inner, x, x))

    # The model's outputs are bit-identical with and without capture (same graph mode).
    plain = tf.function(lambda ids: model(ids, training=False))

    @tf.function
    def captured(ids):
        found = []
        with capturing([inner], found):
            outputs = model(ids, training=False)
        return outputs, [w for _, w in found]

    outputs, weights = captured(tf.constant(IDS))
    np.testing.assert_array_equal(plain(tf.constant(IDS)).numpy(), outputs.numpy())
    np.testing.assert_array_equal(weights[0].numpy(), maps[path])


@pytest.mark.parametrize("mask_zero", [False, True], ids=["no_mask", "mask"])
def test_fused_path_is_read_from_the_graph_and_eager_capture_asks_the_layer(mask_zero):
    model = mha_self_model(mask_zero)
    layer = model.get_layer("mha")
    # Traced: the fused kernel's own softmax is read; no second softmax is computed.
    function = tf.function(lambda ids: model(ids, training=False)).get_concrete_function(tf.TensorSpec((None, T), tf.int32))
    captured = []

    def traced(ids):
        found = []
        with capturing([layer], found):
            model(ids, training=False)
        return [w for _, w in found]

    with_capture = tf.function(traced).get_concrete_function(tf.TensorSpec((None, T), tf.int32))
    softmaxes = [sum(op.type == "Softmax" for op in f.graph.get_operations()) for f in (function, with_capture)]
    assert softmaxes == [1, 1]
    # Eager (no graph to read): the layer is asked for its scores, exactly Keras' numbers.
    with capturing([layer], captured):
        model(IDS, training=False)
    x = _embed(model, "emb", IDS)
    np.testing.assert_array_equal(captured[0][1].numpy(), _direct(layer, x, x))
    close(kv.AttentionMaps(model)(IDS)["mha"], captured[0][1].numpy())


def test_model_is_not_changed_and_batches_agree():
    model = mha_self_model()
    before = [w.copy() for w in model.get_weights()]
    layer = model.get_layer("mha")
    attributes = set(vars(layer))
    whole = kv.AttentionMaps(model)(IDS)["mha"]
    parts = kv.AttentionMaps(model, batch_size=1)(IDS)["mha"]
    np.testing.assert_allclose(whole, parts, rtol=1e-6, atol=1e-7)
    assert set(vars(layer)) == attributes and "_compute_attention" not in vars(layer)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_shared_layer_gives_one_map_per_call_and_grouped_query_attention():
    ids = keras.Input((T,), dtype="int32")
    x = layers.Embedding(VOCAB, D, name="emb")(ids)
    shared = layers.MultiHeadAttention(2, 4, name="shared")
    x = shared(shared(x, x), x)
    x = layers.GroupQueryAttention(4, 4, 2, name="gqa")(x, x)
    model = keras.Model(ids, x)
    maps = kv.AttentionMaps(model)(IDS)
    assert list(maps) == ["shared", "shared#1", "gqa"]
    assert maps["gqa"].shape == (3, 4, T, T)
    np.testing.assert_allclose(maps["gqa"].sum(-1), 1.0, rtol=1e-5)


def test_attention_over_two_axes_is_flattened():
    image = keras.Input((3, 4, D))
    model = keras.Model(image, layers.MultiHeadAttention(2, 4, attention_axes=(1, 2), name="mha2d")(image, image))
    x = np.random.default_rng(0).normal(size=(2, 3, 4, D)).astype(np.float32)
    weights = kv.AttentionMaps(model)(x)["mha2d"]
    assert weights.shape == (2, 2, 12, 12)
    direct = _direct(model.get_layer("mha2d"), x, x)  # (N, heads, 3, 4, 3, 4)
    np.testing.assert_array_equal(weights, direct.reshape(2, 2, 12, 12))


class OwnAttention(layers.Layer):
    """A user's layer exposing its weights through the documented class attribute."""

    keras_viz_attention = ("attend", 1)

    def attend(self, query, key):
        weights = ops.softmax(ops.einsum("bqd,bkd->bqk", query, key), axis=-1)
        return ops.einsum("bqk,bkd->bqd", weights, key), weights

    def call(self, query, key):
        return self.attend(query, key)[0]


def test_custom_layer_exposes_its_weights_through_the_hook():
    q_in, k_in = keras.Input((4, D)), keras.Input((T, D))
    model = keras.Model([q_in, k_in], OwnAttention(name="own")(q_in, k_in))
    rng = np.random.default_rng(1)
    q, k = rng.normal(size=(2, 4, D)).astype(np.float32), rng.normal(size=(2, T, D)).astype(np.float32)
    weights = kv.AttentionMaps(model)([q, k])["own"]
    scores = np.einsum("bqd,bkd->bqk", q, k)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    np.testing.assert_allclose(weights[:, 0], expected / expected.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_boolean_attention_mask_input_is_passed_through():
    # A model input of dtype bool (an attention mask, as Keras' own Transformer examples
    # build it) reaches the model as booleans; integer ids stay integers.
    ids = keras.Input((T,), dtype="int32", name="ids")
    mask = keras.Input((T, T), dtype="bool", name="attention_mask")
    x = layers.Embedding(VOCAB, D, name="emb")(ids)
    a = layers.MultiHeadAttention(2, 4, name="mha")(x, x, attention_mask=mask)
    model = keras.Model([ids, mask], layers.Dense(3)(layers.GlobalAveragePooling1D()(a)))
    banded = np.abs(np.arange(T)[:, None] - np.arange(T)[None]) <= 1
    masks = np.stack([banded, np.tril(np.ones((T, T), bool)), np.ones((T, T), bool)])
    maps = kv.AttentionMaps(model)([IDS, masks])
    x = _embed(model, "emb", IDS)
    close(maps["mha"], _direct(model.get_layer("mha"), x, x, attention_mask=masks))
    assert np.all(maps["mha"][:, :, ~banded][0] == 0) and np.all(maps["mha"][1][:, ~np.tril(np.ones((T, T), bool))] == 0)
    as_numbers = kv.AttentionMaps(model)([IDS, masks.astype(np.int32)])  # 0/1 numbers are taken as booleans
    np.testing.assert_array_equal(as_numbers["mha"], maps["mha"])
    features = kv.FeatureMaps(model, ["mha"])([IDS, masks])["mha"]
    np.testing.assert_allclose(features, model.get_layer("mha")(x, x, attention_mask=masks), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"`inputs\[1\]` feeds a boolean model input .* other than 0 and 1"):
        kv.AttentionMaps(model)([IDS, masks * 2.0])
    with pytest.raises(TypeError, match=r"`inputs\[1\]` has dtype bool; explainers take"):
        kv.Saliency(model)([IDS, masks])  # explainers keep their checks


def encoder_decoder():
    """Source and target of equal length (a copy task): every attention matrix is T × T."""
    src = keras.Input((T,), dtype="int32", name="src")
    tgt = keras.Input((T,), dtype="int32", name="tgt")
    x = layers.Embedding(VOCAB, D, name="src_emb")(src)
    for i in range(2):
        x = layers.LayerNormalization()(x + layers.MultiHeadAttention(2, 4, name=f"enc_{i}")(x, x))
    y = layers.Embedding(VOCAB, D, name="tgt_emb")(tgt)
    for i in range(2):
        y = y + layers.MultiHeadAttention(2, 4, name=f"dec_self_{i}")(y, y, use_causal_mask=True)
        y = layers.LayerNormalization()(y + layers.MultiHeadAttention(2, 4, name=f"cross_{i}")(y, x))
    z = layers.Attention(name="luong_self")([y, y])  # Attention([x, x]) is self-attention too
    return keras.Model([src, tgt], layers.Dense(VOCAB)(z), name="copy_transformer")


def test_kinds_and_axis_sources_of_an_encoder_decoder_of_equal_lengths():
    model = encoder_decoder()
    maps = kv.AttentionMaps(model)([IDS, IDS[::-1].copy()])  # capture result, a dict with the wiring
    assert isinstance(maps, dict) and all(w.shape[2:] == (T, T) for w in maps.values())
    cross = {"cross_0", "cross_1"}
    assert maps.kinds == {name: "cross" if name in cross else "self" for name in maps}
    # Query positions: the decoder's stay the target's through its cross-attention layers.
    assert maps.query_inputs == {name: (0,) if name.startswith("enc") else (1,) for name in maps}
    assert maps.key_inputs == {name: (0,) if name.startswith("enc") or name in cross else (1,) for name in maps}
    # Rollout chains one stack of self-attention layers over one sequence, never
    # cross-attention: by default the largest, the decoder's 3 (the encoder has 2).
    assert kv.attention.self_attention_stack(maps) == ["dec_self_0", "dec_self_1", "luong_self"]
    np.testing.assert_allclose(
        kv.attention_rollout(maps), kv.attention_rollout([maps[n] for n in ("dec_self_0", "dec_self_1", "luong_self")]), rtol=1e-6
    )
    encoder = kv.attention_rollout(maps, layers=["enc_0", "enc_1"])
    np.testing.assert_allclose(encoder, kv.attention_rollout([maps["enc_0"], maps["enc_1"]]), rtol=1e-6)
    only_cross = kv.AttentionMaps(model, ["cross_0", "cross_1"])([IDS, IDS])
    with pytest.raises(ValueError, match=r"holds no self-attention layer to roll out \(cross_0 \(cross\), cross_1 \(cross\)\)"):
        kv.attention_rollout(only_cross)
    with pytest.raises(ValueError, match=r"`layers` names 'enc_9', not in `maps`"):
        kv.attention_rollout(maps, layers=["enc_9"])
    capture = kv.AttentionMaps(model)
    capture([IDS, IDS])
    assert capture.kinds == maps.kinds and capture.query_inputs == maps.query_inputs


def test_axis_sources_of_learned_queries_summed_inputs_and_custom_layers():
    from keras_viz.attention_demo import LearnedQueries

    ids = keras.Input((T,), dtype="int32", name="ids")
    segments = keras.Input((T,), dtype="int32", name="segments")
    x = layers.Embedding(VOCAB, D)(ids) + layers.Embedding(2, D)(segments)  # BERT's token + segment
    x = x + layers.MultiHeadAttention(2, 4, name="self")(x, x)
    queries = LearnedQueries(3, D, name="queries")(x)  # shaped by the batch, valued by weights
    pooled = layers.MultiHeadAttention(2, 4, name="pool")(queries, x)
    own = OwnAttention(name="own")(pooled, x)
    model = keras.Model([ids, segments], own)
    maps = kv.AttentionMaps(model)([IDS, (IDS > 2).astype(np.int32)])
    assert maps.kinds == {"self": "self", "pool": "cross", "own": "cross"}
    assert maps.query_inputs == {"self": (0, 1), "pool": (), "own": ()}
    assert maps.key_inputs == {"self": (0, 1), "pool": (0, 1), "own": (0, 1)}
    assert kv.attention.self_attention_stack(maps) == ["self"]


# --------------------------------------------------------------------------- errors


def test_flash_attention_is_refused_naming_the_layer():
    ids = keras.Input((T,), dtype="int32")
    x = layers.Embedding(VOCAB, D)(ids)
    x = layers.MultiHeadAttention(2, 4, flash_attention=True, name="fast_mha")(x, x)
    model = keras.Model(ids, x)
    with pytest.raises(ValueError, match=r"'fast_mha' .*flash attention.*flash_attention=False"):
        kv.AttentionMaps(model)


def test_model_without_attention_and_bad_layers():
    ids = keras.Input((T,), dtype="int32")
    plain = keras.Model(ids, layers.Dense(2)(layers.Flatten()(layers.Embedding(VOCAB, D, name="emb")(ids))))
    with pytest.raises(ValueError, match=r"has no attention layer .*MultiHeadAttention"):
        kv.AttentionMaps(plain)
    model = mha_self_model()
    with pytest.raises(ValueError, match=r"'emb' is a Embedding, not an attention layer.*: mha"):
        kv.AttentionMaps(model, ["emb"])
    with pytest.raises(ValueError, match=r"Unknown layer 'mah'"):
        kv.AttentionMaps(model, ["mah"])
    with pytest.raises(ValueError, match=r"shape \(3, 5\) but the model expects \(None, 6\)"):
        kv.AttentionMaps(model)(IDS[:, :5])


def test_token_ids_outside_the_vocabulary_are_named_not_dumped():
    model = mha_cross_model()
    bad = [CROSS_IDS[0], np.where(CROSS_IDS[1] == 9, VOCAB, CROSS_IDS[1])]  # in the second sample
    with pytest.raises(ValueError, match=r"^`inputs\[1\]` holds token id 20, outside the vocabulary of embedding layer 'k_emb' \(ids 0..19\)\.$"):
        kv.AttentionMaps(model)(bad)
    capture = kv.AttentionMaps(model, batch_size=1)
    capture(CROSS_IDS)  # traced on good ids; a later bad batch is caught before it runs
    with pytest.raises(ValueError, match=r"^`inputs\[0\]` holds token id -3"):
        capture([np.where(CROSS_IDS[0] == 6, -3, CROSS_IDS[0]), CROSS_IDS[1]])
    dump = tf.errors.InvalidArgumentError(None, None, "Graph execution error:\n\nDetected at node x defined at (most recent call last):\n  File \"a.py\", line 1, in <module>\n\nindices[1,4] = 20 is not in [0, 20)\n\t [[{{node x}}]] [Op:__inference_body_9]")
    assert _error_summary(dump) == "indices[1,4] = 20 is not in [0, 20)"


# --------------------------------------------------------------------------- rollout, entropy


def test_rollout_equals_a_hand_computation_on_two_layers():
    a1 = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    a2 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    # Two heads whose mean is a1 (resp. a2), as AttentionMaps returns them: (N=1, heads=2, T, T).
    layer1 = np.stack([a1 + 0.1 * np.array([[0, 0, 0], [1, -1, 0], [0, 1, -1]]), a1 - 0.1 * np.array([[0, 0, 0], [1, -1, 0], [0, 1, -1]])])[None]
    layer2 = np.stack([a2, a2])[None]
    residual1 = (0.5 * a1 + 0.5 * np.eye(3)) / (0.5 * a1 + 0.5 * np.eye(3)).sum(1, keepdims=True)
    residual2 = (0.5 * a2 + 0.5 * np.eye(3)) / (0.5 * a2 + 0.5 * np.eye(3)).sum(1, keepdims=True)
    expected = residual2 @ residual1  # later layer on the left: output <- input
    # By hand, row 0: Â2[0] = [0.5, 0.5, 0]; Â1 rows 0, 1 = [1, 0, 0], [0.25, 0.75, 0].
    np.testing.assert_allclose(expected[0], [0.625, 0.375, 0.0])
    rolled = kv.attention_rollout({"l1": layer1, "l2": layer2})
    assert rolled.shape == (1, 3, 3) and rolled.dtype == np.float32
    np.testing.assert_allclose(rolled[0], expected, rtol=1e-6)
    np.testing.assert_allclose(kv.attention_rollout([a1, a2], residual=False), a2 @ a1, rtol=1e-6)
    np.testing.assert_allclose(fuse_heads(layer1, "max")[0, 1], [0.6, 0.6, 0.0])  # heads [.6 .4 0], [.4 .6 0]


def test_pointer_task_answer_and_the_rollout_of_its_classifier_are_self_attention():
    """The pointer task's label is the letter after its one marker; its classifier's two
    blocks are captured as self-attention and rolled out in order (the gallery's rollout)."""
    from keras_viz.attention_demo import (
        POINTER_MARK, build_pointer_classifier, make_pointer_task, pointer_tokens,
    )

    tokens, labels, answer = make_pointer_task(64, length=7, letters=5, seed=3)
    assert tokens.shape == (64, 7) and np.all(tokens[:, 0] == 0)
    assert np.all((tokens == POINTER_MARK).sum(axis=1) == 1)
    marks = np.argmax(tokens == POINTER_MARK, axis=1)
    np.testing.assert_array_equal(answer, marks + 1)
    np.testing.assert_array_equal(labels, tokens[np.arange(64), answer] - 2)
    assert labels.min() >= 0 and labels.max() < 5
    assert pointer_tokens(tokens[0])[0] == "[cls]" and "#" in pointer_tokens(tokens[0])
    with pytest.raises(ValueError, match="`length`"):
        make_pointer_task(4, length=3)
    model = build_pointer_classifier(7, 5, dim=8, heads=2)
    maps = kv.AttentionMaps(model)(tokens[:4])
    assert list(maps) == ["block_1_attention", "block_2_attention"]
    assert maps.kinds == {"block_1_attention": "self", "block_2_attention": "self"}
    expected = kv.attention_rollout([maps["block_1_attention"], maps["block_2_attention"]])
    np.testing.assert_allclose(kv.attention_rollout(maps), expected, rtol=1e-6)


def test_rollout_guards_fully_masked_rows_and_checks_shapes():
    masked = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.0]])  # row 1: a masked query
    with np.errstate(all="raise"):
        plain = kv.attention_rollout([masked, masked], residual=False)
        residual = kv.attention_rollout([masked, masked])
    np.testing.assert_array_equal(plain[1], 0.0)
    np.testing.assert_allclose(residual[1], [0.0, 1.0, 0.0])  # the identity row
    assert np.all(np.isfinite(residual))
    with pytest.raises(ValueError, match=r"cross-attention cannot be chained"):
        kv.attention_rollout([np.ones((1, 2, 4, 6)) / 6])
    with pytest.raises(ValueError, match=r"disagree in shape"):
        kv.attention_rollout([np.eye(3), np.eye(4)])
    with pytest.raises(ValueError, match=r"`head_fusion`='median'"):
        kv.attention_rollout([np.ones((2, 3, 3)) / 3], head_fusion="median")
    with pytest.raises(ValueError, match="empty"):
        kv.attention_rollout({})


def test_attention_entropy_per_head():
    uniform = np.full((4, 4), 0.25)
    one_hot = np.eye(4)
    weights = np.stack([uniform, one_hot])[None]  # (1, 2 heads, 4, 4)
    weights = np.concatenate([weights, weights])
    weights[1, :, 3] = 0.0  # a fully masked query is left out
    np.testing.assert_allclose(attention_entropy(weights), [np.log(4), 0.0], rtol=1e-6, atol=1e-7)


def test_causal_masks_of_both_layer_kinds():
    ids = keras.Input((T,), dtype="int32")
    x = layers.Embedding(VOCAB, D, name="emb")(ids)
    a = layers.MultiHeadAttention(2, 4, name="causal_mha")(x, x, use_causal_mask=True)
    b = layers.Attention(name="causal_att")([a, a], use_causal_mask=True)
    model = keras.Model(ids, b)
    maps = kv.AttentionMaps(model)(IDS)
    upper = np.triu(np.ones((T, T), bool), k=1)
    for name in maps:
        assert np.all(maps[name][..., upper] < 1e-6), name  # no query looks ahead
    x = _embed(model, "emb", IDS)
    close(maps["causal_mha"], _direct(model.get_layer("causal_mha"), x, x, use_causal_mask=True))
