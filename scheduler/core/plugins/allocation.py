"""Resource-allocation scores over cpu and memory, after adding the pod's request.

least-allocated spreads pods (the default), most-allocated packs them,
balanced-allocation prefers nodes whose cpu and memory fractions stay close.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ScorePlugin, register_score, take
from scheduler.core.model import CPU, MEMORY, Pod

Fractions = Tuple[np.ndarray, np.ndarray]


def fractions_after(pod: Pod, state: ClusterState, rows: np.ndarray) -> Fractions:
    """Requested/allocatable for cpu and memory on each row, counting this pod, capped at 1.
    Requests are kube's non-zero ones (`Pod.score_cpu_memory`): pods without requests still spread."""
    n = state.size
    cpu, memory = pod.score_cpu_memory
    return (_fraction(state, 0, state.column[CPU], cpu, rows, n),
            _fraction(state, 1, state.column[MEMORY], memory, rows, n))


def _fraction(state: ClusterState, index: int, col: int, amount: int, rows: np.ndarray, n: int) -> np.ndarray:
    fraction = (state.score_requested[index, :n] + amount) * state.inv_allocatable[col, :n]
    capped: np.ndarray = np.minimum(take(fraction, rows, n), 1.0)
    return capped


class AllocationFractions:
    """`fractions_after` for the last pod asked about: the allocation scores of a profile share one.

    Least-allocated and balanced-allocation ask about the same pod and rows in one
    cycle, so the answer is computed once.  It is kept with the pod, rows and state
    it was computed for (compared by identity: holding them means no new object can
    take their place) and the state's generation (any change to the state).
    """

    def __init__(self) -> None:
        self._pod: Optional[Pod] = None
        self._rows: Optional[np.ndarray] = None
        self._state: Optional[ClusterState] = None
        self._generation = -1
        self._value: Fractions = (np.zeros(0), np.zeros(0))

    def __call__(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Fractions:
        if pod is self._pod and rows is self._rows and state is self._state and state.generation == self._generation:
            return self._value
        value = fractions_after(pod, state, rows)
        self._pod, self._rows, self._state, self._generation, self._value = pod, rows, state, state.generation, value
        return value


class AllocationScore(ScorePlugin):
    """A score over the fractions after adding the pod; pass a shared AllocationFractions to compute them once."""

    def __init__(self, fractions: Optional[AllocationFractions] = None) -> None:
        self.fractions = fractions if fractions is not None else AllocationFractions()


@register_score
class LeastAllocated(AllocationScore):
    name = "LeastAllocated"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        cpu, mem = self.fractions(pod, state, rows)
        return (2.0 - cpu - mem) * 50.0


@register_score
class MostAllocated(AllocationScore):
    name = "MostAllocated"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        cpu, mem = self.fractions(pod, state, rows)
        return (cpu + mem) * 50.0


@register_score
class BalancedAllocation(AllocationScore):
    name = "BalancedAllocation"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        cpu, mem = self.fractions(pod, state, rows)
        gap: np.ndarray = np.abs(cpu - mem)
        return (1.0 - gap / 2.0) * 100.0


def allocation_factories() -> Dict[str, Callable[[], ScorePlugin]]:
    """Factories for build_profile: the allocation scores of one profile, sharing one AllocationFractions."""
    fractions = AllocationFractions()
    return {cls.name: partial(cls, fractions) for cls in (LeastAllocated, MostAllocated, BalancedAllocation)}
