"""SchedulingLoop: routes cluster events into state and queue, and runs one cycle at a time.

Both the daemon and the simulator feed it the same events and act on the same
decisions, so `simulate` shows exactly what `run` would post.  It never talks
to the outside world: `cycle()` returns Decisions and the caller acts on them
(bind, evict, patch, post Events).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from scheduler.core.cache import ClusterState
from scheduler.core.engine import Decision, Engine
from scheduler.core.model import Node, Pod
from scheduler.core.nomination import NominatedRoom, Nominations
from scheduler.core.queue import SchedulingQueue, Unit

if TYPE_CHECKING:  # pragma: no cover
    from scheduler.core.gang import GangScheduler
    from scheduler.core.preemption import Preemptor

log = logging.getLogger(__name__)


class SchedulingLoop:
    def __init__(self, state: ClusterState, queue: SchedulingQueue, engine: Engine, scheduler_name: str,
                 clock: Callable[[], float]) -> None:
        self.state = state
        self.queue = queue
        self.engine = engine
        self.scheduler_name = scheduler_name
        self.clock = clock
        self.gangs: Optional["GangScheduler"] = None  # set by build_loop
        self.preemptor: Optional["Preemptor"] = None  # set when preemption is on
        self.nominations = Nominations()
        self.nomination_timeout = 120.0
        self._last_nomination_check = float("-inf")
        engine.extra_filters.append(NominatedRoom(self.nominations))
        self.cleared_nominations: List[Pod] = []  # pods whose nominatedNodeName must be cleared
        self.notices: List[Tuple[Pod, str, str]] = []  # (pod, reason, message): Warning Events to post
        self.pending: Dict[str, Pod] = {}  # our pods waiting for a node (queued or in flight)

    # ------------------------------------------------------------ events in
    def is_ours(self, pod: Pod) -> bool:
        return pod.scheduler_name == self.scheduler_name

    def pod_changed(self, pod: Pod) -> None:
        """A pod was added or modified (from a watch, a relist or the simulator)."""
        if pod.terminal:
            self.pod_deleted(pod.key, succeeded=pod.phase == "Succeeded")
            return
        if pod.gang_name and self.gangs is not None:
            self.gangs.registry.track(pod)
        if pod.node_name:
            self.pending.pop(pod.key, None)
            self.queue.delete(pod.key)
            self.state.place(pod, pod.node_name, assumed=False)
            self.note_placed(pod, pod.node_name)
            return
        placed = self.state.placed.get(pod.key)
        if placed is not None and placed.assumed:
            return  # our own decision, not yet visible in the API: keep the assumption
        if placed is not None:
            self.state.forget(pod.key)
        if self.is_ours(pod) and not pod.deleting:
            self.pending[pod.key] = pod
            self.queue.add(pod)

    def pod_deleted(self, key: str, succeeded: bool = False) -> None:
        self.pending.pop(key, None)
        self.queue.delete(key)
        removed = self.state.forget(key)
        self.nominations.pop(key)
        if self.gangs is not None:
            gang = self.gangs.registry.gang_of(key)
            self.gangs.registry.untrack(key, succeeded)
            if gang:
                self.gangs.refresh(gang)
        if removed is not None:
            self.queue.move_all_to_active()  # freed room may help parked pods

    def node_changed(self, node: Node) -> None:
        self.state.upsert_node(node)
        self.queue.move_all_to_active()

    def node_deleted(self, name: str) -> None:
        self.state.remove_node(name)

    def assumption_failed(self, pod: Pod, retry: bool) -> None:
        """Binding did not happen: drop the assumption; requeue when the pod is still ours and pending."""
        placed = self.state.placed.get(pod.key)
        if placed is not None and placed.assumed:
            self.state.forget(pod.key)
            if pod.gang_name and self.gangs is not None:
                self.gangs.refresh(pod.gang_name)
        if retry and not pod.node_name:
            self.pending[pod.key] = pod
            self.queue.add(pod)

    def note_placed(self, pod: Pod, node: str) -> None:
        """A pod now holds room on a node: its own nomination ends; lower ones it displaced are re-planned."""
        nomination = self.nominations.pop(pod.key)
        if nomination is not None and pod.nominated_node:
            self.cleared_nominations.append(pod)
        for displaced in self.nominations.displaced_by(pod, self.state):
            self._renominate(displaced.pod)
        if pod.gang_name and self.gangs is not None:
            self.gangs.refresh(pod.gang_name)

    def _renominate(self, pod: Pod) -> None:
        self.cleared_nominations.append(pod)
        if pod.key in self.queue:
            self.queue.add(self.queue.pod(pod.key) or pod)

    def expire_nominations(self) -> None:
        """Nominations whose node vanished or whose victims never went: re-plan those pods."""
        now = self.clock()
        if not len(self.nominations) or now - self._last_nomination_check < 1.0:
            return
        self._last_nomination_check = now
        for nomination in self.nominations.stale(self.state, now, self.nomination_timeout):
            gone = self.state.node(nomination.node) is None
            why = f"node {nomination.node} is gone" if gone else \
                f"room on {nomination.node} did not free up within {self.nomination_timeout:g}s"
            log.info("nomination of %s expired (%s); re-planning", nomination.pod.key, why)
            self.notices.append((nomination.pod, "NominationExpired", f"nomination expired: {why}; re-planning"))
            self._renominate(nomination.pod)

    # ------------------------------------------------------------ one cycle
    def cycle(self) -> Optional[List[Decision]]:
        """Pop the most important unit and decide for it; None when nothing is ready."""
        self.expire_nominations()
        if self.gangs is not None:
            self.gangs.expire()
        unit = self.queue.pop()
        if unit is None:
            return None
        if unit.is_gang and self.gangs is not None:
            return self.gangs.schedule(unit)
        return self._schedule_members(unit)

    def _schedule_members(self, unit: Unit) -> List[Decision]:
        decisions = []
        placed = []
        for pod in unit.pods():
            decision = self.engine.schedule(pod)
            if decision.node is not None:
                self.engine.assume(pod, decision.node)
                self.pending.pop(pod.key, None)
                placed.append(pod.key)
                self.note_placed(pod, decision.node)
            decisions.append(decision)
        self.finish(unit, decisions, placed)
        return decisions

    def finish(self, unit: Unit, decisions: List[Decision], placed: List[str]) -> None:
        """Return the unit to the queue according to what happened to it."""
        self.queue.done(unit, placed)
        if unit.key not in self.queue.units:
            return
        if any(d.nominated_node for d in decisions):
            self.queue.requeue_backoff(unit)  # victims are terminating: retry soon
        else:
            self.queue.requeue_unschedulable(unit)
