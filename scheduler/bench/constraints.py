"""Constraint workloads in the shapes of kube-scheduler's scheduler_perf, each checked independently.

SchedulingPodAntiAffinity, SchedulingPodAffinity, TopologySpreading,
SchedulingPreferredPodAntiAffinity and SchedulingNodeAffinity: nodes, initial
pods already running, then the measured pods through the in-memory cluster.
After the run, `violations` recounts every required constraint of every
placed pod from the final placements with plain loops (no code shared with the
plugins): it must be 0.  Target: each >= 1000 pods/s in the engine at 5000 nodes.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from scheduler.bench import workloads
from scheduler.bench.runner import peak_rss_mb, queue_and_drain, register
from scheduler.config import Config
from scheduler.core.model import Pod, term_matches
from scheduler.core.parse import parse_pod
from scheduler.sim.world import InMemoryCluster
from scheduler.stack import defaults_from

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
SETUP, TEST = "sched-setup", "sched-test"


@dataclass(frozen=True)
class Shape:
    """One workload: node labels by index, and the raw spec fields of initial and measured pods."""

    name: str
    node_labels: Callable[[int], Dict[str, str]]
    init_pods: int
    init_spec: Callable[[int], Dict[str, Any]]
    measured_spec: Callable[[int], Dict[str, Any]]


def _selector(labels: Mapping[str, str]) -> Dict[str, Any]:
    return {"matchLabels": dict(labels)}


def _anti(i: int) -> Dict[str, Any]:
    term = {"labelSelector": _selector({"color": "green"}), "topologyKey": HOST, "namespaces": [SETUP, TEST]}
    return {"labels": {"color": "green", "name": "test"},
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}


def _affinity(i: int) -> Dict[str, Any]:
    term = {"labelSelector": _selector({"foo": ""}), "topologyKey": ZONE, "namespaces": [SETUP, TEST]}
    return {"labels": {"foo": ""}, "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}


def _preferred_anti(i: int) -> Dict[str, Any]:
    term = {"labelSelector": _selector({"color": "green"}), "topologyKey": HOST, "namespaces": [SETUP, TEST]}
    return {"labels": {"color": "green", "name": "test"}, "affinity": {"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": term}]}}}


def _spread(i: int) -> Dict[str, Any]:
    return {"labels": {"color": "blue"}, "topologySpreadConstraints": [
        {"maxSkew": 5, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": _selector({"color": "blue"})}]}


def _node_affinity(i: int) -> Dict[str, Any]:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone1", "zone2"]}]}]}}}}


def _plain(i: int) -> Dict[str, Any]:
    return {}


def _zones(count: int) -> Callable[[int], Dict[str, str]]:
    return lambda i: {ZONE: f"zone{i % count + 1}"}


SHAPES: Dict[str, Shape] = {s.name: s for s in (
    Shape("SchedulingPodAntiAffinity", lambda i: {}, 1000, _anti, _anti),
    Shape("SchedulingPodAffinity", _zones(1), 5000, _affinity, _affinity),
    Shape("TopologySpreading", _zones(3), 5000, _plain, _spread),
    Shape("SchedulingPreferredPodAntiAffinity", lambda i: {}, 1000, _preferred_anti, _preferred_anti),
    Shape("SchedulingNodeAffinity", _zones(3), 5000, _plain, _node_affinity),
)}
DEFAULT_MEASURED = {"TopologySpreading": 2000}


def _raw(name: str, namespace: str, scheduler: str, fields: Dict[str, Any], node: str = "") -> Dict[str, Any]:
    fields = dict(fields)
    labels = fields.pop("labels", None)
    return workloads.pod(name, scheduler, namespace=namespace, node_name=node, labels=labels, **fields)


def run_shape(shape: Shape, args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    world = InMemoryCluster.from_config(config)
    for i in range(args.nodes):
        world.add_node(workloads.node(f"node-{i}", labels=shape.node_labels(i)))
    world.advance(0.0)
    initial = args.initial_pods if args.initial_pods is not None else shape.init_pods
    for i in range(initial):
        world.add_pod(_raw(f"init-{i}", SETUP, config.scheduler_name, shape.init_spec(i), node=f"node-{i % args.nodes}"))
    world.advance(world.now)
    defaults = defaults_from(config)
    measured = args.pods if args.pods_given else DEFAULT_MEASURED.get(shape.name, 1000)
    pods = [parse_pod(_raw(f"pod-{i}", TEST, config.scheduler_name, shape.measured_spec(i)), defaults)
            for i in range(measured)]
    run = queue_and_drain(world, pods)
    return {
        "workload": shape.name,
        "target": "sim",
        "nodes": args.nodes,
        "initial_pods": initial,
        "pods": measured,
        **run.figures(),
        "violations": violations(world),
        "peak_rss_mb": peak_rss_mb(),
    }


# ------------------------------------------------------------------ the independent checker

Placement = Tuple[Pod, Mapping[str, str]]
"""A placed pod and its node's labels."""


