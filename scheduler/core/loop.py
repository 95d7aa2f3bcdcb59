"""SchedulingLoop: the core's one way in and one way out.

In: every change reaches the core through the methods under "events in" (pods,
nodes, PodDisruptionBudgets, PodGroups, volume objects, namespaces, load
readings) and "results of our own
effects" (bind and eviction answers).  Out: `cycle()` and `housekeeping()`
return typed effects (`scheduler.core.effects`).  Drivers never reach into the
queue or the state, so the daemon (effects executed by the actuator against the
API) and the in-memory cluster (simulate, bench, tests) run the same core the
same way, and `simulate` shows exactly what `run` would post.
"""
from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Set, Tuple

from scheduler.core.cache import ClusterState
from scheduler.core.decisions import DecisionEffects
from scheduler.core.effects import (
    NORMAL,
    WARNING,
    BindResult,
    ClearNomination,
    Effect,
    Event,
    Evict,
    EvictionResult,
    PodRef,
    UpdatePodGroupStatus,
)
from scheduler.core.engine import Decision, Engine
from scheduler.core.framework import (
    ADDED,
    ALLOCATABLE,
    BUDGET_CHANGED,
    GROUP_CHANGED,
    LABELS,
    LOAD_CHANGED,
    NAMESPACE_CHANGED,
    NODE_CHANGED,
    POD_PLACED,
    POD_REMOVED,
    SCHEDULABLE,
    TAINTS,
    VOLUME_CHANGED,
    ClusterChange,
    may_help,
    wakes,
)
from scheduler.core.gang import GangScheduler
from scheduler.core.model import DisruptionBudget, Node, NodeUtilisation, Pod
from scheduler.core.nomination import Nomination, Nominations
from scheduler.core.preemption import Preemption
from scheduler.core.queue import UNSCHEDULABLE, SchedulingQueue, Unit
from scheduler.core.volumes import VolumeObject

log = logging.getLogger(__name__)


class CycleError(RuntimeError):
    """A scheduling attempt failed with an unexpected error; its unit is back in the queue with backoff."""

    def __init__(self, unit_key: str) -> None:
        super().__init__(f"scheduling {unit_key} failed unexpectedly; retrying it after a backoff")
        self.unit_key = unit_key


