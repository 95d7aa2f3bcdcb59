"""InMemoryCluster: a Kubernetes API that lives in memory, on a simulated clock.

The other executor of the core's effects (the daemon's actuator is the first),
with a real API's timing and refusals, so `simulate`, the benchmarks and the
scenario tests see what the daemon sees:

- every API call answers after `api_latency` seconds, and what it changed is
  seen through the watch `watch_delay` seconds after that;
- a binding of a pod that is gone, or already bound, is refused (404, 409);
  `bind_errors` injects failures (e.g. ``{"default/web": [500, 500]}``: the
  next two bindings of that pod fail without taking effect);
- an eviction goes through PodDisruptionBudgets like the Eviction API (429 when
  a budget allows no more disruptions; their status is kept current the way
  the disruption controller does) and through graceful termination: the pod
  keeps a deletion timestamp for its grace period, then disappears;
- pods with a `duration` succeed that long after they start.

Objects enter as raw JSON and are parsed once with the daemon's parser; after
that the cluster keeps the typed objects and changes them as the API would.
Nothing sleeps: `run()` advances the clock from one due thing to the next.
"""
from __future__ import annotations

import heapq
import itertools
import math
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from scheduler.config import Config
from scheduler.core.effects import (
    NORMAL,
    Bind,
    BindResult,
    ClearNomination,
    Effect,
    Event,
    Evict,
    EvictionResult,
    Nominate,
    PodRef,
    SetCondition,
    UpdatePodGroupStatus,
    evict_in_order,
)
from scheduler.core.loop import SchedulingLoop
from scheduler.core.model import DisruptionBudget, ModelError, Node, NodeUtilisation, Pod
from scheduler.core.parse import Defaults, parse_node, parse_pdb, parse_pod
from scheduler.stack import build_loop, defaults_from


@dataclass(frozen=True)
class RecordedEvent:
    """An Event as posted: when, about which pod, and what it said."""

    time: float
    pod: str
    type: str
    reason: str
    message: str


class Observer:
    """What a driver may want to hear about (the simulator keeps its per-pod records with this)."""

    def bound(self, key: str, node: str, now: float) -> None: ...
    def evicted(self, key: str, node: str, preemptor: str, now: float) -> None: ...
    def finished(self, key: str, now: float) -> None: ...
    def gone(self, key: str, node: str, now: float) -> None: ...
    def condition(self, key: str, reason: str, message: str) -> None: ...
    def nominated(self, key: str, node: str) -> None: ...
    def event(self, event: RecordedEvent) -> None: ...


@dataclass
class _Budget:
    raw: Dict[str, Any]
    parsed: DisruptionBudget
    allowed: int = -1


