"""Helpers for the per-node numpy columns (resource-major: one row of an array per resource)."""
from __future__ import annotations

import numpy as np

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
NAN = float("nan")


def saturate(value: int) -> int:
    """Pinned to the int64 range instead of overflowing (hostile quantities)."""
    return INT64_MIN if value < INT64_MIN else INT64_MAX if value > INT64_MAX else value


def add_saturating(array: np.ndarray, col: int, row: int, delta: int) -> int:
    """array[col, row] += delta, pinned to the int64 range."""
    value = saturate(int(array[col, row]) + delta)
    array[col, row] = value
    return value


def resized(array: np.ndarray, rows: int, fill: float = 0) -> np.ndarray:
    """Grow the last (row) axis to `rows`."""
    out = np.full(array.shape[:-1] + (rows,), fill, dtype=array.dtype)
    out[..., : array.shape[-1]] = array
    return out


def with_column(array: np.ndarray) -> np.ndarray:
    """The array with one more (zeroed) resource row."""
    return np.vstack([array, np.zeros((1, array.shape[1]), dtype=array.dtype)])