class SchedulingLoop:
    def __init__(self, state: ClusterState, queue: SchedulingQueue, engine: Engine, nominations: Nominations,
                 preemption: Preemption, gangs: GangScheduler, scheduler_name: str, clock: Callable[[], float],
                 nomination_timeout: float = 120.0) -> None:
        self.state = state
        self.queue = queue
        self.engine = engine
        self.nominations = nominations
        self.preemption = preemption
        self.gangs = gangs
        self.scheduler_name = scheduler_name
        self.clock = clock
        self.nomination_timeout = nomination_timeout
        self._last_nomination_check = float("-inf")
        self._next_expiry = float("-inf")
        self._confirmed_gangs: Set[str] = set()  # gangs with members confirmed since their last refresh
        self._podgroups_written: Dict[str, Tuple[str, int, int, int]] = {}  # PodGroup -> status last written
        self._decision_effects = DecisionEffects()
        self._outbox: List[Effect] = []  # effects caused by events, handed out by the next cycle/housekeeping
        self.pending: Dict[str, Pod] = {}  # our pods waiting for a node (queued, gated or in flight)
        self._assumed_view: Dict[str, Pod] = {}  # latest object of pods we assumed but the API has not shown bound
        self._bind_failures: Dict[str, int] = {}  # consecutive failed bindings per pod (drives their backoff)
        self._rebinds: Dict[str, Tuple[str, float]] = {}  # pod -> (node, when): bindings whose fate is unknown
        self._filters = {f.name: f for f in engine.all_filters}

    # ------------------------------------------------------------ events in
    def is_ours(self, pod: Pod) -> bool:
        return pod.scheduler_name == self.scheduler_name

    def pod_changed(self, pod: Pod) -> None:
        """A pod was added or modified (from a watch, a relist or the in-memory cluster).

        A pod of ours with scheduling gates is pending but only held (the queue's gated pool):
        never attempted, until a change shows it without gates."""
        if pod.terminal:
            self.pod_deleted(pod.key, succeeded=pod.phase == "Succeeded")
            return
        if pod.gang_name:
            self.gangs.registry.track(pod)
        if pod.node_name:
            self._bound(pod)
            return
        placed = self.state.placed.get(pod.key)
        if placed is not None and placed.assumed:
            if not pod.deleting:
                self._assumed_view[pod.key] = pod  # our own decision, not yet visible in the API: keep it
                return
            self._drop_assumption(pod.key)  # deleted while we were binding it: nothing to bind
            return
        if placed is not None:
            self.state.forget(pod.key)
        if not self.is_ours(pod) or pod.deleting:
            return
        before = self.pending.get(pod.key)
        if before is None:
            for warning in pod.warnings:  # e.g. a priority annotation we could not honour
                self._emit(Event(PodRef.of(pod), WARNING, "InvalidPriority", "Scheduling", warning))
            if pod.key not in self.queue:
                self._recover_nomination(pod)
        self.pending[pod.key] = pod
        if before is not None and _status_only(before, pod) and pod.key in self.queue:
            self.queue.refresh(pod)  # our own status write (condition, nomination) echoed by the watch
        else:
            self.queue.add(pod)

    def _bound(self, pod: Pod) -> None:
        """The API shows the pod on a node: that is where it is, whatever we assumed."""
        self.pending.pop(pod.key, None)
        self._assumed_view.pop(pod.key, None)
        self._bind_failures.pop(pod.key, None)
        rebind = self._rebinds.pop(pod.key, None)
        if rebind is not None and rebind[0] == pod.node_name:
            # our binding took effect after all, its answer lost: nobody has told the pod yet
            self._emit(Event(PodRef.of(pod), NORMAL, "Scheduled", "Binding",
                             f"Successfully assigned {pod.key} to {pod.node_name}"))
        self.queue.delete(pod.key)
        held = self.state.placed.get(pod.key)
        confirmed = held is not None and held.assumed and self.state.row_of.get(pod.node_name) == held.row
        self.state.place(pod, pod.node_name, assumed=False)
        if pod.nominated_node and self.is_ours(pod) and self.nominations.get(pod.key) is None:
            self._emit(ClearNomination(PodRef.of(pod)))  # e.g. left over from before a restart or failover
        if confirmed:  # our own assumption confirmed: its room was taken (and accounted) when we assumed it
            if pod.gang_name:
                self._confirmed_gangs.add(pod.gang_name)  # Scheduled -> Running, once per batch of confirmations
            return
        self._note_placed(pod, pod.node_name)

    def _recover_nomination(self, pod: Pod) -> None:
        """First sight of a pod the API shows nominated (we restarted, or took over as leader):
        hold its room again, so victims still terminating there are not chosen a second time.
        A gated pod holds no room: it is not being scheduled."""
        if pod.nominated_node and not pod.scheduling_gates and self.nominations.get(pod.key) is None:
            self.nominations.add(Nomination(pod, pod.nominated_node, self.clock()))

    def recover_nominations(self) -> None:
        """We start acting (leadership gained): hold the room the API now shows nominated for our
        waiting pods.  A standby saw these pods before the old leader nominated them, so first
        sight alone would miss the nomination and the victims already terminating."""
        for pod in list(self.pending.values()):
            self._recover_nomination(pod)

    def pod_deleted(self, key: str, succeeded: bool = False) -> None:
        self.pending.pop(key, None)
        self._decision_effects.forget(key)
        self._assumed_view.pop(key, None)
        self._bind_failures.pop(key, None)
        self._rebinds.pop(key, None)
        self.queue.delete(key)
        placed = self.state.placed.get(key)
        node = self.state.name_of(placed.row) if placed is not None else ""
        removed = self.state.forget(key)
        self.nominations.pop(key)
        gang = self.gangs.registry.gang_of(key)
        self.gangs.registry.untrack(key, succeeded)
        if gang:
            self.gangs.refresh(gang)
        if removed is not None:
            self._cluster_changed(ClusterChange(POD_REMOVED, removed, node))  # freed room may help parked pods

    def node_changed(self, node: Node) -> None:
        known = self.state.node(node.name)
        if known is not None and dataclasses.replace(known, resource_version=node.resource_version) == node:
            return  # a heartbeat (status timestamps only): nothing a scheduling decision reads has changed
        aspects = _node_aspects(known, node)
        for pod in self.state.upsert_node(node):  # bound pods listed before their node: placed now
            self._note_placed(pod, node.name)
        self._cluster_changed(ClusterChange(NODE_CHANGED, aspects=aspects))

    def node_deleted(self, name: str) -> None:
        self.state.remove_node(name)

    def pdb_changed(self, pdb: DisruptionBudget) -> None:
        self.preemption.pdbs[pdb.key] = pdb
        self._cluster_changed(ClusterChange(BUDGET_CHANGED))  # a budget allowing more disruptions may unblock a plan

    def pdb_deleted(self, key: str) -> None:
        if self.preemption.pdbs.pop(key, None) is not None:
            self._cluster_changed(ClusterChange(BUDGET_CHANGED))

    def volume_object_changed(self, obj: VolumeObject) -> None:
        """A PersistentVolumeClaim, PersistentVolume or StorageClass was added or modified: a claim bound,
        or a volume appearing, may let waiting pods go."""
        if self.state.volumes.upsert(obj):
            self.state.generation += 1
            self._cluster_changed(ClusterChange(VOLUME_CHANGED))

    def volume_object_deleted(self, kind: str, key: str) -> None:
        """`kind` is PersistentVolumeClaim, PersistentVolume or StorageClass; a claim's key is namespace/name."""
        if self.state.volumes.delete(kind, key):
            self.state.generation += 1
            self._cluster_changed(ClusterChange(VOLUME_CHANGED))

    def namespace_changed(self, name: str, labels: Mapping[str, str]) -> None:
        """A Namespace was added or its labels changed (podAffinity namespaceSelector reads them)."""
        known = self.state.namespaces.get(name)
        if known is not None and known == labels:
            return
        self.state.namespaces[name] = dict(labels)
        self.state.generation += 1
        self._cluster_changed(ClusterChange(NAMESPACE_CHANGED))

    def namespace_deleted(self, name: str) -> None:
        if self.state.namespaces.pop(name, None) is not None:
            self.state.generation += 1
            self._cluster_changed(ClusterChange(NAMESPACE_CHANGED))

    def podgroup_changed(self, kind: str, key: str, obj: Mapping[str, Any]) -> None:
        """A PodGroup was added, modified (kind ADDED/MODIFIED) or DELETED: a new minimum may let a gang go."""
        self.gangs.registry.podgroup_changed(kind, key, obj)
        self._cluster_changed(ClusterChange(GROUP_CHANGED))

    def load_changed(self, values: Dict[str, NodeUtilisation]) -> None:
        """Fresh utilisation readings (on our clock)."""
        self.state.set_utilisation(values)
        self._cluster_changed(ClusterChange(LOAD_CHANGED))

    def load_unavailable(self) -> None:
        """The load source is down: schedule on requests alone until readings return."""
        if self.state.load.available:
            self.state.load_outage()
            self._cluster_changed(ClusterChange(LOAD_CHANGED))

    # ------------------------------------------------------------ results of our own effects
    def bind_result(self, result: BindResult) -> Optional[float]:
        """The answer to a `Bind`; on failure the pod's backoff in seconds (None: nothing to retry)."""
        key = result.pod.key
        if result.ok:
            self.state.mark_bound(key)  # the room stays taken until the watch shows the pod (or its deletion)
            return None
        backoff = self._bind_failed(key, result.retry_after, result.uncertain)
        if backoff is not None and result.status not in (0, 429) and result.status < 500:
            pod = self.pending.get(key)
            self._emit(Event(PodRef.of(pod) if pod is not None else result.pod, WARNING, "FailedScheduling", "Binding",
                             f"binding rejected: {result.message}; retrying"))
        return backoff

    def _bind_failed(self, key: str, retry_after: float = 0.0, uncertain: bool = False) -> Optional[float]:
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
        pod = self._assumed_view.get(key) or (placed.pod if placed is not None else None) or self.pending.get(key)
        if pod is None or pod.node_name or pod.deleting or not self.is_ours(pod):
            if placed is not None:
                self._drop_assumption(key)
            return None
        failures = self._bind_failures.get(key, 0) + 1
        self._bind_failures[key] = failures
        backoff = max(retry_after, self.queue.backoff_duration(failures))
        if uncertain and placed is not None:
            self._rebinds[key] = (self.state.name_of(placed.row), self.clock() + backoff)
            return backoff
        if placed is not None:
            self._drop_assumption(key)
        self.pending[key] = pod
        self.queue.add(pod, backoff=backoff)
        return backoff

    def expire_assumptions(self, ttl: float) -> List[str]:
        """Bindings with no answer for `ttl` seconds: give the room back and try the pods again.

        Only call this while the pod watch is healthy: blind, a lost binding cannot be told from
        one we have not seen yet, and the room must stay held."""
        keys = self.state.expired_assumptions(self.clock(), ttl)
        for key in keys:
            self._bind_failed(key)
        return keys

    def eviction_result(self, result: EvictionResult) -> None:
        """The answer for one victim of an `Evict`.  A victim that stays (a PDB said no, or an error)
        is a candidate again; its preemptor's nomination ends (and is cleared in the API), so no
        room is held for a plan that will not complete; a victim a PDB protected sits out a
        cool-down before it is chosen again."""
        if result.ok:
            return  # it is going: the watch shows it terminating, then deleted
        key = result.victim.key
        self.state.unmark_evicting(key)
        if result.refused:
            self.preemption.eviction_refused(key)
        if result.preemptor is None:
            return
        if self.nominations.pop(result.preemptor.key) is not None:
            self._emit(ClearNomination(result.preemptor))

    # ------------------------------------------------------------ questions drivers may ask
    def is_nominated(self, key: str) -> bool:
        return self.nominations.get(key) is not None

    def nodes(self) -> List[Node]:
        """The live nodes (e.g. for the load refresher to ask Prometheus about)."""
        return list(self.state.live_nodes())

    def node_usage(self) -> List[Dict[str, object]]:
        """Per node: pods, requested fractions and measured load, as plain values (for reports)."""
        return self.state.usage()

    def next_ready_in(self) -> Optional[float]:
        """Seconds until something is due (a backoff ends or a binding is retried), for an idle wait."""
        waits = [w for w in (self.queue.next_ready_in(),) if w is not None]
        if self._rebinds:
            waits.append(max(0.0, min(when for _, when in self._rebinds.values()) - self.clock()))
        if self._outbox:
            waits.append(0.0)
        return min(waits) if waits else None

    def stats(self) -> Dict[str, Dict[str, int]]:
        """Counts for metrics: pending pods per queue, gangs per state."""
        self._refresh_confirmed_gangs()
        return {"queue": self.queue.pending_pods(),
                "gangs": dict(Counter(g.state for g in self.gangs.registry.gangs.values()))}

    def gang_summary(self, name: str) -> Optional[Tuple[str, str, int]]:
        """(state, message, minimum) of a gang we track, for reports."""
        self._refresh_confirmed_gangs()
        gang = self.gangs.registry.gangs.get(name)
        if gang is None:
            return None
        return gang.state, gang.message, self.gangs.registry.spec(gang).min_available

    # ------------------------------------------------------------ internals
    def _emit(self, effect: Effect) -> None:
        self._outbox.append(effect)

    def _take_outbox(self) -> List[Effect]:
        if not self._outbox:
            return []
        effects, self._outbox = self._outbox, []
        # a nomination cleared, then made again before anyone acted on it: nothing to clear
        return [e for e in effects if not (isinstance(e, ClearNomination) and self.is_nominated(e.pod.key))]

    def _due_rebind(self) -> Optional[Decision]:
        """The next binding of unknown fate whose backoff is over: bind it again to the same node."""
        if not self._rebinds:
            return None
        now = self.clock()
        key = next((k for k, (_, when) in self._rebinds.items() if when <= now), None)
        if key is None:
            return None
        node, _ = self._rebinds.pop(key)
        placed = self.state.placed.get(key)
        pod = self._assumed_view.get(key) or (placed.pod if placed is not None else None)
        if placed is not None and placed.assumed and pod is not None:
            return Decision(pod, node=node)
        if pod is not None and key not in self.state.placed:  # its node went away meanwhile: decide anew
            self.pending[key] = pod
            self.queue.add(pod)
        return None

    def _drop_assumption(self, key: str) -> None:
        self._assumed_view.pop(key, None)
        self._rebinds.pop(key, None)
        removed = self.state.forget(key)
        if removed is not None and removed.gang_name:
            self.gangs.refresh(removed.gang_name)

    def _note_placed(self, pod: Pod, node: str) -> None:
        """A pod now holds room on a node: its own nomination ends; lower ones it displaced are re-planned."""
        nomination = self.nominations.pop(pod.key)
        if nomination is not None and pod.nominated_node:
            self._emit(ClearNomination(PodRef.of(pod)))
        for displaced in self.nominations.displaced_by(pod, self.state):
            self._renominate(displaced.pod)
        if pod.gang_name:
            self.gangs.refresh(pod.gang_name)
        self._cluster_changed(ClusterChange(POD_PLACED, pod, node))  # e.g. the pod a waiting one wants to be near

    def _may_wake_any(self, kind: str) -> bool:
        """Could a change of this kind help any parked unit, judging by the filters that rejected them?"""
        return any(count and wakes(self._filters.get(name), kind) for name, count in self.queue.parked_by.items())

    def _cluster_changed(self, change: ClusterChange) -> None:
        """Parked units retry when a filter that rejected them says the change may help (kube's
        QueueingHints): a pod kept out by anti-affinity waits for a matching pod to leave, not for any change."""
        if not self.queue.counts[UNSCHEDULABLE] or not self._may_wake_any(change.kind):
            return  # e.g. a pod placed while only pods short of room are parked: no scan at all
        state = self.state
        self.queue.move_to_active(lambda unit: may_help(change, unit.rejected_by, unit.members.values(),
                                                        self._filters, state))

    def _renominate(self, pod: Pod) -> None:
        self._emit(ClearNomination(PodRef.of(pod)))
        if pod.key in self.queue:
            self.queue.add(self.queue.pod(pod.key) or pod)

    def _expire_nominations(self) -> None:
        """Nominations whose node vanished or whose victims never went: re-plan those pods."""
        now = self.clock()
        if not len(self.nominations) or now - self._last_nomination_check < 1.0:
            return
        self._last_nomination_check = now
        for nomination in self.nominations.stale(self.state, now, self.nomination_timeout,
                                                 self.preemption.still_terminating):
            gone = self.state.node(nomination.node) is None
            why = f"node {nomination.node} is gone" if gone else \
                f"room on {nomination.node} did not free up within {self.nomination_timeout:g}s"
            log.info("nomination of %s expired (%s); re-planning", nomination.pod.key, why)
            self._emit(Event(PodRef.of(nomination.pod), WARNING, "NominationExpired", "Scheduling",
                             f"nomination expired: {why}; re-planning"))
            self._renominate(nomination.pod)

    def _podgroup_statuses(self) -> None:
        """Write a PodGroup's status when what it would say changed (never on every round)."""
        for key in list(self.gangs.registry.podgroups):
            status = self.gangs.podgroup_status(key)
            if self._podgroups_written.get(key) != status:
                self._podgroups_written[key] = status
                namespace, name = key.split("/", 1)
                self._emit(UpdatePodGroupStatus(namespace, name, *status))
        for key in [k for k in self._podgroups_written if k not in self.gangs.registry.podgroups]:
            del self._podgroups_written[key]

    def _refresh_confirmed_gangs(self) -> None:
        while self._confirmed_gangs:
            self.gangs.refresh(self._confirmed_gangs.pop())

    def _expire_gangs(self) -> None:
        """Gangs below their minimum past their timeout: evict their placed members (each on its own)."""
        for gang, members in self.gangs.expire():
            note = f"gang {gang.name} stayed below its minimum past its timeout; evicting its placed members"
            for member in members:
                ref = PodRef.of(member)
                self._emit(Event(ref, WARNING, "GangTimeout", "Scheduling", note))
                self._emit(Evict((ref,), member.node_name, None, (f"Evicted: {note}",)))

    # ------------------------------------------------------------ effects out
    def housekeeping(self) -> List[Effect]:
        """Periodic work (nomination expiry, gang timeouts, PodGroup status) and effects caused by events since
        the last call."""
        self._refresh_confirmed_gangs()
        self._podgroup_statuses()
        self._expire_nominations()
        self._expire_gangs()
        return self._take_outbox()

    def cycle(self) -> Optional[List[Effect]]:
        """Pop the most important unit, decide for it and return the effects; None when nothing is ready.

        An unexpected error while deciding undoes what the attempt assumed, puts the unit back
        with a backoff and raises CycleError: one bad pod must never stop the others."""
        now = self.clock()
        self._refresh_confirmed_gangs()
        if now >= self._next_expiry:  # at most once a second: nominations and gangs past their time
            self._next_expiry = now + 1.0
            self._expire_nominations()
            self._expire_gangs()
        rebind = self._due_rebind() if self._rebinds else None
        if rebind is not None:
            return self._take_outbox() + self._effects_of(rebind)
        unit = self.queue.pop()
        if unit is None:
            return self._take_outbox() or None
        members = list(unit.members.values())
        started = now
        try:
            decisions = self._schedule_gang(unit) if unit.is_gang else self._schedule_members(unit)
        except Exception as exc:
            self._abandon(unit, members, started)
            raise CycleError(unit.key) from exc
        effects = self._take_outbox()
        for decision in decisions:
            effects += self._effects_of(decision)
        return effects

    def _effects_of(self, decision: Decision) -> List[Effect]:
        return self._decision_effects.of(decision)

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
            decision = self.preemption.decide(pod)
            if decision.node is not None:
                self.engine.assume(pod, decision.node)
                self.pending.pop(pod.key, None)
                placed.append(pod.key)
                self._note_placed(pod, decision.node)
            decisions.append(decision)
        self._finish(unit, decisions, placed)
        return decisions

    def _schedule_gang(self, unit: Unit) -> List[Decision]:
        pending = unit.pods()
        mismatch = self.gangs.priority_mismatch(pending)
        if mismatch:
            for pod in pending:
                self._emit(Event(PodRef.of(pod), WARNING, "GangPriorityMismatch", "Scheduling", mismatch))
        decisions = self.gangs.schedule(unit)
        placed = [d.pod.key for d in decisions if d.node is not None]
        for key in placed:
            self.pending.pop(key, None)
        self._finish(unit, decisions, placed)
        for decision in decisions:
            if decision.node is not None:
                self._note_placed(decision.pod, decision.node)
        return decisions

    def _finish(self, unit: Unit, decisions: List[Decision], placed: List[str]) -> None:
        """Return the unit to the queue according to what happened to it."""
        self.queue.done(unit, placed)
        if unit.key not in self.queue.units:
            return
        unit.rejected_by = frozenset(name for d in decisions if d.diagnosis for name in d.diagnosis.plugins)
        unit.hint_key = (unit.rejected_by, tuple(sorted(_hint_signature(pod) for pod in unit.members.values())))
        if any(d.nominated_node for d in decisions):
            self.queue.requeue_backoff(unit)  # victims are terminating: retry soon
        else:
            self.queue.requeue_unschedulable(unit)


