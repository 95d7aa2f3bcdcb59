"""The embedded simulated cluster behind `preemptive-scheduler simulate`.

Discrete-event simulation on a simulated clock (no sleeping): pods arrive,
the same SchedulingLoop the daemon runs decides, bound pods run for their
duration, evicted pods terminate after their grace period, and node
utilisation follows the scenario's profile as if sampled from Prometheus.
"""
from __future__ import annotations

import copy
import heapq
import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from scheduler.config import Config
from scheduler.core.engine import Decision
from scheduler.core.model import (
    MIN_AVAILABLE_ANNOTATION, POD_GROUP_LABEL, Defaults, ModelError, NodeUtilisation, parse_node, parse_pod,
)
from scheduler.sim.scenario import Scenario, SimNode, SimPod
from scheduler.stack import build_loop, defaults_from

ARRIVE, FINISH, TERMINATE, SAMPLE = "arrive", "finish", "terminate", "sample"


@dataclass
class PodRecord:
    """What happened to one pod during the simulation."""

    key: str
    name: str
    priority: Optional[int]
    arrived: float
    node: Optional[str] = None
    scheduled_at: Optional[float] = None
    finished_at: Optional[float] = None
    evicted_at: Optional[float] = None
    nominated_node: str = ""
    reason: str = ""
    warnings: List[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.evicted_at is not None:
            return "Evicted"
        if self.finished_at is not None:
            return "Succeeded"
        if self.node is not None:
            return "Running"
        return "Pending"


@dataclass
class Eviction:
    victim: str
    preemptor: str
    node: str
    time: float


@dataclass
class SimResult:
    scenario: str
    end_time: float
    pods: List[PodRecord]
    evictions: List[Eviction]
    nodes: List[Dict[str, Any]]
    gangs: List[Dict[str, Any]] = field(default_factory=list)


class Simulator:
    def __init__(self, scenario: Scenario, config: Config, seed: int = 0) -> None:
        self.scenario = scenario
        self.config = config
        self.now = 0.0
        self.random = random.Random(seed)
        self.defaults: Defaults = defaults_from(config)
        self.load_profiles = {node.name: node.utilisation for node in scenario.nodes if node.utilisation}
        self.loop = build_loop(config, self.clock, load_enabled=bool(self.load_profiles))
        self._events: List[Tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self.raw: Dict[str, Dict[str, Any]] = {}
        self.sim_pods: Dict[str, SimPod] = {}
        self.records: Dict[str, PodRecord] = {}
        self.evictions: List[Eviction] = []

    def clock(self) -> float:
        return self.now

    def _push(self, at: float, kind: str, payload: Any) -> None:
        heapq.heappush(self._events, (at, next(self._seq), kind, payload))

    # ------------------------------------------------------------ setup
    def _load_nodes(self, nodes: List[SimNode]) -> None:
        for node in nodes:
            self.loop.node_changed(parse_node(node.raw))
        if self.load_profiles:
            self._push(0.0, SAMPLE, None)

    def _schedule_arrivals(self) -> None:
        pods = list(self.scenario.pods)
        self.random.shuffle(pods)  # the seed decides the order of simultaneous arrivals
        for pod in sorted(pods, key=lambda p: p.at):
            self._push(pod.at, ARRIVE, pod)

    # ------------------------------------------------------------ events
    def _arrive(self, sim_pod: SimPod) -> None:
        key = sim_pod.key
        raw = copy.deepcopy(sim_pod.raw)
        self.raw[key] = raw
        self.sim_pods[key] = sim_pod
        record = PodRecord(key, raw["metadata"]["name"], None, self.now)
        self.records[key] = record
        try:
            pod = parse_pod(raw, self.defaults)
        except ModelError as exc:
            record.reason = f"invalid pod, not scheduled until fixed: {exc}"
            return
        record.priority = pod.priority
        record.warnings.extend(pod.warnings)
        if not self.loop.is_ours(pod):
            record.reason = f"schedulerName {pod.scheduler_name!r} is not ours"
        self.loop.pod_changed(pod)

    def _finish(self, key: str) -> None:
        record = self.records[key]
        if record.evicted_at is None and record.finished_at is None:
            record.finished_at = self.now
            self.loop.pod_deleted(key, succeeded=True)

    def _terminate(self, key: str) -> None:
        self.loop.pod_deleted(key)

    def _sample(self) -> None:
        values = {}
        for name, profile in self.load_profiles.items():
            current = [p for p in profile if p.at <= self.now]
            if current:
                point = current[-1]
                values[name] = NodeUtilisation(point.cpu, point.memory, self.now)
        self.loop.state.set_utilisation(values)
        self.loop.queue.move_all_to_active()
        until = self.scenario.until
        if self._events or (until is not None and self.now < until):
            self._push(self.now + self.config.metrics_refresh, SAMPLE, None)

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == ARRIVE:
            self._arrive(payload)
        elif kind == FINISH:
            self._finish(payload)
        elif kind == TERMINATE:
            self._terminate(payload)
        elif kind == SAMPLE:
            self._sample()

    # ------------------------------------------------------------ decisions
    def apply(self, decision: Decision) -> None:
        """Act on a decision as the daemon would: bind, evict, nominate, or record why not."""
        pod = decision.pod
        record = self.records.get(pod.key)
        for victim in decision.victims:
            self._evict(victim.key, pod.key, self.raw[victim.key]["spec"].get("nodeName") or "")
        if decision.node is not None:
            self._bind(pod.key, decision.node)
            return
        if record is not None:
            record.nominated_node = decision.nominated_node or record.nominated_node
            record.reason = decision.message

    def _bind(self, key: str, node: str) -> None:
        raw = self.raw[key]
        raw["spec"]["nodeName"] = node
        raw["status"] = {"phase": "Running", "startTime": self.now}
        record = self.records[key]
        record.node, record.scheduled_at, record.reason = node, self.now, ""
        self.loop.pod_changed(parse_pod(raw, self.defaults))
        duration = self.sim_pods[key].duration
        if duration is not None:
            self._push(self.now + duration, FINISH, key)

    def _evict(self, victim: str, preemptor: str, node: str) -> None:
        record = self.records.get(victim)
        if record is None or record.evicted_at is not None or record.finished_at is not None:
            return
        record.evicted_at = self.now
        record.reason = f"preempted by {preemptor}"
        self.evictions.append(Eviction(victim, preemptor, node, self.now))
        raw = self.raw[victim]
        raw["metadata"]["deletionTimestamp"] = self.now
        self.loop.pod_changed(parse_pod(raw, self.defaults))
        self._push(self.now + self.sim_pods[victim].grace, TERMINATE, victim)

    # ------------------------------------------------------------ main loop
    def _drain(self) -> None:
        while True:
            decisions = self.loop.cycle()
            self._gang_actions()
            if decisions is None:
                return
            for decision in decisions:
                self.apply(decision)

    def _gang_actions(self) -> None:
        """Roll back gangs stuck below their minimum, and record warnings on the pods."""
        self.loop.cleared_nominations.clear()  # the simulator keeps no nominatedNodeName to patch
        gangs = self.loop.gangs
        for name, members in gangs.rollbacks if gangs is not None else ():
            for member in members:
                self._evict(member.key, f"gang {name} timeout", self.raw[member.key]["spec"].get("nodeName", ""))
        if gangs is not None:
            gangs.rollbacks.clear()
        for pod, _reason, message in self.loop.notices:
            record = self.records.get(pod.key)
            if record is not None and message not in record.warnings:
                record.warnings.append(message)
        self.loop.notices.clear()

    def _next_time(self, until: Optional[float]) -> Optional[float]:
        candidates = []
        if self._events:
            candidates.append(self._events[0][0])
        ready_in = self.loop.queue.next_ready_in()
        if ready_in is not None:
            candidates.append(self.now + max(ready_in, 1e-6))
        if until is not None and self.loop.pending:
            candidates.append(self.now + self.config.unschedulable_timeout)
        if not candidates:
            return None
        return min(candidates)

    def run(self) -> SimResult:
        until = self.scenario.until
        self._load_nodes(self.scenario.nodes)
        self._schedule_arrivals()
        while True:
            self._drain()
            next_time = self._next_time(until)
            if next_time is None or (until is not None and next_time > until):
                break
            self.now = max(self.now, next_time)
            while self._events and self._events[0][0] <= self.now:
                _, _, kind, payload = heapq.heappop(self._events)
                self._handle(kind, payload)
        if until is not None:
            self.now = max(self.now, until)
        return self.result()

    def result(self) -> SimResult:
        from scheduler.sim.report import node_rows

        pods = sorted(self.records.values(), key=lambda r: (r.arrived, r.key))
        return SimResult(self.scenario.name, self.now, pods, self.evictions, node_rows(self.loop.state), self.gang_rows())

    def gang_rows(self) -> List[Dict[str, Any]]:
        """Each gang's state for the report (finished gangs are summarised from their pods)."""
        gangs = self.loop.gangs
        by_gang: Dict[str, List[PodRecord]] = {}
        for record in self.records.values():
            name = self._gang_of(record.key)
            if name:
                by_gang.setdefault(name, []).append(record)
        rows = []
        for name, members in sorted(by_gang.items()):
            gang = gangs.registry.gangs.get(name) if gangs is not None else None
            minimum = self.raw[members[0].key]["metadata"].get("annotations", {}).get(MIN_AVAILABLE_ANNOTATION)
            if gang is not None and gangs is not None:
                spec = gangs.registry.spec(gang)
                minimum = spec.min_available or minimum
            rows.append({
                "name": name,
                "members": len(members),
                "min_available": minimum,
                "scheduled": sum(1 for r in members if r.scheduled_at is not None),
                "running": sum(1 for r in members if r.state == "Running"),
                "state": gang.state if gang is not None else "Finished",
                "message": gang.message if gang is not None else "",
            })
        return rows

    def _gang_of(self, key: str) -> str:
        group = self.raw[key]["metadata"].get("labels", {}).get(POD_GROUP_LABEL, "")
        return f"{key.split('/')[0]}/{group}" if group else ""
