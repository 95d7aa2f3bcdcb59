"""`preemptive-scheduler simulate`: a scenario played through the in-memory cluster.

Discrete-event simulation on a simulated clock (no sleeping): pods arrive,
the same SchedulingLoop the daemon runs decides, its effects are executed by
the InMemoryCluster with a real API's semantics (binds answer late, evicted
pods terminate after their grace period, budgets refuse evictions), bound pods
run for their duration, and node utilisation follows the scenario's profile as
if sampled from Prometheus.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Dict, List, Optional

from scheduler.config import Config
from scheduler.core.effects import WARNING
from scheduler.core.model import CPU, MIN_AVAILABLE_ANNOTATION, POD_GROUP_LABEL, ModelError, NodeUtilisation
from scheduler.progress import Progress
from scheduler.sim.scenario import Scenario, SimNode, SimPod
from scheduler.sim.timeline import Timeline, TimelineRecorder
from scheduler.sim.world import InMemoryCluster, Observer, RecordedEvent


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
    gone_at: Optional[float] = None  # left its node: finished, or terminated after an eviction
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
    timeline: Timeline = field(default_factory=Timeline)  # for the HTML report
    gang_members: Dict[str, List[str]] = field(default_factory=dict)  # gang -> its pods' keys


class Simulator(Observer):
    """Runs a scenario through the scheduling loop and an InMemoryCluster, keeping a record per pod."""

    def __init__(self, scenario: Scenario, config: Config, seed: int = 0, api_latency: float = 0.0,
                 watch_delay: float = 0.0) -> None:
        self.scenario = scenario
        self.config = config
        self.random = random.Random(seed)
        self.load_profiles = {node.name: node.utilisation for node in scenario.nodes if node.utilisation}
        self.world = InMemoryCluster.from_config(config, load_enabled=bool(self.load_profiles), api_latency=api_latency,
                                                 watch_delay=watch_delay, observer=self)
        self.loop = self.world.loop
        self.raw: Dict[str, Dict[str, Any]] = {}
        self.records: Dict[str, PodRecord] = {}
        self.evictions: List[Eviction] = []
        self.recorder = TimelineRecorder()

    @property
    def now(self) -> float:
        return self.world.now

    # ------------------------------------------------------------ setup
    def _load_nodes(self, nodes: List[SimNode]) -> None:
        for node in nodes:
            added = self.world.add_node(node.raw)
            self.recorder.node(added.name, added.allocatable.get(CPU, 0), self.now)
        if self.load_profiles:
            self.world.at(0.0, self._sample)

    def _schedule_arrivals(self) -> None:
        pods = list(self.scenario.pods)
        self.random.shuffle(pods)  # the seed decides the order of simultaneous arrivals
        for pod in sorted(pods, key=lambda p: p.at):
            self.world.at(pod.at, partial(self._arrive, pod))

    # ------------------------------------------------------------ the scenario's timeline
    def _arrive(self, sim_pod: SimPod) -> None:
        key = sim_pod.key
        raw = sim_pod.raw  # built for this pod alone by the scenario, and only read from here on
        self.raw[key] = raw
        record = PodRecord(key, raw["metadata"]["name"], None, self.now)
        self.records[key] = record
        try:
            pod = self.world.add_pod(raw, duration=sim_pod.duration, grace=sim_pod.grace)
        except ModelError as exc:
            record.reason = f"invalid pod, not scheduled until fixed: {exc}"
            return
        record.priority = pod.priority
        if not self.loop.is_ours(pod):
            record.reason = f"schedulerName {pod.scheduler_name!r} is not ours"

    def _sample(self) -> None:
        values = {}
        for name, profile in self.load_profiles.items():
            current = [p for p in profile if p.at <= self.now]
            if current:
                point = current[-1]
                values[name] = NodeUtilisation(point.cpu, point.memory, self.now)
        self.world.sample_load(values)
        self.recorder.measured(self.now, {name: value.cpu for name, value in values.items()})
        until = self.scenario.until
        if self.world.next_due() is not None or self.loop.pending or (until is not None and self.now < until):
            self.world.at(self.now + self.config.metrics_refresh, self._sample)

    # ------------------------------------------------------------ what the cluster tells us
    def bound(self, key: str, node: str, now: float) -> None:
        record = self.records.get(key)
        if record is not None:
            record.node, record.scheduled_at, record.reason = node, now, ""
        pod = self.world.pods.get(key)
        self.recorder.placed(key, node, pod.requests.get(CPU, 0) if pod is not None else 0, now)

    def gone(self, key: str, node: str, now: float) -> None:
        if not node:
            return  # never ran anywhere
        self.recorder.gone(key, now)
        record = self.records.get(key)
        if record is not None and record.gone_at is None:
            record.gone_at = now

    def evicted(self, key: str, node: str, preemptor: str, now: float) -> None:
        self.evictions.append(Eviction(key, preemptor, node, now))
        record = self.records.get(key)
        if record is not None and record.evicted_at is None and record.finished_at is None:
            record.evicted_at = now
            record.reason = f"preempted by {preemptor}"

    def finished(self, key: str, now: float) -> None:
        record = self.records.get(key)
        if record is not None and record.evicted_at is None and record.finished_at is None:
            record.finished_at = now

    def condition(self, key: str, reason: str, message: str) -> None:
        record = self.records.get(key)
        if record is not None and record.node is None:
            record.reason = message

    def nominated(self, key: str, node: str) -> None:
        record = self.records.get(key)
        if record is not None:
            record.nominated_node = node

    def event(self, event: RecordedEvent) -> None:
        record = self.records.get(event.pod)
        if record is not None and event.type == WARNING and event.reason != "FailedScheduling" \
                and event.message not in record.warnings:
            record.warnings.append(event.message)

    # ------------------------------------------------------------ main loop
    def run(self) -> SimResult:
        until = self.scenario.until
        self._load_nodes(self.scenario.nodes)
        self._schedule_arrivals()
        progress = Progress(f"simulate {self.scenario.name}")
        horizon = f" of {until:g}s" if until is not None else ""

        def between_rounds() -> None:
            self.recorder.pending(self.now, len(self.loop.pending))
            progress.update(lambda: (
                f"{self.now:g}s{horizon} simulated, {len(self.world.bindings)}/{len(self.records)} pods bound"))

        self.world.run(until=until, idle_wait=self.config.unschedulable_timeout if until is not None else None,
                       progress=between_rounds)
        progress.done()
        if until is not None:
            self.world.advance(until)
        return self.result()

    def result(self) -> SimResult:
        from scheduler.sim.report import node_rows

        pods = sorted(self.records.values(), key=lambda r: (r.arrived, r.key))
        self.recorder.pending(self.now, len(self.loop.pending))
        members: Dict[str, List[str]] = {}
        for record in pods:
            gang = self._gang_of(record.key)
            if gang:
                members.setdefault(gang, []).append(record.key)
        return SimResult(self.scenario.name, self.now, pods, self.evictions, node_rows(self.loop), self.gang_rows(),
                         self.recorder.timeline, members)

    def gang_rows(self) -> List[Dict[str, Any]]:
        """Each gang's state for the report (finished gangs are summarised from their pods)."""
        by_gang: Dict[str, List[PodRecord]] = {}
        for record in self.records.values():
            name = self._gang_of(record.key)
            if name:
                by_gang.setdefault(name, []).append(record)
        rows = []
        for name, members in sorted(by_gang.items()):
            summary = self.loop.gang_summary(name)
            minimum = self.raw[members[0].key]["metadata"].get("annotations", {}).get(MIN_AVAILABLE_ANNOTATION)
            if summary is not None:
                minimum = summary[2] or minimum
            rows.append({
                "name": name,
                "members": len(members),
                "min_available": minimum,
                "scheduled": sum(1 for r in members if r.scheduled_at is not None),
                "running": sum(1 for r in members if r.state == "Running"),
                "state": summary[0] if summary is not None else "Finished",
                "message": summary[1] if summary is not None else "",
            })
        return rows

    def _gang_of(self, key: str) -> str:
        group = self.raw[key]["metadata"].get("labels", {}).get(POD_GROUP_LABEL, "")
        return f"{key.split('/')[0]}/{group}" if group else ""
