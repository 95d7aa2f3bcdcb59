"""SchedulingQueue: active heap, backoff heap, unschedulable pool, and the gated pods beside them.

The queue holds *units*: a lone pod is its own unit; the pods of a gang share
one unit (`gang:<namespace>/<group>`), so a gang is popped, ordered and backed
off as a whole.  Heaps use lazy deletion: every change bumps the unit's
version and pushes a fresh entry; stale entries are skipped on pop.  Add,
update and delete are therefore O(log n).

A pod with `spec.schedulingGates` is held in the gated pool, outside every
unit (a gated gang member is not part of its gang's unit): it is never popped,
so never attempted, bound, nominated or a preemptor.  Adding it again without
gates moves it into a unit like any new pod.
"""
from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Hashable, List, Optional, Tuple

from scheduler.core.model import Pod

ACTIVE, BACKOFF, UNSCHEDULABLE, IN_FLIGHT = "active", "backoff", "unschedulable", "inflight"
GATED = "gated"  # not a place a unit can be: pods waiting for their schedulingGates to be removed


def unit_key_of(pod: Pod) -> str:
    gang = pod.gang_name
    return f"gang:{gang}" if gang else pod.key


@dataclass
class Unit:
    """What one scheduling attempt works on: one pod, or the pending members of a gang."""

    key: str
    members: Dict[str, Pod] = field(default_factory=dict)
    where: str = ""
    queued_at: float = 0.0
    attempts: int = 0
    version: int = 0
    ready_at: float = 0.0
    parked_at: float = 0.0
    changed_in_flight: bool = False
    rejected_by: FrozenSet[str] = frozenset()  # filters that rejected it last time (which changes may help)
    hint_key: Hashable = None  # units with equal keys get the same answer from every queueing hint

    @property
    def is_gang(self) -> bool:
        return self.key.startswith("gang:")

    @property
    def priority(self) -> int:
        return max(pod.priority for pod in self.members.values())

    def pods(self) -> List[Pod]:
        """Members in a stable order: oldest first, then by name."""
        return sorted(self.members.values(), key=lambda p: (p.created, p.key))