def _selects(requirements: Optional[Tuple[Any, ...]], namespaces: Any, pod: Pod) -> bool:
    return requirements is not None and pod.namespace in namespaces and term_matches(requirements, pod.labels)


def violations(world: InMemoryCluster) -> int:
    """Required inter-pod (anti-)affinity, DoNotSchedule spread and node affinity broken by the final placements
    (spread replayed in binding order: each placement against the pods placed before it)."""
    placed: List[Placement] = [(pod, world.nodes[pod.node_name].labels) for pod in world.pods.values()
                               if pod.node_name in world.nodes]
    count = 0
    for pod, labels in placed:
        if pod.required_terms and not any(term_matches(term, labels) for term in pod.required_terms):
            count += 1
        affinity = pod.pod_affinity
        if affinity is None:
            continue
        for term in affinity.anti_required:
            value = labels.get(term.topology_key)
            count += sum(1 for other, other_labels in placed if other is not pod and value is not None
                         and other_labels.get(term.topology_key) == value
                         and _selects(term.selector.requirements, term.namespaces, other))
        for term in affinity.required:
            value = labels.get(term.topology_key)
            if value is None or not any(other_labels.get(term.topology_key) == value
                                        and _selects(term.selector.requirements, term.namespaces, other)
                                        for other, other_labels in placed if other is not pod):
                count += 1
    return count + _spread_violations(world)


def _spread_violations(world: InMemoryCluster) -> int:
    order = [key for key in world.bindings if key in world.pods]
    bound = set(order)
    counts: Dict[Tuple[str, str], Dict[str, int]] = defaultdict(lambda: defaultdict(int))
    domains: Dict[str, Set[str]] = defaultdict(set)
    for node in world.nodes.values():
        for key, value in node.labels.items():
            domains[key].add(value)
    constrained = [pod for pod in world.pods.values() if pod.spread]
    for pod in world.pods.values():  # pods placed before the run (not bound by us) count from the start
        if pod.node_name and pod.key not in bound:
            _count(counts, constrained, pod, world.nodes[pod.node_name].labels, +1)
    found = 0
    for key in order:
        pod = world.pods[key]
        labels = world.nodes[pod.node_name].labels
        for c in pod.spread:
            if not c.hard:
                continue
            per = counts[(pod.namespace, repr(c.selector))]
            by_domain = {value: per.get(f"{c.topology_key}={value}", 0) for value in domains[c.topology_key]}
            smallest = min(by_domain.values()) if len(by_domain) >= c.min_domains else 0
            if by_domain.get(labels.get(c.topology_key, ""), 0) + 1 - smallest > c.max_skew:
                found += 1
        _count(counts, constrained, pod, labels, +1)
    return found


def _count(counts: Dict[Tuple[str, str], Dict[str, int]], constrained: List[Pod], pod: Pod,
           labels: Mapping[str, str], sign: int) -> None:
    seen = set()
    for holder in constrained:
        for c in holder.spread:
            group = (holder.namespace, repr(c.selector))
            if (group, c.topology_key) in seen or pod.namespace != holder.namespace or not c.selector.matches(pod):
                continue
            seen.add((group, c.topology_key))
            if c.topology_key in labels:
                counts[group][f"{c.topology_key}={labels[c.topology_key]}"] += sign


def _runner(shape: Shape) -> Callable[[argparse.Namespace, Config], Dict[str, Any]]:
    return lambda args, config: run_shape(shape, args, config)


for _shape in SHAPES.values():
    register(_shape.name, _runner(_shape))
