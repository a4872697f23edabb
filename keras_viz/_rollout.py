"""Attention maths on captured weights: rollout of a self-attention stack, head fusion, entropy.

Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL
2020) chains the self-attention layers of a stack into one token-to-token map; only
self-attention can be chained (it maps the positions of one sequence onto the same
positions), so with the result of :class:`keras_viz.AttentionMaps` the default stack
is chosen from the layers' recorded kinds (:func:`self_attention_stack`).
Re-exported by :mod:`keras_viz.attention`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_viz._attention_flow import SELF

__all__ = ["HEAD_FUSIONS", "attention_entropy", "attention_rollout", "fuse_heads", "self_attention_stack"]

HEAD_FUSIONS = ("mean", "max", "min")


def _stack_layers(maps: Any) -> tuple[list[str], list[np.ndarray]]:
    if isinstance(maps, Mapping):
        names, arrays = list(maps.keys()), list(maps.values())
    elif isinstance(maps, (list, tuple)):
        names, arrays = [f"maps[{i}]" for i in range(len(maps))], list(maps)
    else:
        raise TypeError(
            f"`maps` must be the dict AttentionMaps returns or a list of (N, heads, T, T) arrays; "
            f"received {type(maps).__name__}"
        )
    if not arrays:
        raise ValueError("`maps` is empty: pass the weights of at least one layer.")
    return names, arrays


def fuse_heads(weights: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """Combines the heads of ``(..., heads, T_query, T_key)`` weights: mean, max or min."""
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"`head_fusion`={head_fusion!r} is not one of {', '.join(HEAD_FUSIONS)}.")
    return getattr(np, head_fusion)(weights, axis=-3)


def self_attention_stack(maps: Mapping[str, np.ndarray]) -> list[str]:
    """The layers attention rollout chains by default: one stack of self-attention layers.

    From the result of :class:`AttentionMaps` (a :class:`CapturedAttention`): the
    self-attention layers (``kinds``), grouped by the model inputs their positions come
    from (``query_inputs``) and their length; the largest group (the first one in call
    order on a tie), in call order. An encoder-decoder thus gives its encoder's stack
    (or its decoder's, if longer); cross-attention layers are never chained, whatever
    their lengths. A mapping without ``kinds`` gives all its layers.
    """
    kinds = getattr(maps, "kinds", None)
    if kinds is None:
        return list(maps)
    sources = getattr(maps, "query_inputs", {})
    groups: dict[tuple, list[str]] = {}
    for name, weights in maps.items():
        if kinds.get(name) == SELF:
            groups.setdefault((sources.get(name), np.shape(weights)[-1]), []).append(name)
    return max(groups.values(), key=len, default=[])


def attention_rollout(
    maps: Any, *, head_fusion: str = "mean", residual: bool = True, layers: Sequence[str] | None = None
) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", 2020).

    For each layer ``l`` (first to last) the heads are fused into ``A_l``; with
    ``residual`` the skip connection is accounted for as ``Â_l = 0.5·A_l + 0.5·I`` and
    each row renormalised to sum to 1. The rollout is the product
    ``R = Â_L · … · Â_2 · Â_1``: ``R[i, j]`` is how much token ``j`` at the input flows
    into position ``i`` at the output. Rows that are all zero (fully masked queries)
    stay zero without ``residual`` and become the identity row with it; nothing is
    divided by zero.

    Args:
        maps: the result of :class:`AttentionMaps`: its self-attention stack is rolled
            out (:func:`self_attention_stack`; cross-attention layers are left out, as
            they map one sequence onto another and cannot be chained). Or the weights
            of the layers to chain, first layer first: a dict or a list of arrays, each
            ``(N, heads, T, T)``, ``(heads, T, T)`` or ``(T, T)``, all taken for
            self-attention.
        head_fusion: ``"mean"`` (default), ``"max"`` or ``"min"`` over heads.
        residual: add the identity for the residual connections (default True).
        layers: the names of the layers of ``maps`` (a dict) to chain, first to last,
            instead of the default.

    Returns:
        float32 ``(N, T, T)`` (or ``(T, T)`` for unbatched inputs).

    Raises:
        ValueError: a layer is not square, layers disagree in shape, ``layers`` names a
            layer ``maps`` lacks, or the result of ``AttentionMaps`` holds no
            self-attention layer.
    """
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"`head_fusion`={head_fusion!r} is not one of {', '.join(HEAD_FUSIONS)}.")
    maps = _rolled_layers(maps, layers)
    names, arrays = _stack_layers(maps)
    fused = []
    for name, array in zip(names, arrays):
        array = np.asarray(array, np.float32)
        if array.ndim < 2 or array.shape[-1] != array.shape[-2]:
            raise ValueError(
                f"Attention rollout needs self-attention (T × T) weights, but layer {name!r} "
                f"has shape {array.shape} (cross-attention cannot be chained)."
            )
        if array.ndim > 4:
            raise ValueError(f"Layer {name!r} has weights of shape {array.shape}; expected (N, heads, T, T).")
        if array.ndim >= 3:
            array = fuse_heads(array, head_fusion)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"Layer {name!r} has NaN or infinite attention weights.")
        fused.append(array)
    shapes = {a.shape for a in fused}
    if len(shapes) > 1:
        listing = ", ".join(f"{n}: {a.shape}" for n, a in zip(names, fused))
        raise ValueError(f"The layers' weights disagree in shape after fusing heads ({listing}).")
    size = fused[0].shape[-1]
    identity = np.eye(size, dtype=np.float32)
    rollout = None
    for layer in fused:
        step = 0.5 * layer + 0.5 * identity if residual else layer
        sums = step.sum(axis=-1, keepdims=True)
        step = np.divide(step, sums, out=np.zeros_like(step), where=sums > 0)
        rollout = step if rollout is None else step @ rollout
    return rollout.astype(np.float32)


