"""Argument checks shared by the render modules.

Each raises ``TypeError`` or ``ValueError`` naming the argument and the value received.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike

__all__: list[str] = []  # helpers for the render modules only


def _finite_float_array(value: ArrayLike, name: str) -> np.ndarray:
    """Returns ``value`` as a non-empty, finite float64 array.

    Raises:
        TypeError: If ``value`` is not numeric.
        ValueError: If ``value`` is empty or holds NaN or infinity.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"`{name}` must be a numeric array; received dtype {array.dtype}."
        )
    if array.size == 0:
        raise ValueError(f"`{name}` must not be empty; received shape {array.shape}.")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(
            f"`{name}` must be finite; received {bad} NaN or infinite value(s) "
            f"in an array of shape {array.shape}."
        )
    return array


def _check_positive_int(value: int, name: str) -> int:
    """Checks that ``value`` is an integer >= 1 (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer; received {name}={value!r}."
        )
    return int(value)


def _check_non_negative_int(value: int, name: str) -> int:
    """Checks that ``value`` is an integer >= 0 (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer; received {name}={value!r}."
        )
    return int(value)
