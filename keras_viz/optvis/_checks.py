"""Argument checks shared by every optvis function, with one rule for the exception raised.

* ``TypeError``: the argument has the wrong *type*: not a number where a number is
  expected (a string, None, a bool), a float where an integer is expected
  (``jitter(2.5)``), something that is not a pair where a pair is expected.
* ``ValueError``: the type is right but the *value* is not accepted: out of range, NaN or
  infinite, an unknown name among fixed choices, a pair of the wrong length or order.

Every message names the argument and the value received, and says what is accepted.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = [
    "check_choice",
    "check_int",
    "check_number",
    "check_pair",
    "check_positive",
    "check_seed",
    "check_size",
    "check_value_range",
]


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not _is_bool(value)


def check_int(value: Any, argument: str, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (Python or NumPy int; not a bool, not a float such as 2.0)."""
    if _is_bool(value) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{argument}` must be an integer >= {minimum}; received {argument}={value!r}")
    if value < minimum:
        raise ValueError(f"`{argument}` must be an integer >= {minimum}; received {argument}={int(value)}")
    return int(value)


def check_seed(seed: Any) -> int:
    """A seed: an integer >= 0."""
    return check_int(seed, "seed", 0)


def check_number(
    value: Any,
    argument: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_minimum: bool = False,
    open_maximum: bool = False,
) -> float:
    """A finite real number within ``[minimum, maximum]`` (open ends where asked)."""
    if not _is_real(value):
        raise TypeError(f"`{argument}` must be a number; received {argument}={value!r}")
    number = float(value)
    low_ok = minimum is None or (number > minimum if open_minimum else number >= minimum)
    high_ok = maximum is None or (number < maximum if open_maximum else number <= maximum)
    if not math.isfinite(number) or not (low_ok and high_ok):
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if open_minimum else '>='} {minimum:g}")
        if maximum is not None:
            bounds.append(f"{'<' if open_maximum else '<='} {maximum:g}")
        wanted = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
        raise ValueError(f"`{argument}` must be {wanted}; received {argument}={value!r}")
    return number


def check_positive(value: Any, argument: str, *, allow_zero: bool = False) -> float:
    """A finite number ``> 0`` (``>= 0`` with ``allow_zero``)."""
    return check_number(value, argument, minimum=0.0, open_minimum=not allow_zero)


def check_choice(value: Any, argument: str, choices: tuple[str, ...]) -> str:
    """One of the strings ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"`{argument}` must be one of {', '.join(map(repr, choices))}; received {argument}={value!r:.80}")
    if value not in choices:
        raise ValueError(f"`{argument}` must be one of {', '.join(map(repr, choices))}; received {argument}={value!r}")
    return value


def check_pair(value: Any, argument: str, example: str) -> tuple[float, float]:
    """``(low, high)``: two finite numbers (their order is the caller's to check)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not hasattr(value, "__iter__"):
        raise TypeError(f"`{argument}` must be a pair (low, high) of numbers, e.g. {example}; received {argument}={value!r:.80}")
    if len(value) != 2:
        raise ValueError(f"`{argument}` must be a pair (low, high) of numbers, e.g. {example}; received {argument}={value!r:.80}")
    low, high = value
    if not (_is_real(low) and _is_real(high)):
        raise TypeError(f"`{argument}` must be a pair (low, high) of numbers, e.g. {example}; received {argument}={value!r:.80}")
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"`{argument}` must hold finite numbers; received {argument}={value!r}")
    return low, high


def check_value_range(value_range: Any, argument: str = "value_range") -> tuple[float, float]:
    """``(low, high)`` finite with ``low < high``."""
    low, high = check_pair(value_range, argument, "(0, 1)")
    if not low < high:
        raise ValueError(f"`{argument}` must be finite with low < high; received {argument}={value_range!r}")
    return low, high


def check_size(size: Any, argument: str = "size") -> tuple[int, int] | None:
    """None, an int (a square) or ``(height, width)`` of ints ``>= 1``."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not _is_bool(size):
        size = (size, size)
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__") or not hasattr(size, "__iter__"):
        raise TypeError(f"`{argument}` must be None, an int or (height, width) of ints >= 1; received {argument}={size!r:.80}")
    if len(size) != 2:
        raise ValueError(f"`{argument}` must be None, an int or (height, width) of ints >= 1; received {argument}={size!r:.80}")
    height, width = size
    try:
        return check_int(height, argument, 1), check_int(width, argument, 1)
    except TypeError:
        raise TypeError(f"`{argument}` must be None, an int or (height, width) of ints >= 1; received {argument}={size!r:.80}") from None
    except ValueError:
        raise ValueError(f"`{argument}` must be None, an int or (height, width) of ints >= 1; received {argument}={size!r:.80}") from None