@dataclass
class InMemoryCluster:
    loop: SchedulingLoop
    defaults: Defaults
    api_latency: float = 0.0
    watch_delay: float = 0.0
    bind_errors: Dict[str, List[int]] = field(default_factory=dict)
    observer: Observer = field(default_factory=Observer)
    now: float = 0.0

    @classmethod
    def from_config(cls, config: Config, load_enabled: bool = False, **settings: Any) -> InMemoryCluster:
        """The scheduling loop `config` describes, on this cluster's simulated clock, and the cluster around it."""
        clusters: List[InMemoryCluster] = []
        loop = build_loop(config, lambda: clusters[0].now, load_enabled=load_enabled)
        clusters.append(cls(loop, defaults_from(config), **settings))
        return clusters[0]

    def __post_init__(self) -> None:
        self.pods: Dict[str, Pod] = {}
        self.nodes: Dict[str, Node] = {}
        self.budgets: Dict[str, _Budget] = {}
        self.durations: Dict[str, float] = {}
        self.graces: Dict[str, float] = {}
        self.events: List[RecordedEvent] = []
        self.podgroup_status: Dict[str, Dict[str, Any]] = {}  # PodGroup key -> the status last written
        self.bindings: Dict[str, int] = {}  # pod key -> bindings accepted
        self.victims: List[Tuple[str, str]] = []  # (victim, preemptor or "") for every eviction accepted
        self._timers: List[Tuple[float, int, Callable[[], None]]] = []
        self._due_now: Deque[Callable[[], None]] = deque()  # zero-delay actions, in order (cheaper than the heap)
        self._seq = itertools.count()
        self._uids = itertools.count(1)

    # ------------------------------------------------------------ the clock
    def clock(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), action))

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        if delay <= 0:
            self._due_now.append(action)
        else:
            self.at(self.now + delay, action)

    def _watch(self, action: Callable[[], None]) -> None:
        """A change the scheduler learns about through its watch."""
        self._later(self.watch_delay, action)

    def next_due(self) -> Optional[float]:
        if self._due_now:
            return self.now
        return self._timers[0][0] if self._timers else None

    def advance(self, to: float) -> None:
        """Move the clock to `to`, running everything due by then in order."""
        due_now = self._due_now
        while True:
            while due_now:
                due_now.popleft()()
            if not self._timers or self._timers[0][0] > to:
                break
            when, _, action = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            action()
        self.now = max(self.now, to)

    # ------------------------------------------------------------ objects in (as a user or controller would)
    def add_node(self, raw: Mapping[str, Any]) -> Node:
        node = parse_node(raw, self.defaults.quantities)
        self.nodes[node.name] = node
        self._watch(lambda: self.loop.node_changed(node))
        return node

    def add_pod(self, raw: Mapping[str, Any], duration: Optional[float] = None, grace: Optional[float] = None) -> Pod:
        """Create a pod (raises ModelError for one the scheduler could not parse either).  Its grace
        period is `grace`, else its spec.terminationGracePeriodSeconds, else 30 s, as in the API."""
        if grace is None:
            grace = _grace_period(raw)
        return self.create_pod(parse_pod(raw, self.defaults), duration, grace)

    def create_pod(self, pod: Pod, duration: Optional[float] = None, grace: float = 30.0) -> Pod:
        """Create a pod already parsed (benchmarks parse ahead, to time parsing on its own)."""
        if not pod.uid:
            pod = _changed(pod, uid=f"uid-{next(self._uids)}")
        self.pods[pod.key] = pod
        if duration is not None:
            self.durations[pod.key] = duration
        self.graces[pod.key] = grace
        self._pod_changed(pod)
        if pod.node_name:
            self._run_out(pod)
        return pod

    def add_pdb(self, raw: Mapping[str, Any]) -> None:
        budget = parse_pdb(raw)
        self.budgets[budget.key] = _Budget(dict(raw), budget)
        self._recount(budget.key)

    def add_podgroup(self, raw: Mapping[str, Any]) -> None:
        meta = raw.get("metadata") or {}
        key = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
        self._watch(lambda: self.loop.podgroup_changed("ADDED", key, dict(raw)))

    def delete_pod(self, key: str) -> None:
        pod = self.pods.pop(key, None)
        if pod is not None:
            self._pod_gone(pod)

    def sample_load(self, values: Dict[str, NodeUtilisation]) -> None:
        """A Prometheus reading arrives (the refresher reads off the hot path: no watch delay)."""
        self.loop.load_changed(values)

    # ------------------------------------------------------------ effects
    def execute(self, effects: Sequence[Effect]) -> None:
        """Carry out effects with the API's semantics; each answers after `api_latency`."""
        evictions: Dict[str, List[Evict]] = {}
        for effect in effects:
            if isinstance(effect, Evict):
                evictions.setdefault(effect.pod.key, []).append(effect)
            else:
                self._later(self.api_latency, partial(self._apply, effect))
        for plans in evictions.values():
            self._later(self.api_latency, partial(self._evict_plans, plans))

    def _apply(self, effect: Effect) -> None:
        if isinstance(effect, Bind):
            self._bind(effect)
        elif isinstance(effect, SetCondition):
            self.observer.condition(effect.pod.key, effect.reason, effect.message)
        elif isinstance(effect, Nominate):
            self._set_nomination(effect.pod, effect.node)
        elif isinstance(effect, ClearNomination):
            self._set_nomination(effect.pod, "")
        elif isinstance(effect, Event):
            self._record(effect.pod.key, effect.type, effect.reason, effect.message)
        elif isinstance(effect, UpdatePodGroupStatus):
            self.podgroup_status[effect.key] = {"phase": effect.phase, "scheduled": effect.scheduled,
                                                "running": effect.running, "succeeded": effect.succeeded}

    def _record(self, key: str, kind: str, reason: str, message: str) -> None:
        event = RecordedEvent(self.now, key, kind, reason, sys.intern(message))  # repeated verdicts share one text
        self.events.append(event)
        self.observer.event(event)

    def _bind(self, effect: Bind) -> None:
        key = effect.pod.key
        pod = self.pods.get(key)
        errors = self.bind_errors.get(key)
        if pod is None or (effect.pod.uid and pod.uid != effect.pod.uid):
            self._answer_bind(effect, 404, f'pods "{effect.pod.name}" not found')
        elif pod.node_name:
            self._answer_bind(effect, 409, f"pod {key} is already assigned to node {pod.node_name}")
        elif pod.deleting:
            self._answer_bind(effect, 409, f"pod {key} is being deleted, cannot be assigned to a host")
        elif pod.scheduling_gates:
            self._answer_bind(effect, 409, f"pod {key} has non-empty .spec.schedulingGates")
        elif effect.node not in self.nodes:
            self._answer_bind(effect, 404, f'nodes "{effect.node}" not found')
        elif errors:
            self._answer_bind(effect, errors.pop(0), "injected failure")
        else:
            # startTime has whole seconds in the API, so pods started in the same second tie, as in a cluster
            bound = _changed(pod, node_name=effect.node, phase="Running", started=float(math.floor(self.now)),
                             nominated_node="")
            self.pods[key] = bound
            self.bindings[key] = self.bindings.get(key, 0) + 1
            self._pod_changed(bound)
            self.observer.bound(key, effect.node, self.now)
            self._record(key, NORMAL, "Scheduled", f"Successfully assigned {key} to {effect.node}")
            self.loop.bind_result(BindResult(effect.pod, effect.node, True))
            self._run_out(bound)

    def _answer_bind(self, effect: Bind, status: int, message: str) -> None:
        retry_after = 1.0 if status == 429 else 0.0
        self.loop.bind_result(BindResult(effect.pod, effect.node, False, status, message, retry_after))

    def _set_nomination(self, ref: PodRef, node: str) -> None:
        pod = self.pods.get(ref.key)
        if pod is None or pod.uid != ref.uid or pod.nominated_node == node:
            return
        pod = _changed(pod, nominated_node=node)
        self.pods[ref.key] = pod
        if node:
            self.observer.nominated(ref.key, node)
        self._pod_changed(pod)

    def _evict_plans(self, plans: List[Evict]) -> None:
        for plan in plans:
            for result in evict_in_order(plan, partial(self._evict_one, plan=plan)):
                self.loop.eviction_result(result)

    def _evict_one(self, ref: PodRef, plan: Evict) -> EvictionResult:
        status, message = self._evict(ref, plan)
        result = EvictionResult(ref, plan.preemptor, status in (201, 404), status, message)
        self.loop.eviction_result(result)
        return result

    def _evict(self, ref: PodRef, plan: Evict) -> Tuple[int, str]:
        pod = self.pods.get(ref.key)
        if pod is None or (ref.uid and pod.uid != ref.uid):
            return 404, "not found"
        if pod.deleting:
            return 201, ""  # already going: budgets are not consulted
        if pod.phase == "Running":
            for key in self._budgets_of(pod):
                if self.budgets[key].allowed <= 0:
                    return 429, f"Cannot evict pod as it would violate the pod's disruption budget {key}."
        self._evicted(ref, pod, plan)
        if not pod.node_name or pod.terminal:  # nothing runs: the API deletes it at once
            del self.pods[ref.key]
            self._pod_gone(pod)
            return 201, ""
        leaving = _changed(pod, deleting=True)
        self.pods[ref.key] = leaving
        self._pod_changed(leaving)
        self._later(self.graces.get(ref.key, 30.0), lambda: self._terminated(ref.key, pod.uid))
        return 201, ""

    def _evicted(self, ref: PodRef, pod: Pod, plan: Evict) -> None:
        """Record an accepted eviction: the victim list, the observer and the victim's Event."""
        preemptor = plan.preemptor.key if plan.preemptor is not None else ""
        self.victims.append((ref.key, preemptor))
        self.observer.evicted(ref.key, pod.node_name, preemptor or plan.note(ref), self.now)
        self._record(ref.key, NORMAL, "Preempted" if plan.preemptor is not None else "Evicted", plan.note(ref))

    # ------------------------------------------------------------ pod lifecycle
    def _run_out(self, pod: Pod) -> None:
        """A pod with a duration that started running succeeds that long afterwards."""
        duration = self.durations.get(pod.key)
        if duration is not None:
            self._later(duration, lambda: self._finish(pod.key, pod.uid))

    def _finish(self, key: str, uid: str) -> None:
        pod = self.pods.get(key)
        if pod is None or pod.uid != uid or pod.deleting:
            return
        del self.pods[key]
        self.observer.finished(key, self.now)
        self._pod_gone(pod, succeeded=True)

    def _terminated(self, key: str, uid: str) -> None:
        pod = self.pods.get(key)
        if pod is not None and pod.uid == uid:
            del self.pods[key]
            self._pod_gone(pod)

    def _pod_changed(self, pod: Pod) -> None:
        self._watch(lambda: self.loop.pod_changed(pod))
        self._recount_for(pod)

    def _pod_gone(self, pod: Pod, succeeded: bool = False) -> None:
        self.observer.gone(pod.key, pod.node_name, self.now)
        self._watch(lambda: self.loop.pod_deleted(pod.key, succeeded=succeeded))
        self._recount_for(pod)

    # ------------------------------------------------------------ the disruption controller
    def _budgets_of(self, pod: Pod) -> List[str]:
        return [key for key, budget in self.budgets.items() if budget.parsed.covers(pod)]

    def _recount_for(self, pod: Pod) -> None:
        if self.budgets:
            for key in self._budgets_of(pod):
                self._recount(key)

    def _recount(self, key: str) -> None:
        """Recompute a budget's status from its pods, and let the scheduler see it if it changed."""
        budget = self.budgets[key]
        covered = [p for p in self.pods.values() if budget.parsed.covers(p)]
        healthy = sum(1 for p in covered if p.phase == "Running" and p.node_name and not p.deleting)
        spec = budget.raw.get("spec") or {}
        desired = _desired_healthy(spec, len(covered))
        allowed = max(0, healthy - desired)
        if allowed == budget.allowed:
            return
        budget.allowed = allowed
        budget.raw = {**budget.raw, "status": {"disruptionsAllowed": allowed, "currentHealthy": healthy,
                                                "desiredHealthy": desired, "expectedPods": len(covered)}}
        try:
            budget.parsed = parse_pdb(budget.raw)
        except ModelError:
            return
        pdb = budget.parsed
        self._watch(lambda: self.loop.pdb_changed(pdb))

    # ------------------------------------------------------------ driving the scheduler
    def run(self, until: Optional[float] = None, idle_wait: Optional[float] = None,
            cycle_times: Optional[List[float]] = None, progress: Optional[Callable[[], None]] = None,
            after_cycle: Optional[Callable[[], None]] = None) -> None:
        """Schedule until nothing more can happen (or until `until`): cycles run at the current
        instant, effects go to the API, and the clock jumps to the next thing due.

        `idle_wait`: with pods still pending and nothing else due, how long to wait for a
        periodic retry (the unschedulable timeout); None ends the run there.  `cycle_times`
        collects the wall-clock seconds of every scheduling cycle (benchmarks); `progress` is
        called between rounds (it decides itself how often to show anything); `after_cycle()` after each
        cycle that decided something (benchmarks change the cluster while it schedules)."""
        if idle_wait is not None and until is None:
            raise ValueError("idle_wait needs until: a pod that never fits would be retried forever")
        while True:
            self.advance(self.now)
            self._drain(cycle_times, progress, after_cycle)
            if progress is not None:
                progress()
            self.execute(self.loop.housekeeping())
            due = [t for t in (self.next_due(),) if t is not None]
            ready_in = self.loop.next_ready_in()
            if ready_in is not None:
                due.append(self.now + max(ready_in, 1e-6))
            if idle_wait is not None and self.loop.pending:
                due.append(self.now + idle_wait)
            if not due:
                return
            nxt = min(due)
            if until is not None and nxt > until:
                self.advance(until)
                return
            self.advance(nxt)

    def _drain(self, cycle_times: Optional[List[float]], progress: Optional[Callable[[], None]] = None,
               after_cycle: Optional[Callable[[], None]] = None) -> None:
        cycles = 0
        while True:
            cycles += 1
            if progress is not None and cycles % 256 == 0:
                progress()
            started = time.perf_counter()
            effects = self.loop.cycle()
            if effects is None:
                return
            if cycle_times is not None:
                cycle_times.append(time.perf_counter() - started)
            self.execute(effects)
            if after_cycle is not None:
                after_cycle()
            if self.api_latency == 0:
                self.advance(self.now)  # answers due now come back before the next decision, as over a fast API


def _grace_period(raw: Mapping[str, Any]) -> float:
    spec = raw.get("spec") if isinstance(raw, Mapping) else None
    value = spec.get("terminationGracePeriodSeconds") if isinstance(spec, Mapping) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 10**9:
        return float(value)
    return 30.0


def _changed(pod: Pod, **fields: Any) -> Pod:
    """A new version of the pod (the old object stays as it was: the scheduler may still hold it)."""
    new = object.__new__(Pod)
    new.__dict__.update(pod.__dict__)
    new.__dict__.update(fields)
    return new


def _desired_healthy(spec: Mapping[str, Any], expected: int) -> int:
    """minAvailable, or expected - maxUnavailable (integers or percentages), as the disruption controller computes."""
    def scaled(value: Any) -> int:
        if isinstance(value, str) and value.endswith("%"):
            try:
                return int(math.ceil(float(value[:-1]) * expected / 100.0))
            except ValueError:
                return expected
        return int(value) if isinstance(value, int) else expected

    if spec.get("minAvailable") is not None:
        return scaled(spec["minAvailable"])
    if spec.get("maxUnavailable") is not None:
        return max(0, expected - scaled(spec["maxUnavailable"]))
    return expected
