"""Cost of reading attention weights, of attention rollout, and of token attributions.

Rows (issue 8 targets):

* ``AttentionMaps`` on a 4-layer, 4-head Transformer encoder (sequence 128, d_model 128,
  FFN 256, token ids in) against the floor: one plain forward pass of the same batch in a
  ``tf.function`` traced once, its output fetched with ``.numpy()``. Target ≤ 1.2×. Also
  shown: the traced capture function alone (no input validation, no NumPy conversion of
  the weights), to separate graph cost from the copy of ``4 × N × 4 × 128 × 128`` floats.
* ``attention_rollout`` of 12 layers × 12 heads × 197 tokens (ViT-B/16 sizes), batch 1
  and 8: milliseconds (target: "in milliseconds").
* ``Saliency`` and ``IntegratedGradients`` on a 2-layer version of the encoder's token
  ids, at the embedding output, against forward + backward passes w.r.t. the embeddings
  (one for Saliency; ``steps`` back to back for IG, whose path points run ``batch`` at a
  time); for reference, issue 8 sets no target.

Every ratio is taken in the same process; rows alternate method and floor and report the
median. Run under ``flock /tmp/kv-bench.lock`` on a shared machine.

Usage:
    python benchmarks/bench_attention.py [--batch 16] [--repeats 15] [--output benchmarks/ATTENTION.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

import keras_viz as kv  # noqa: E402
from keras_viz.attention import capturing  # noqa: E402

SEQUENCE, VOCAB, DIM, HEADS, LAYERS = 128, 1000, 128, 4, 4


def encoder(length: int = SEQUENCE, depth: int = LAYERS) -> keras.Model:
    """A post-norm Transformer encoder over token ids with a classification head."""
    ids = keras.Input((length,), dtype="int32", name="ids")
    x = layers.Embedding(VOCAB, DIM, name="embedding")(ids)
    for i in range(depth):
        attended = layers.MultiHeadAttention(HEADS, DIM // HEADS, name=f"attention_{i}")(x, x)
        x = layers.LayerNormalization(name=f"norm_a{i}")(x + attended)
        hidden = layers.Dense(2 * DIM, activation="gelu", name=f"ffn_{i}a")(x)
        x = layers.LayerNormalization(name=f"norm_b{i}")(x + layers.Dense(DIM, name=f"ffn_{i}b")(hidden))
    pooled = layers.GlobalAveragePooling1D()(x)
    return keras.Model(ids, layers.Dense(2, name="logits")(pooled), name="encoder")


class Timing(tuple):
    """``(method seconds, floor seconds)`` medians, plus the per-repeat ratios and minima."""

    ratios: list[float]
    minima: tuple[float, float]


def alternate(first, second, repeats: int) -> Timing:
    """Times two callables alternately (flipping the order every repeat) after a warm-up call each."""
    first(), second()
    times_a, times_b = [], []
    for repeat in range(repeats):
        order = [(first, times_a), (second, times_b)]
        for function, times in order if repeat % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    timing = Timing((statistics.median(times_a), statistics.median(times_b)))
    timing.ratios = [a / b for a, b in zip(times_a, times_b)]
    timing.minima = (min(times_a), min(times_b))
    return timing


def capture_rows(batch: int, repeats: int) -> list[tuple[str, str, float, float, str]]:
    keras.utils.set_random_seed(0)
    model = encoder()
    ids = np.random.default_rng(0).integers(0, VOCAB, size=(batch, SEQUENCE)).astype(np.int32)
    plain = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec((None, SEQUENCE), tf.int32))
    floor = lambda: plain(ids).numpy()  # noqa: E731
    maps = kv.AttentionMaps(model, batch_size=batch)
    full = lambda: maps(ids)  # noqa: E731
    attention_layers = maps.layers

    @tf.function(input_signature=[tf.TensorSpec((None, SEQUENCE), tf.int32)])
    def graph_only(x):
        found = []
        with capturing(attention_layers, found):
            model(x, training=False)
        return [w for _, w in found]

    graph = lambda: [t.numpy() for t in graph_only(ids)]  # noqa: E731

    @tf.function(input_signature=[tf.TensorSpec((None, SEQUENCE), tf.int32)])
    def outputs_and_weights(x):  # what a forward pass that also hands out the weights costs
        found = []
        with capturing(attention_layers, found):
            outputs = model(x, training=False)
        return outputs, [w for _, w in found]

    both = lambda: [t.numpy() for t in tf.nest.flatten(outputs_and_weights(ids))]  # noqa: E731
    settings = f"{LAYERS} layers × {HEADS} heads, T={SEQUENCE}, d={DIM}, batch {batch}"
    return [
        ("AttentionMaps(model)(ids)", settings, alternate(full, floor, repeats), "≤ 1.2"),
        ("traced capture + .numpy() of the weights", settings, alternate(graph, floor, repeats), "—"),
        ("traced full forward: outputs and weights", settings, alternate(both, floor, repeats), "—"),
    ]


def rollout_rows(repeats: int) -> list[tuple[str, str, float, float, str]]:
    rng = np.random.default_rng(0)
    rows = []
    for batch in (1, 8):
        maps = {f"layer_{i}": rng.dirichlet(np.ones(197), size=(batch, 12, 197)).astype(np.float32) for i in range(12)}
        call = lambda: kv.attention_rollout(maps)  # noqa: E731
        call()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        rows.append((
            "attention_rollout",
            f"12 layers × 12 heads × 197 tokens, batch {batch}",
            (statistics.median(times), min(times)),
            "milliseconds",
        ))
    return rows


def token_rows(batch: int, repeats: int) -> list[tuple[str, str, float, float, str]]:
    keras.utils.set_random_seed(0)
    model = encoder(depth=2)
    ids = np.random.default_rng(1).integers(0, VOCAB, size=(batch, SEQUENCE)).astype(np.int32)
    embedding = model.get_layer("embedding")

    @tf.function(input_signature=[tf.TensorSpec((None, SEQUENCE), tf.int32)])
    def forward_backward(x):
        from keras_viz.explainers._tokens import TokenPlan, TokenSource, replaced_embeddings

        plan = TokenPlan({0: TokenSource(0, embedding, 0, "embedding")}, ((SEQUENCE, DIM),))
        embedded = embedding(x)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(embedded)
            with replaced_embeddings(plan, [embedded]):
                score = tf.reduce_sum(model(x, training=False)[:, 0])
        return tape.gradient(score, embedded)

    floor = lambda: forward_backward(ids).numpy()  # noqa: E731
    saliency = kv.Saliency(model, batch_size=batch)
    settings = f"2 layers × {HEADS} heads, T={SEQUENCE}, batch {batch}"
    rows = [("Saliency on token ids (embedding output)", settings, alternate(lambda: saliency(ids, targets=0), floor, repeats), "—")]
    steps = 16
    ig = kv.IntegratedGradients(model, steps=steps, batch_size=batch)  # path points per pass = the floor's batch
    floor_steps = lambda: [floor() for _ in range(steps)]  # noqa: E731 - back to back, as IG runs them
    rows.append((f"IntegratedGradients, {steps} steps", settings, alternate(lambda: ig(ids, targets=0), floor_steps, max(3, repeats // 3)), "—"))
    return rows


def report(rows, args) -> str:
    lines = [
        "# Attention capture, rollout and token attributions",
        "",
        f"Measured {datetime.date.today()} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, Keras {keras.__version__}; "
        f"`python benchmarks/bench_attention.py --batch {args.batch} --repeats {args.repeats}` "
        f"under `flock /tmp/kv-bench.lock`. Method and floor alternate (order flipped every "
        f"repeat) in one process; `ratio` is the median of the per-repeat ratios, `min/min` the "
        f"fastest call over the fastest floor (robust to other load).",
        "",
        "| what | settings | time | floor | ratio | ratio range | min/min | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, settings, timing, target in rows:
        if not isinstance(timing, Timing):  # rollout: no floor
            median, best = timing
            lines.append(f"| {name} | {settings} | {median * 1e3:.1f} ms (best {best * 1e3:.1f} ms) | — | — | — | — | {target} |")
            continue
        method, base = timing
        ratios = timing.ratios
        lines.append(
            f"| {name} | {settings} | {method * 1e3:.1f} ms | {base * 1e3:.1f} ms | **{statistics.median(ratios):.2f}** "
            f"| {min(ratios):.2f}–{max(ratios):.2f} | {timing.minima[0] / timing.minima[1]:.2f} | {target} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", default=None, help="write the Markdown table here")
    args = parser.parse_args()
    rows = capture_rows(args.batch, args.repeats) + rollout_rows(args.repeats) + token_rows(args.batch, args.repeats)
    text = report(rows, args)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
