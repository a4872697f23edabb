"""Token-id models: gradient methods at the embedding output, occlusion with a mask token.

Ground truth from a hand-weighted bag-of-embeddings model: with embeddings ``E_t = W[id_t]``,
mean pooling over ``T`` tokens and a dense layer ``K``, the logit of class ``c`` is
``S = (1/T) Σ_t E_t · K[:, c] + b_c``, so ``∂S/∂E_t = K[:, c] / T`` for every token.
"""

from __future__ import annotations

import numpy as np
import pytest
import keras
from keras import layers, ops

import keras_viz as kv

VOCAB, DIM, T, CLASSES = 7, 3, 5, 2
RNG = np.random.default_rng(0)
TABLE = RNG.normal(size=(VOCAB, DIM)).astype(np.float32)
KERNEL = RNG.normal(size=(DIM, CLASSES)).astype(np.float32)
BIAS = np.array([0.3, -0.2], np.float32)
IDS = np.array([[1, 2, 3, 4, 5], [6, 6, 1, 0, 2], [3, 1, 4, 1, 5]], np.int32)


def bag_model(activation=None, mask_zero=False):
    ids = keras.Input((T,), dtype="int32", name="ids")
    x = layers.Embedding(VOCAB, DIM, mask_zero=mask_zero, name="embedding")(ids)
    x = layers.GlobalAveragePooling1D(name="mean")(x)
    out = layers.Dense(CLASSES, activation=activation, name="head")(x)
    model = keras.Model(ids, out, name="bag")
    model.get_layer("embedding").set_weights([TABLE])
    model.get_layer("head").set_weights([KERNEL, BIAS])
    return model


def logits_by_hand(ids, table=TABLE):
    return table[ids].mean(axis=1) @ KERNEL + BIAS


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def bag():
    return bag_model()


def test_saliency_is_the_l2_norm_of_the_closed_form_gradient(bag):
    maps = kv.Saliency(bag)(IDS, targets=1)
    assert maps.shape == (3, T) and maps.dtype == np.float32
    np.testing.assert_allclose(maps, np.full((3, T), np.linalg.norm(KERNEL[:, 1]) / T), rtol=1e-5)
    signed = kv.Saliency(bag, reduce=None)(IDS, targets=0)  # the raw gradient per embedding unit
    np.testing.assert_allclose(signed, np.broadcast_to(KERNEL[:, 0] / T, (3, T, DIM)), rtol=1e-5)


def test_gradient_input_and_integrated_gradients_match_the_closed_form(bag):
    expected = TABLE[IDS] @ KERNEL[:, 1] / T  # E_t · K[:, c] / T, per token
    np.testing.assert_allclose(kv.GradientInput(bag)(IDS, targets=1), expected, rtol=1e-5, atol=1e-6)
    # The model is linear in E, so IG from the zero embedding equals gradient × input.
    ig = kv.IntegratedGradients(bag, steps=8)(IDS, targets=1)
    np.testing.assert_allclose(ig, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ig.sum(1), logits_by_hand(IDS)[:, 1] - BIAS[1], rtol=1e-5)


def test_smoothgrad_of_a_constant_gradient_is_that_gradient(bag):
    maps = kv.SmoothGrad(bag, samples=6, noise_level=0.3)(IDS, targets=0)
    np.testing.assert_allclose(maps, np.full((3, T), np.linalg.norm(KERNEL[:, 0]) / T), rtol=1e-5)


