"""The one alignment of sensor windows: every window a model reads, in training, in the loop
and in the live twin, is the first sensor's readings with each other sensor's latest reading at
or before each of them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def latest_at(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The latest of ``values`` (read at sorted ``times``) at or before each of ``at``; the
    first reading where none comes before."""
    index = np.clip(np.searchsorted(times, at, side="right") - 1, 0, times.size - 1)
    return values[index]


def aligned(base: np.ndarray, first: np.ndarray,
            others: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """A window: the first sensor's readings ``first`` at times ``base``, then each other
    sensor's (times, values) aligned on them, one column a sensor."""
    return np.stack([first, *(latest_at(t, v, base) for t, v in others)], axis=1)
