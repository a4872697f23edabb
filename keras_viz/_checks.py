"""Argument checks shared by the dataset views, the quality metrics and their callbacks.

One rule everywhere: a value of the wrong *type* (a float or a bool where an int is
expected, a string where a number is) raises ``TypeError``; a value of the right type that
is out of range raises ``ValueError``. Both messages name the argument and the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["check_indices", "check_int", "check_number"]


def check_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (bools are not ints here)."""
    wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be {wanted}; received {name}={value!r} of type {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be {wanted}; received {name}={value!r}.")
    return int(value)


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float in the interval given by ``low``/``high`` (closed unless ``*_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be a number; received {name}={value!r} of type {type(value).__name__}.")
    number = float(value)
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or below or above:
        interval = (
            ("(" if low_open else "[") + ("-inf" if low is None else f"{low:g}") + ", "
            + ("inf" if high is None else f"{high:g}") + (")" if high_open else "]")
        )
        raise ValueError(f"`{name}` must be a finite number in {interval}; received {name}={value!r}.")
    return number


def check_indices(values: Any, name: str, available: int | None = None) -> np.ndarray | None:
    """A non-empty 1-D list of indices (one int is a list of one) into ``available`` items.

    Returns None for None, else an int32 array. Indices must lie in ``[0, available)`` when
    ``available`` is known.
    """
    if values is None:
        return None
    if isinstance(values, (int, np.integer)) and not isinstance(values, (bool, np.bool_)):
        values = [values]
    if isinstance(values, (str, bytes)) or not isinstance(values, (Iterable, np.ndarray)):
        raise TypeError(f"`{name}` must be a list of ints or None; received {name}={values!r}.")
    array = np.asarray(list(values))
    if array.size and (array.dtype == bool or array.dtype.kind not in "iu"):
        raise TypeError(f"`{name}` must be a list of ints; received {name}={values!r}.")
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"`{name}` must be a non-empty list of ints; received {name}={values!r}.")
    if available is not None and (array.min() < 0 or array.max() >= available):
        bad = int(array[(array < 0) | (array >= available)][0])
        raise ValueError(
            f"`{name}`={list(array.tolist())!r} holds {bad}, out of range: the layer has {available} "
            f"channel(s), indices 0..{available - 1}."
        )
    return array.astype(np.int32)