def test_integrated_gradients_completeness_on_a_nonlinear_masked_model():
    model = bag_model(activation="tanh", mask_zero=True)  # masked mean over the non-pad tokens
    explanation = kv.IntegratedGradients(model, steps=64, use_logits=False).explain(IDS, targets=0)
    pads = IDS == 0
    assert np.all(explanation.maps[pads] == 0)  # masked tokens do not count
    # F(E) - F(baseline): the masked mean of the zero embedding is 0, so F(0) = tanh(b).
    expected = explanation.scores - np.tanh(BIAS[0])
    np.testing.assert_allclose(explanation.maps.sum(1), expected, rtol=1e-2)

    # From the embedding of a pad token at every position (the real ids still give the mask).
    pad = 6
    from_pad = kv.IntegratedGradients(model, steps=64, baseline_token=pad, use_logits=False).explain(IDS, targets=0)
    baseline = np.tanh(TABLE[pad] @ KERNEL[:, 0] + BIAS[0])  # the mean of equal vectors is that vector
    np.testing.assert_allclose(from_pad.maps.sum(1), from_pad.scores - baseline, rtol=1e-2)


def test_occlusion_of_a_token_equals_the_score_drop_by_hand(bag):
    model = bag_model(activation="softmax")
    mask_token = 0
    maps = kv.Occlusion(model, mask_token=mask_token)(IDS, targets=1)
    assert maps.shape == (3, T)
    base = softmax(logits_by_hand(IDS))[:, 1]
    for t in range(T):
        occluded = IDS.copy()
        occluded[:, t] = mask_token
        np.testing.assert_allclose(maps[:, t], base - softmax(logits_by_hand(occluded))[:, 1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(maps[1, 3], 0.0, atol=1e-7)  # that token already is the mask token


def test_batch_size_invariance_and_the_model_is_unchanged(bag):
    before = [w.copy() for w in bag.get_weights()]
    for method in (kv.Saliency, kv.GradientInput, kv.IntegratedGradients, kv.SmoothGrad):
        whole = method(bag)(IDS, targets=[0, 1, 0])
        parts = method(bag, batch_size=1)(IDS, targets=[0, 1, 0])
        np.testing.assert_allclose(whole, parts, rtol=1e-5, atol=1e-6, err_msg=method.__name__)
    for old, new in zip(before, bag.get_weights()):
        np.testing.assert_array_equal(old, new)


class Positions(layers.Layer):
    def build(self, shape):
        self.table = self.add_weight(shape=(shape[1], shape[2]), initializer="ones", name="table")

    def call(self, x):
        return x + self.table


def test_embedding_layer_option_and_mixed_inputs():
    ids = keras.Input((T,), dtype="int32", name="ids")
    extra = keras.Input((2,), name="extra")
    x = layers.Embedding(VOCAB, DIM, name="embedding")(ids)
    x = Positions(name="positions")(x)
    x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), extra])
    model = keras.Model([ids, extra], layers.Dense(CLASSES, name="head")(x))
    features = RNG.normal(size=(3, 2)).astype(np.float32)
    maps = kv.GradientInput(model)([IDS, features], targets=0)
    assert [m.shape for m in maps] == [(3, T), (3, 2)]  # tokens per token, floats per feature
    kernel = model.get_layer("head").get_weights()[0]
    np.testing.assert_allclose(maps[1], features * kernel[DIM:, 0], rtol=1e-5)
    table = model.get_layer("embedding").get_weights()[0]
    np.testing.assert_allclose(maps[0], table[IDS] @ kernel[:DIM, 0] / T, rtol=1e-5, atol=1e-6)
    # At the positions layer's output instead: E + 1 per unit.
    at_positions = kv.GradientInput(model, embedding_layer="positions")([IDS, features], targets=0)
    np.testing.assert_allclose(at_positions[0], (table[IDS] + 1.0) @ kernel[:DIM, 0] / T, rtol=1e-5, atol=1e-6)
    group = kv.ExplainerGroup([kv.Saliency(model), kv.GradientInput(model)])(([IDS, features]), targets=0)
    np.testing.assert_allclose(group[1][0], maps[0], rtol=1e-6)


