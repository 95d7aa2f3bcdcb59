"""Helpers for the preemption, nomination, gang and load tests: raw API objects and a driven loop.

Clusters are built the way the daemon sees them: raw pod/node JSON parsed by
`parse_pod`/`parse_node` and fed into a SchedulingLoop from `build_loop`, on a
fake clock the test moves by hand.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from scheduler.config import load_config
from scheduler.core.engine import Decision
from scheduler.core.model import (
    MIN_AVAILABLE_ANNOTATION, POD_GROUP_LABEL, PRIORITY_ANNOTATION, NodeUtilisation, Pod,
    parse_node, parse_pdb, parse_pod,
)
from scheduler.stack import build_loop, defaults_from

from ..helpers import FakeClock as Clock

SCHEDULER = "preemptive-scheduler"


def node_obj(name: str, cpu: str = "4", memory: str = "16Gi", pods: str = "110", labels: Optional[Dict[str, str]] = None,
             taints: Optional[List[Dict[str, str]]] = None, unschedulable: bool = False) -> Dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": list(taints or []), "unschedulable": unschedulable},
        "status": {"allocatable": allocatable, "capacity": allocatable,
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod_obj(name: str, cpu: str = "1", memory: str = "1Gi", priority: Optional[int] = None, node: str = "",
            namespace: str = "default", labels: Optional[Dict[str, str]] = None,
            annotations: Optional[Dict[str, str]] = None, gang: str = "", min_available: Any = None,
            started: Optional[float] = None, deleting: bool = False, owner_kind: str = "",
            preemption_policy: str = "", node_selector: Optional[Dict[str, str]] = None,
            created: float = 0.0, scheduler_name: str = SCHEDULER) -> Dict[str, Any]:
    ann: Dict[str, str] = dict(annotations or {})
    lab: Dict[str, str] = {"app": "test", **(labels or {})}
    if priority is not None:
        ann[PRIORITY_ANNOTATION] = str(priority)
    if gang:
        lab[POD_GROUP_LABEL] = gang
    if min_available is not None:
        ann[MIN_AVAILABLE_ANNOTATION] = str(min_available)
    meta: Dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                            "labels": lab, "annotations": ann, "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if owner_kind:
        meta["ownerReferences"] = [{"kind": owner_kind, "name": "owner", "controller": True}]
    spec: Dict[str, Any] = {
        "schedulerName": scheduler_name,
        "containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
    }
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if preemption_policy:
        spec["preemptionPolicy"] = preemption_policy
    status: Dict[str, Any] = {"phase": "Pending"}
    if node:
        spec["nodeName"] = node
        status = {"phase": "Running", "startTime": created if started is None else started}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def pdb_obj(name: str, match_labels: Dict[str, str], allowed: int = 0, namespace: str = "default") -> Dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": dict(match_labels)}},
            "status": {"disruptionsAllowed": allowed}}


class Cluster:
    """A SchedulingLoop from build_loop with a fake clock, fed raw objects."""

    def __init__(self, load: bool = False, **flags: Any) -> None:
        self.clock = Clock()
        self.config = load_config({k.replace("_", "-"): v for k, v in flags.items()}, env={})
        self.defaults = defaults_from(self.config)
        self.loop = build_loop(self.config, self.clock, load_enabled=load)
        self.raw: Dict[str, Dict[str, Any]] = {}
        self.decisions: List[Decision] = []

    @property
    def state(self):  # noqa: ANN201 - ClusterState
        return self.loop.state

    def node(self, name: str, **kwargs: Any) -> None:
        self.loop.node_changed(parse_node(node_obj(name, **kwargs)))

    def pod(self, name: str, **kwargs: Any) -> Pod:
        raw = pod_obj(name, **kwargs)
        pod = parse_pod(raw, self.defaults)
        self.raw[pod.key] = raw
        self.loop.pod_changed(pod)
        return pod

    def pdb(self, name: str, match_labels: Dict[str, str], allowed: int = 0) -> None:
        assert self.loop.preemptor is not None
        budget = parse_pdb(pdb_obj(name, match_labels, allowed))
        self.loop.preemptor.pdbs[budget.key] = budget

    def run(self, limit: int = 100) -> List[Decision]:
        """Cycle until nothing is ready; returns this run's decisions."""
        out: List[Decision] = []
        for _ in range(limit):
            decisions = self.loop.cycle()
            if decisions is None:
                break
            out.extend(decisions)
        self.decisions.extend(out)
        return out

    def last(self, key: str) -> Decision:
        if "/" not in key:
            key = f"default/{key}"
        matching = [d for d in self.decisions if d.pod.key == key]
        assert matching, f"no decision for {key}"
        return matching[-1]

    def node_of(self, key: str) -> Optional[str]:
        if "/" not in key:
            key = f"default/{key}"
        placed = self.state.placed.get(key)
        return None if placed is None else self.state.nodes[placed.row].name

    def terminating(self, key: str) -> None:
        """The API reports the pod as being deleted (graceful termination under way)."""
        if "/" not in key:
            key = f"default/{key}"
        self.raw[key]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        self.loop.pod_changed(parse_pod(self.raw[key], self.defaults))

    def delete(self, key: str) -> None:
        if "/" not in key:
            key = f"default/{key}"
        self.loop.pod_deleted(key)

    def set_util(self, values: Dict[str, Any], sampled_at: Optional[float] = None) -> None:
        at = self.clock() if sampled_at is None else sampled_at
        self.state.set_utilisation({name: NodeUtilisation(cpu, mem, at) for name, (cpu, mem) in values.items()})


def victim_names(decision: Decision) -> List[str]:
    return sorted(v.name for v in decision.victims)
