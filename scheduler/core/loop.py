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
from scheduler.core.nomination import NominatedRoom, Nomination, Nominations
from scheduler.core.queue import SchedulingQueue, Unit

if TYPE_CHECKING:  # pragma: no cover
    from scheduler.core.gang import GangScheduler
    from scheduler.core.preemption import Preemptor

log = logging.getLogger(__name__)


class CycleError(RuntimeError):
    """A scheduling attempt failed with an unexpected error; its unit is back in the queue with backoff."""

    def __init__(self, unit_key: str) -> None:
        super().__init__(f"scheduling {unit_key} failed unexpectedly; retrying it after a backoff")
        self.unit_key = unit_key


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
        self.assumed_view: Dict[str, Pod] = {}  # latest object of pods we assumed but the API has not shown bound
        self.bind_failures: Dict[str, int] = {}  # consecutive failed bindings per pod (drives their backoff)
        self.rebinds: Dict[str, Tuple[str, float]] = {}  # pod -> (node, when): bindings whose fate is unknown
        self.confirmed: List[Pod] = []  # bindings of unknown fate the watch showed applied (Scheduled Event owed)

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
            self._bound(pod)
            return
        placed = self.state.placed.get(pod.key)
        if placed is not None and placed.assumed:
            if not pod.deleting:
                self.assumed_view[pod.key] = pod  # our own decision, not yet visible in the API: keep it
                return
            self._drop_assumption(pod.key)  # deleted while we were binding it: nothing to bind
            return
        if placed is not None:
            self.state.forget(pod.key)
        if self.is_ours(pod) and not pod.deleting:
            if pod.key not in self.pending and pod.key not in self.queue:
                self._recover_nomination(pod)
            self.pending[pod.key] = pod
            self.queue.add(pod)

    def _bound(self, pod: Pod) -> None:
        """The API shows the pod on a node: that is where it is, whatever we assumed."""
        self.pending.pop(pod.key, None)
        self.assumed_view.pop(pod.key, None)
        self.bind_failures.pop(pod.key, None)
        rebind = self.rebinds.pop(pod.key, None)
        if rebind is not None and rebind[0] == pod.node_name:
            self.confirmed.append(pod)  # our binding took effect after all: nobody has told the pod yet
        self.queue.delete(pod.key)
        self.state.place(pod, pod.node_name, assumed=False)
        if pod.nominated_node and self.is_ours(pod) and self.nominations.get(pod.key) is None:
            self.cleared_nominations.append(pod)  # e.g. left over from before a restart or failover
        self.note_placed(pod, pod.node_name)

    def _recover_nomination(self, pod: Pod) -> None:
        """First sight of a pod the API shows nominated (we restarted, or took over as leader):
        hold its room again, so victims still terminating there are not chosen a second time."""
        if pod.nominated_node and self.nominations.get(pod.key) is None:
            self.nominations.add(Nomination(pod, pod.nominated_node, self.clock()))

    def recover_nominations(self) -> None:
        """We start acting (leadership gained): hold the room the API now shows nominated for our
        waiting pods.  A standby saw these pods before the old leader nominated them, so first
        sight alone would miss the nomination and the victims already terminating."""
        for pod in list(self.pending.values()):
            self._recover_nomination(pod)

    def pod_deleted(self, key: str, succeeded: bool = False) -> None:
        self.pending.pop(key, None)
        self.assumed_view.pop(key, None)
        self.bind_failures.pop(key, None)
        self.rebinds.pop(key, None)
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
        for pod in self.state.upsert_node(node):  # bound pods listed before their node: placed now
            self.note_placed(pod, node.name)
        self.queue.move_all_to_active()

    def node_deleted(self, name: str) -> None:
        self.state.remove_node(name)

    # ------------------------------------------------------------ results of our own API calls
    def bind_succeeded(self, key: str) -> None:
        """The API accepted the binding: the room stays taken until the watch shows the pod (or its deletion)."""
        self.state.mark_bound(key)

    def bind_failed(self, key: str, retry_after: float = 0.0, uncertain: bool = False) -> Optional[float]:
        """The binding did not happen (or we cannot tell).  Decide on the pod as we know it *now*.

        A pod the watch already shows bound, or that is gone or being deleted, needs nothing.
        When the outcome is `uncertain` (no answer, and the pod could not be re-read) the binding
        may have been applied: the room stays held and the *same* binding is retried after the
        backoff, so nothing else can be placed into room the pod may be using.  Otherwise the
        assumption is dropped and the pod is queued again.  Either way it waits out a per-pod
        exponential backoff (at least `retry_after`, the server's Retry-After), which is returned.
        """
        placed = self.state.placed.get(key)
        if placed is not None and not placed.assumed:
            return None  # the watch (or a reconciling read) already shows it bound
        pod = self.assumed_view.get(key) or (placed.pod if placed is not None else None) or self.pending.get(key)
        if pod is None or pod.node_name or pod.deleting or not self.is_ours(pod):
            if placed is not None:
                self._drop_assumption(key)
            return None
        failures = self.bind_failures.get(key, 0) + 1
        self.bind_failures[key] = failures
        backoff = max(retry_after, self.queue.backoff_duration(failures))
        if uncertain and placed is not None:
            self.rebinds[key] = (self.state.nodes[placed.row].name, self.clock() + backoff)
            return backoff
        if placed is not None:
            self._drop_assumption(key)
        self.pending[key] = pod
        self.queue.add(pod, backoff=backoff)
        return backoff

    def _due_rebind(self) -> Optional[Decision]:
        """The next binding of unknown fate whose backoff is over: bind it again to the same node."""
        if not self.rebinds:
            return None
        now = self.clock()
        key = next((k for k, (_, when) in self.rebinds.items() if when <= now), None)
        if key is None:
            return None
        node, _ = self.rebinds.pop(key)
        placed = self.state.placed.get(key)
        pod = self.assumed_view.get(key) or (placed.pod if placed is not None else None)
        if placed is not None and placed.assumed and pod is not None:
            return Decision(pod, node=node)
        if pod is not None and key not in self.state.placed:  # its node went away meanwhile: decide anew
            self.pending[key] = pod
            self.queue.add(pod)
        return None

    def assumption_expired(self, key: str) -> None:
        """No answer about a binding for too long: give the room back and try the pod again."""
        self.bind_failed(key)

    def next_ready_in(self) -> Optional[float]:
        """Seconds until something is due (a backoff ends or a binding is retried), for an idle wait."""
        waits = [w for w in (self.queue.next_ready_in(),) if w is not None]
        if self.rebinds:
            waits.append(max(0.0, min(when for _, when in self.rebinds.values()) - self.clock()))
        return min(waits) if waits else None

    def _drop_assumption(self, key: str) -> None:
        self.assumed_view.pop(key, None)
        self.rebinds.pop(key, None)
        removed = self.state.forget(key)
        if removed is not None and removed.gang_name and self.gangs is not None:
            self.gangs.refresh(removed.gang_name)

    def eviction_failed(self, victim_key: str, preemptor: Optional[Pod], refused: bool) -> None:
        """An eviction did not happen (a PDB said no, or an error): the victim stays, the preemptor re-plans.

        Its nomination ends (and is cleared in the API), so no room is held for a plan that will
        not complete; a victim a PDB protected sits out a cool-down before it is chosen again."""
        self.state.unmark_evicting(victim_key)
        if refused and self.preemptor is not None:
            self.preemptor.eviction_refused(victim_key)
        if preemptor is None:
            return
        if self.nominations.pop(preemptor.key) is not None:
            self.cleared_nominations.append(self.pending.get(preemptor.key) or preemptor)

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
        """Pop the most important unit and decide for it; None when nothing is ready.

        An unexpected error while deciding undoes what the attempt assumed, puts the unit back
        with a backoff and raises CycleError: one bad pod must never stop the others."""
        self.expire_nominations()
        if self.gangs is not None:
            self.gangs.expire()
        rebind = self._due_rebind()
        if rebind is not None:
            return [rebind]
        unit = self.queue.pop()
        if unit is None:
            return None
        members = list(unit.members.values())
        started = self.clock()
        try:
            if unit.is_gang and self.gangs is not None:
                return self.gangs.schedule(unit)
            return self._schedule_members(unit)
        except Exception as exc:
            self._abandon(unit, members, started)
            raise CycleError(unit.key) from exc

    def _abandon(self, unit: Unit, members: List[Pod], started: float) -> None:
        for pod in members:
            placed = self.state.placed.get(pod.key)
            if placed is not None and placed.assumed and not placed.bound and placed.assumed_at >= started:
                self.state.forget(pod.key)
        if unit.key in self.queue.units and unit.members:
            self.queue.requeue_backoff(unit)
            return
        for pod in members:
            if pod.key not in self.state.placed and pod.key not in self.queue:
                self.pending[pod.key] = pod
                self.queue.add(pod, backoff=self.queue.backoff_duration(unit.attempts))

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