def test_guided_rules_need_relus_and_feature_maps_take_tokens(bag):
    with pytest.raises(ValueError, match=r"guided_backprop .*no ReLU.*Use Saliency"):
        kv.GuidedBackprop(bag)(IDS)
    ids = keras.Input((T,), dtype="int32")
    x = layers.Dense(4, activation="relu", name="hidden")(layers.Embedding(VOCAB, DIM)(ids))
    relu_model = keras.Model(ids, layers.Dense(CLASSES)(layers.GlobalAveragePooling1D()(x)))
    assert kv.GuidedBackprop(relu_model)(IDS).shape == (3, T)
    maps = kv.FeatureMaps(bag, ["embedding", "mean"])(IDS)
    np.testing.assert_allclose(maps["embedding"], TABLE[IDS])
    np.testing.assert_allclose(maps["mean"], TABLE[IDS].mean(1), rtol=1e-6)


def test_token_input_errors(bag):
    # In the first sample: caught by the model's probe, or, when the probe of this input
    # signature is already shared from an earlier call, by the id check.
    with pytest.raises(ValueError, match=r"(?s)could not be called on `inputs`.* 9 is not in \[0, 7\)|token id 9, outside"):
        kv.Saliency(bag)(np.where(IDS == 5, 9, IDS))
    with pytest.raises(ValueError, match=r"token id 9, outside the vocabulary of embedding layer 'embedding' \(ids 0..6\)"):
        kv.Saliency(bag)(np.where(IDS == 6, 9, IDS))  # in a later sample
    with pytest.raises(ValueError, match=r"not whole numbers"):
        kv.Saliency(bag)(IDS + 0.5)
    with pytest.raises(ValueError, match=r"shape \(3, 4\) but the model expects \(None, 5\)"):
        kv.Saliency(bag)(IDS[:, :4])
    with pytest.raises(ValueError, match=r"Unknown layer 'embeding'"):
        kv.Saliency(bag, embedding_layer="embeding")
    image = keras.Input((4,))
    dense = keras.Model(image, layers.Dense(2)(image))
    with pytest.raises(ValueError, match=r"`baseline_token`=0 applies to token-id inputs"):
        kv.IntegratedGradients(dense, baseline_token=0)(np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match=r"`mask_token` must be a non-negative token id"):
        kv.Occlusion(bag, mask_token=-1)