class SchedulingQueue:
    """Priority queue of pending units with kube-scheduler's backoff and unschedulable pool."""

    def __init__(
        self,
        clock: Callable[[], float],
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        unschedulable_timeout: float = 300.0,
    ) -> None:
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self.units: Dict[str, Unit] = {}
        self.parked_by: Counter[str] = Counter()  # filter name -> parked units it rejected ("" unknown)
        self._parked: Dict[Hashable, Dict[str, Unit]] = {}  # hint key -> the parked units that share it
        self.gated: Dict[str, Pod] = {}  # pod key -> pod with scheduling gates (in no unit)
        self.unit_of: Dict[str, str] = {}
        self._active: List[Tuple[int, float, str, int]] = []
        self._backoff: List[Tuple[float, int, str]] = []
        self._last_pool_flush = 0.0
        self.counts = {ACTIVE: 0, BACKOFF: 0, UNSCHEDULABLE: 0, IN_FLIGHT: 0}

    # ------------------------------------------------------------ membership
    def add(self, pod: Pod, backoff: float = 0.0) -> None:
        """Add or update a pending pod; a changed priority re-orders it.

        With `backoff` > 0 (an API call for it failed) the pod's unit waits at least that
        long before its next attempt, however it was queued before.  A pod with scheduling
        gates goes to the gated pool instead (leaving its unit, if it was in one)."""
        if pod.scheduling_gates:
            if pod.key in self.unit_of:
                self.delete(pod.key)
            self.gated[pod.key] = pod
            return
        self.gated.pop(pod.key, None)
        key = unit_key_of(pod)
        old_key = self.unit_of.get(pod.key)
        if old_key is not None and old_key != key:
            self.delete(pod.key)
        unit = self.units.get(key)
        if unit is None:
            unit = Unit(key, queued_at=self.clock())
            self.units[key] = unit
            unit.members[pod.key] = pod
            self.unit_of[pod.key] = key
            if backoff > 0:
                self._delay(unit, backoff)
            else:
                self._move(unit, ACTIVE)
            return
        unit.members[pod.key] = pod
        self.unit_of[pod.key] = key
        if backoff > 0 and unit.where != IN_FLIGHT:
            self._delay(unit, backoff)
        elif unit.where == IN_FLIGHT:
            unit.changed_in_flight = True
        elif unit.where == UNSCHEDULABLE:
            self._move(unit, ACTIVE)  # the pod changed: it may fit now
        elif unit.where == ACTIVE:
            self._move(unit, ACTIVE)  # re-push with the new priority

    update = add

    def refresh(self, pod: Pod) -> None:
        """Keep the newest object of a queued pod without moving it: only its status changed (our own
        write echoed by the watch), which cannot make it fit, so it must not wake or re-order it."""
        unit_key = self.unit_of.get(pod.key)
        if unit_key is not None and unit_key == unit_key_of(pod):
            self.units[unit_key].members[pod.key] = pod
        else:
            self.add(pod)

    def delete(self, pod_key: str) -> None:
        self.gated.pop(pod_key, None)
        unit_key = self.unit_of.pop(pod_key, None)
        if unit_key is None:
            return
        unit = self.units[unit_key]
        unit.members.pop(pod_key, None)
        if not unit.members and unit.where != IN_FLIGHT:
            self._drop(unit)
        elif unit.where == ACTIVE:
            self._move(unit, ACTIVE)

    def __contains__(self, pod_key: str) -> bool:
        return pod_key in self.unit_of or pod_key in self.gated

    def pod(self, pod_key: str) -> Optional[Pod]:
        unit_key = self.unit_of.get(pod_key)
        if unit_key is None:
            return self.gated.get(pod_key)
        return self.units[unit_key].members.get(pod_key)

    def pending_pods(self) -> Dict[str, int]:
        """Pods (not units: a gang counts each member) per place in the queue, gated ones too, for metrics."""
        pods = {ACTIVE: 0, BACKOFF: 0, UNSCHEDULABLE: 0, IN_FLIGHT: 0}
        for unit in self.units.values():
            pods[unit.where] = pods.get(unit.where, 0) + len(unit.members)
        pods[GATED] = len(self.gated)
        return pods

    def __len__(self) -> int:
        return len(self.unit_of) + len(self.gated)

    # ------------------------------------------------------------ the loop's side
    def pop(self) -> Optional[Unit]:
        """The most important ready unit, now in flight; None when nothing is ready."""
        now = self.clock()
        self._flush(now)
        while self._active:
            _, _, key, version = heapq.heappop(self._active)
            unit = self.units.get(key)
            if unit is None or unit.version != version or unit.where != ACTIVE:
                continue
            unit.attempts += 1
            unit.changed_in_flight = False
            self._move(unit, IN_FLIGHT, push=False)
            return unit
        return None

    def done(self, unit: Unit, scheduled_keys: List[str]) -> None:
        """These members were placed; the unit stays in flight for the caller to requeue the rest."""
        for key in scheduled_keys:
            unit.members.pop(key, None)
            self.unit_of.pop(key, None)
        if scheduled_keys:
            unit.attempts = 0
        if not unit.members:
            self._drop(unit)

    def requeue_unschedulable(self, unit: Unit) -> None:
        """Nothing fits now: park until the cluster changes (or the periodic flush)."""
        if not self._still_queued(unit):
            return
        if unit.changed_in_flight:
            self._to_backoff(unit)
        else:
            unit.parked_at = self.clock()
            self._move(unit, UNSCHEDULABLE, push=False)

    def requeue_backoff(self, unit: Unit) -> None:
        """A transient failure (API error, lost race): retry after the backoff."""
        if self._still_queued(unit):
            self._to_backoff(unit)

    def move_to_active(self, may_help: Callable[[Unit], bool]) -> int:
        """The cluster changed: give the parked units it may help another try.  Parked units are grouped
        by their hint key, so each group is asked once (one representative), not each unit."""
        moved = 0
        if not self.counts[UNSCHEDULABLE]:
            return moved  # nothing parked (e.g. every node event of the initial list): skip the scan
        for group in list(self._parked.values()):
            if may_help(next(iter(group.values()))):
                for unit in list(group.values()):
                    self._to_backoff_or_active(unit)
                    moved += 1
        return moved

    def backoff_duration(self, attempts: int) -> float:
        # The exponent stops at 1023: float(2 ** 1024) raises OverflowError, which a pod pending
        # for ~1000 attempts used to hit; by then any positive initial backoff is far past the cap.
        doublings = min(max(0, attempts - 1), 1023)
        return min(self.max_backoff, self.initial_backoff * 2.0 ** doublings)

    def next_ready_in(self) -> Optional[float]:
        """Seconds until a backoff entry is due (for the daemon's idle wait)."""
        if not self._backoff:
            return None
        return max(0.0, self._backoff[0][0] - self.clock())

    # ------------------------------------------------------------ internals
    def _still_queued(self, unit: Unit) -> bool:
        if not unit.members:
            self._drop(unit)
            return False
        return True

    def _to_backoff_or_active(self, unit: Unit) -> None:
        ready_at = unit.parked_at + self.backoff_duration(unit.attempts)
        if ready_at > self.clock():
            unit.ready_at = ready_at
            self._move(unit, BACKOFF)
        else:
            self._move(unit, ACTIVE)

    def _delay(self, unit: Unit, seconds: float) -> None:
        ready_at = self.clock() + seconds
        if unit.where == BACKOFF and unit.ready_at >= ready_at:
            return
        unit.ready_at = ready_at
        self._move(unit, BACKOFF)

    def _to_backoff(self, unit: Unit) -> None:
        unit.ready_at = self.clock() + self.backoff_duration(unit.attempts)
        self._move(unit, BACKOFF)

    def _flush(self, now: float) -> None:
        while self._backoff and self._backoff[0][0] <= now:
            _, version, key = heapq.heappop(self._backoff)
            unit = self.units.get(key)
            if unit is not None and unit.version == version and unit.where == BACKOFF:
                self._move(unit, ACTIVE)
        if now - self._last_pool_flush >= 1.0 and self.counts[UNSCHEDULABLE]:
            self._last_pool_flush = now
            for unit in [unit for group in self._parked.values() for unit in group.values()]:
                if now - unit.parked_at >= self.unschedulable_timeout:
                    self._move(unit, ACTIVE)

    def _park_count(self, unit: Unit, sign: int) -> None:
        for name in unit.rejected_by or ("",):
            self.parked_by[name] += sign
        group_key = unit.key if unit.hint_key is None else unit.hint_key
        if sign > 0:
            self._parked.setdefault(group_key, {})[unit.key] = unit
        else:
            group = self._parked.get(group_key, {})
            group.pop(unit.key, None)
            if not group:
                self._parked.pop(group_key, None)

    def _move(self, unit: Unit, where: str, push: bool = True) -> None:
        if unit.where:
            self.counts[unit.where] -= 1
            if unit.where == UNSCHEDULABLE:
                self._park_count(unit, -1)
        unit.version += 1
        unit.where = where
        self.counts[where] += 1
        if where == UNSCHEDULABLE:
            self._park_count(unit, +1)
        if not push:
            return
        if where == ACTIVE:
            heapq.heappush(self._active, (-unit.priority, unit.queued_at, unit.key, unit.version))
        elif where == BACKOFF:
            heapq.heappush(self._backoff, (unit.ready_at, unit.version, unit.key))

    def _drop(self, unit: Unit) -> None:
        if self.units.pop(unit.key, None) is not None and unit.where:
            self.counts[unit.where] -= 1
            if unit.where == UNSCHEDULABLE:
                self._park_count(unit, -1)
        for key in list(unit.members):
            self.unit_of.pop(key, None)
        unit.where = ""
        unit.version += 1
