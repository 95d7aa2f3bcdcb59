"""Resource-allocation scores over cpu and memory, after adding the pod's request.

least-allocated spreads pods (the default), most-allocated packs them,
balanced-allocation prefers nodes whose cpu and memory fractions stay close.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ScorePlugin, register_score, take
from scheduler.core.model import CPU, MEMORY, Pod


class _Memo:
    """The last pod's fractions: least-allocated and balanced share one computation per cycle."""

    key: tuple = ()
    value: Tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))


def fractions_after(pod: Pod, state: ClusterState, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Requested/allocatable for cpu and memory on each row, counting this pod, capped at 1."""
    key = (id(pod), pod.key, state.generation, id(rows))
    if _Memo.key == key:
        return _Memo.value
    n = state.size
    out = []
    for resource in (CPU, MEMORY):
        col = state.column[resource]
        fraction = (state.requested[col, :n] + pod.requests.get(resource, 0)) * state.inv_allocatable[col, :n]
        out.append(np.minimum(take(fraction, rows, n), 1.0))
    _Memo.key, _Memo.value = key, (out[0], out[1])
    return out[0], out[1]


@register_score
class LeastAllocated(ScorePlugin):
    name = "LeastAllocated"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        cpu, mem = fractions_after(pod, state, rows)
        return (2.0 - cpu - mem) * 50.0


@register_score
class MostAllocated(ScorePlugin):
    name = "MostAllocated"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        cpu, mem = fractions_after(pod, state, rows)
        return (cpu + mem) * 50.0


@register_score
class BalancedAllocation(ScorePlugin):
    name = "BalancedAllocation"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        cpu, mem = fractions_after(pod, state, rows)
        return (1.0 - np.abs(cpu - mem) / 2.0) * 100.0