class SubclassedBag(keras.Model):
    """The bag model as a subclassed model: it declares no input dtype."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embedding = layers.Embedding(VOCAB, DIM, name="embedding")
        self.pool = layers.GlobalAveragePooling1D()
        self.head = layers.Dense(CLASSES, name="head")

    def call(self, ids):
        return self.head(self.pool(self.embedding(ids)))


def test_subclassed_token_model_and_mixed_occlusion(bag):
    model = SubclassedBag()
    model(IDS)
    model.embedding.set_weights([TABLE])
    model.head.set_weights([KERNEL, BIAS])
    np.testing.assert_allclose(kv.GradientInput(model)(IDS, targets=1), kv.GradientInput(bag)(IDS, targets=1), rtol=1e-5)
    np.testing.assert_allclose(kv.Occlusion(model, mask_token=0, use_logits=True)(IDS, targets=1),
                               kv.Occlusion(bag, mask_token=0, use_logits=True)(IDS, targets=1), rtol=1e-5, atol=1e-6)

    ids = keras.Input((T,), dtype="int32")
    extra = keras.Input((8,))
    pooled = layers.GlobalAveragePooling1D()(layers.Embedding(VOCAB, DIM)(ids))
    mixed = keras.Model([ids, extra], layers.Dense(CLASSES)(layers.Concatenate()([pooled, extra])))
    features = RNG.normal(size=(3, 8)).astype(np.float32)
    token_map, feature_map = kv.Occlusion(mixed, mask_token=0, fill=0.0, use_logits=True)([IDS, features], targets=0)
    assert token_map.shape == (3, T) and feature_map.shape == (3, 8)
    kernel = mixed.layers[-1].get_weights()[0]
    # Features are occluded one at a time too (8 // 8 = 1): the drop is the feature's term.
    np.testing.assert_allclose(feature_map, features * kernel[DIM:, 0], rtol=1e-4, atol=1e-5)


def test_sequential_and_nested_token_models_match_the_functional_one(bag):
    expected = kv.IntegratedGradients(bag, steps=4)(IDS, targets=0)
    sequential = keras.Sequential([keras.Input((T,), dtype="int32"), layers.Embedding(VOCAB, DIM, name="embedding"),
                                   layers.GlobalAveragePooling1D(), layers.Dense(CLASSES, name="head")])
    inner_ids = keras.Input((T,), dtype="int32")
    encoder = keras.Model(inner_ids, layers.GlobalAveragePooling1D()(layers.Embedding(VOCAB, DIM, name="embedding")(inner_ids)),
                          name="encoder")
    outer_ids = keras.Input((T,), dtype="int32")
    nested = keras.Model(outer_ids, layers.Dense(CLASSES, name="head")(encoder(outer_ids)))
    for model in (sequential, nested):
        kv.find_layer(model, "embedding").set_weights([TABLE])
        kv.find_layer(model, "head").set_weights([KERNEL, BIAS])
        np.testing.assert_allclose(kv.IntegratedGradients(model, steps=4)(IDS, targets=0), expected, rtol=1e-5, atol=1e-6)
    assert kv.Saliency(nested, embedding_layer="encoder/embedding")(IDS).shape == (3, T)


def two_token_model():
    """``mean(E_src[src]) · K_s + mean(E_tgt[tgt]) · K_t``: two token inputs with their own tables."""
    src = keras.Input((T,), dtype="int32", name="src")
    tgt = keras.Input((T,), dtype="int32", name="tgt")
    pooled = [layers.GlobalAveragePooling1D()(layers.Embedding(size, DIM, name=name)(ids))
              for ids, size, name in ((src, VOCAB, "emb_src"), (tgt, VOCAB + 2, "emb_tgt"))]
    model = keras.Model([src, tgt], layers.Dense(CLASSES, name="head")(layers.Concatenate()(pooled)))
    tables = [RNG.normal(size=(VOCAB, DIM)), RNG.normal(size=(VOCAB + 2, DIM))]
    model.get_layer("emb_src").set_weights([tables[0].astype(np.float32)])
    model.get_layer("emb_tgt").set_weights([tables[1].astype(np.float32)])
    return model


@pytest.mark.parametrize("equal_first", [True, False])
def test_two_token_inputs_with_equal_first_rows(equal_first):
    # A copy task: the first sample's source and target hold the same ids. Which embedding
    # reads which input must not be read off the values of that sample, and a probe of the
    # model cached on such a sample must not spoil later calls.
    model = two_token_model()
    copy = [IDS, IDS.copy()]
    other = [IDS, np.array([[8, 7, 0, 1, 2], [6, 6, 1, 0, 2], [3, 1, 4, 1, 5]], np.int32)]
    src_table, tgt_table = (model.get_layer(n).get_weights()[0] for n in ("emb_src", "emb_tgt"))
    kernel = model.get_layer("head").get_weights()[0]
    for pair in ([copy, other] if equal_first else [other, copy]):
        maps = kv.GradientInput(model)(pair, targets=1)
        np.testing.assert_allclose(maps[0], src_table[pair[0]] @ kernel[:DIM, 1] / T, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(maps[1], tgt_table[pair[1]] @ kernel[DIM:, 1] / T, rtol=1e-5, atol=1e-6)
        assert [m.shape for m in kv.Saliency(model)(pair)] == [(3, T), (3, T)]
        assert [m.shape for m in kv.Occlusion(model, mask_token=0)(pair)] == [(3, T), (3, T)]
    with pytest.raises(ValueError, match=r"`inputs\[0\]` holds token id 8, outside the vocabulary of embedding layer 'emb_src' \(ids 0..6\)"):
        kv.Saliency(model)([other[1], other[1]])  # 8 is a valid target id, not a source id


def test_token_ids_and_token_options_are_checked_against_the_vocabulary(bag):
    # Out of range, the embedding's gather fails with a TensorFlow graph dump on a CPU and
    # silently returns zeros on a GPU: every entry point checks first, naming the argument.
    outside = np.where(IDS == 6, 9, IDS)  # id 9 in the second sample
    with pytest.raises(ValueError, match=r"^`inputs` holds token id 9, outside the vocabulary of embedding layer 'embedding' \(ids 0..6\)\.$"):
        kv.Occlusion(bag, mask_token=0)(outside)
    with pytest.raises(ValueError, match=r"^`mask_token`=7 is outside the vocabulary of embedding layer 'embedding' \(ids 0..6\)"):
        kv.Occlusion(bag, mask_token=7)(IDS)
    with pytest.raises(ValueError, match=r"^`baseline_token`=7 is outside the vocabulary of embedding layer 'embedding' \(ids 0..6\)"):
        kv.IntegratedGradients(bag, baseline_token=7)(IDS)
    with pytest.raises(ValueError, match=r"^`inputs` holds token id -1"):
        kv.IntegratedGradients(bag)(np.where(IDS == 6, -1, IDS))
    # A baseline shaped like the ids: the message says what IG of tokens accepts.
    accepted = r"`baseline` of shape \(5,\) does not fit token input 0: .* \(T, D\) = \(5, 3\) .*a number .*broadcasts to \(5, 3\), e.g. one embedding vector \(3,\).*`baseline_token=ID`"
    with pytest.raises(ValueError, match=accepted):
        kv.IntegratedGradients(bag, baseline=np.zeros(T, np.int32))(IDS)
    with pytest.raises(ValueError, match=accepted):
        kv.IntegratedGradients(bag, baseline=np.zeros(T))(IDS)
    along_dim = kv.IntegratedGradients(bag, steps=4, baseline=TABLE[6])(IDS, targets=1)  # one vector (D,) is accepted
    np.testing.assert_allclose(along_dim, (TABLE[IDS] - TABLE[6]) @ KERNEL[:, 1] / T, rtol=1e-5, atol=1e-6)


class SubclassedMixed(keras.Model):
    """Token ids and float features, declaring no dtypes: both arrive as floats."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embedding = layers.Embedding(VOCAB, DIM, name="embedding")
        self.pool = layers.GlobalAveragePooling1D()
        self.head = layers.Dense(CLASSES, name="head")

    def call(self, inputs):
        ids, features = inputs
        return self.head(ops.concatenate([self.pool(self.embedding(ids)), features], axis=-1))


def test_mask_token_goes_to_token_inputs_only():
    model = SubclassedMixed()
    features = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)  # whole numbers, like ids
    model([IDS, features])
    model.embedding.set_weights([TABLE])
    kernel = RNG.normal(size=(DIM + 2, CLASSES)).astype(np.float32)
    model.head.set_weights([kernel, BIAS])
    fill = 0.5
    token_map, feature_map = kv.Occlusion(model, mask_token=6, fill=fill, use_logits=True)([IDS, features], targets=0)
    # One feature at a time: the score drops by (x - fill) · K; the ids get the mask token.
    np.testing.assert_allclose(feature_map, (features - fill) * kernel[DIM:, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(token_map, (TABLE[IDS] - TABLE[6]) @ kernel[:DIM, 0] / T, rtol=1e-5, atol=1e-5)
    image = keras.Input((4,))
    dense = keras.Model(image, layers.Dense(2)(image))
    with pytest.raises(ValueError, match=r"`mask_token`=0 applies to token-id inputs, but no input .* Occlude other inputs with `fill`"):
        kv.Occlusion(dense, mask_token=0)(np.ones((1, 4), np.float32))