def _rolled_layers(maps: Any, layers: Sequence[str] | None) -> Any:
    """The part of ``maps`` to chain: ``layers``, else the self-attention stack of a capture."""
    if layers is not None:
        if isinstance(layers, str) or not isinstance(layers, Sequence) or not isinstance(maps, Mapping):
            raise TypeError(
                f"`layers` must be a list of layer names of the dict `maps`; received {layers!r:.80} "
                f"for maps of type {type(maps).__name__}"
            )
        missing = [name for name in layers if name not in maps]
        if missing:
            raise ValueError(f"`layers` names {', '.join(map(repr, missing))}, not in `maps` ({', '.join(maps)}).")
        return {name: maps[name] for name in layers}
    if isinstance(maps, Mapping) and getattr(maps, "kinds", None) is not None and maps:
        stack = self_attention_stack(maps)
        if not stack:
            listing = ", ".join(f"{name} ({maps.kinds.get(name, 'unknown')})" for name in maps)
            raise ValueError(
                f"`maps` holds no self-attention layer to roll out ({listing}): cross-attention "
                f"maps one sequence onto another and cannot be chained."
            )
        return {name: maps[name] for name in stack}
    return maps


def attention_entropy(weights: np.ndarray) -> np.ndarray:
    """Mean entropy (nats) of each head's attention distributions.

    ``H = −Σ_k p_k log p_k`` per query row, averaged over samples and query rows whose
    weights are not all zero (fully masked queries are left out). A head that looks at
    one key has entropy 0; one that spreads evenly over ``T`` keys has ``log T``.

    Args:
        weights: ``(N, heads, T_query, T_key)``.

    Returns:
        float32 ``(heads,)``; NaN for a head whose rows are all masked.
    """
    weights = np.asarray(weights, np.float64)
    if weights.ndim != 4:
        raise ValueError(f"`weights` must be (N, heads, T_query, T_key); received shape {weights.shape}")
    logs = np.log(weights, out=np.zeros_like(weights), where=weights > 0)
    rows = -(weights * logs).sum(axis=-1)  # (N, heads, T_query)
    live = weights.sum(axis=-1) > 0
    counts = live.sum(axis=(0, 2))
    totals = np.where(live, rows, 0.0).sum(axis=(0, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan).astype(np.float32)
