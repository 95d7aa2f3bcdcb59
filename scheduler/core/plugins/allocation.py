"""Resource-allocation scores over cpu and memory, after adding the pod's request.

least-allocated spreads pods (the default), most-allocated packs them,
balanced-allocation prefers nodes whose cpu and memory fractions stay close.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ScorePlugin, register_score
from scheduler.core.model import CPU, MEMORY, Pod


def fractions_after(pod: Pod, state: ClusterState, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Requested/allocatable for cpu and memory on each row, counting this pod."""
    out = []
    for resource in (CPU, MEMORY):
        col = state.column[resource]
        alloc = state.allocatable[rows, col]
        used = state.requested[rows, col] + pod.requests.get(resource, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(alloc > 0, used / np.maximum(alloc, 1), 1.0))
    return out[0], out[1]


@register_score
class LeastAllocated(ScorePlugin):
    name = "LeastAllocated"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        cpu, mem = fractions_after(pod, state, rows)
        return (2.0 - np.minimum(cpu, 1.0) - np.minimum(mem, 1.0)) * 50.0


@register_score
class MostAllocated(ScorePlugin):
    name = "MostAllocated"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        cpu, mem = fractions_after(pod, state, rows)
        return (np.minimum(cpu, 1.0) + np.minimum(mem, 1.0)) * 50.0


@register_score
class BalancedAllocation(ScorePlugin):
    name = "BalancedAllocation"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        cpu, mem = fractions_after(pod, state, rows)
        return (1.0 - np.abs(np.minimum(cpu, 1.0) - np.minimum(mem, 1.0)) / 2.0) * 100.0