def _hint_signature(pod: Pod) -> Tuple[Any, ...]:
    """Everything a queueing hint reads of a pod: pods alike in these get the same answers (and are asked once)."""
    return (pod.namespace, tuple(sorted(pod.requests.items())), tuple(sorted(pod.labels.items())), pod.owner_uid,
            pod.owner_kind, pod.pod_affinity, pod.spread, pod.claims, pod.gang_name)


def _node_aspects(known: Optional[Node], node: Node) -> FrozenSet[str]:
    """What about a node changed that a filter may care about (kube's node event hints)."""
    if known is None:
        return frozenset({ADDED})
    aspects = set()
    if known.labels != node.labels:
        aspects.add(LABELS)
    if known.taints != node.taints:
        aspects.add(TAINTS)
    if any(amount > known.allocatable.get(name, 0) for name, amount in node.allocatable.items()):
        aspects.add(ALLOCATABLE)
    if (known.unschedulable and not node.unschedulable) or (not known.ready and node.ready):
        aspects.add(SCHEDULABLE)
    return frozenset(aspects)


def _status_only(before: Pod, after: Pod) -> bool:
    """Only what we write ourselves (status: nomination, condition) changed: nothing to decide anew.
    Every other field (labels, affinity, gates, volumes, ...) counts, including ones added later."""
    return dataclasses.replace(before, nominated_node=after.nominated_node, resource_version=after.resource_version,
                               phase=after.phase, started=after.started) == after
