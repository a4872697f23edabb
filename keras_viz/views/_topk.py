"""A running top-k over a stream: bounded memory, exact, ties broken by stream order.

Each of ``rows`` rows (a channel, a query) keeps the ``k`` largest values seen so far and
the stream index of each. Slots are unordered while streaming (a newcomer takes the slot
of the entry it evicts, so payloads such as image patches are written once and never
moved); :meth:`RunningTopK.order` sorts them once at the end.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RunningTopK"]


class RunningTopK:
    """The ``k`` largest values per row of a stream of ``(rows, B)`` blocks.

    Ties go to the earlier stream index, so the result equals a stable sort of the
    whole stream by descending value (what a brute-force search returns).
    """

    def __init__(self, rows: int, k: int):
        self.rows, self.k = int(rows), int(k)
        self.values = np.full((self.rows, self.k), -np.inf, np.float64)
        self.indices = np.full((self.rows, self.k), -1, np.int64)
        self.count = 0
        self.evicted = np.empty(0, np.int64)  # stream indices the last update evicted (-1: empty slot)

    def update(
        self, values: np.ndarray, indices: np.ndarray, count: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Merges a block ``values (rows, B)`` whose columns have stream ``indices`` (``(B,)``, or
        ``(rows, B)`` for a block already reduced per row to its best candidates).

        Args:
            count: stream items the block stands for (default ``B``).

        Returns:
            ``(rows, slots, columns)`` of the newcomers: column ``columns[i]`` of the block
            now occupies slot ``slots[i]`` of row ``rows[i]``.
        """
        values = np.asarray(values, np.float64)
        block = values.shape[1]
        self.count += block if count is None else int(count)
        if self.indices[:, -1].min() >= 0 and (values.max(axis=1) <= self.values.min(axis=1)).all():
            # Every slot is taken and nothing in the block beats the weakest kept value (a
            # tie loses to the earlier index): the common case late in a long stream.
            self.evicted = np.empty(0, np.int64)
            return (np.empty(0, np.int64),) * 3
        candidates = np.concatenate([self.values, values], axis=1)
        ids = np.concatenate([self.indices, np.broadcast_to(np.asarray(indices, np.int64), (self.rows, block))], axis=1)
        if block == 0:
            self.evicted = np.empty(0, np.int64)
            return (np.empty(0, np.int64),) * 3
        # Empty slots (index -1) lose every tie; otherwise the earlier stream index wins.
        tiebreak = np.where(ids < 0, np.iinfo(np.int64).max, ids)
        order = np.lexsort((tiebreak, -candidates), axis=-1)[:, : self.k]
        new = order >= self.k
        if not new.any():
            self.evicted = np.empty(0, np.int64)
            return (np.empty(0, np.int64),) * 3
        kept = np.zeros((self.rows, self.k), bool)
        kept_rows, kept_cols = np.nonzero(~new)
        kept[kept_rows, order[kept_rows, kept_cols]] = True
        free_rows, free_slots = np.nonzero(~kept)  # row-major: paired with the newcomers below
        new_rows, new_cols = np.nonzero(new)
        columns = order[new_rows, new_cols] - self.k
        self.evicted = self.indices[free_rows, free_slots].copy()
        self.values[free_rows, free_slots] = values[new_rows, columns]
        self.indices[free_rows, free_slots] = ids[new_rows, columns + self.k]
        return free_rows, free_slots, columns

    def order(self) -> np.ndarray:
        """``(rows, k')`` slot order, best first, without empty slots (``k' = min(k, count)``)."""
        tiebreak = np.where(self.indices < 0, np.iinfo(np.int64).max, self.indices)
        order = np.lexsort((tiebreak, -self.values), axis=-1)
        return order[:, : min(self.k, self.count)]
