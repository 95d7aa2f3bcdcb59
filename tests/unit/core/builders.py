"""Helpers for the preemption, nomination, gang and load tests: raw API objects and a driven loop.

Clusters are built the way the daemon sees them: raw pod/node JSON parsed by
`parse_pod`/`parse_node` and fed into a SchedulingLoop from `build_loop`, on a
fake clock the test moves by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from scheduler.config import load_config
from scheduler.core.effects import (
    Bind,
    BindResult,
    ClearNomination,
    Effect,
    Event,
    Evict,
    EvictionResult,
    Nominate,
    PodRef,
)
from scheduler.core.model import MIN_AVAILABLE_ANNOTATION, POD_GROUP_LABEL, PRIORITY_ANNOTATION, NodeUtilisation, Pod
from scheduler.core.parse import parse_node, parse_pdb, parse_pod
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


@dataclass
class Verdict:
    """What the loop's effects said about one pod in one cycle: bound to `node`, or why not."""

    pod: PodRef
    node: Optional[str] = None
    message: str = ""
    nominated_node: str = ""
    victims: List[PodRef] = field(default_factory=list)


def verdicts(effects: List[Effect]) -> List[Verdict]:
    """One Verdict per pod decided, in order, read back from the effects of a cycle."""
    out: Dict[str, Verdict] = {}
    for effect in effects:
        if isinstance(effect, Bind):
            out[effect.pod.key] = Verdict(effect.pod, node=effect.node)
        elif isinstance(effect, Event) and effect.reason == "FailedScheduling" and effect.action == "Scheduling":
            nominated = out[effect.pod.key].nominated_node if effect.pod.key in out else ""
            out[effect.pod.key] = Verdict(effect.pod, message=effect.message, nominated_node=nominated)
        elif isinstance(effect, Nominate):
            out[effect.pod.key] = Verdict(effect.pod, nominated_node=effect.node)
        elif isinstance(effect, Evict) and effect.preemptor is not None and effect.preemptor.key in out:
            out[effect.preemptor.key].victims.extend(effect.victims)
    return list(out.values())


class Cluster:
    """A SchedulingLoop from build_loop with a fake clock, fed raw objects; effects are kept, not executed."""

    def __init__(self, load: bool = False, **flags: Any) -> None:
        self.clock = Clock()
        self.config = load_config({k.replace("_", "-"): v for k, v in flags.items()}, env={})
        self.defaults = defaults_from(self.config)
        self.loop = build_loop(self.config, self.clock, load_enabled=load)
        self.raw: Dict[str, Dict[str, Any]] = {}
        self.decisions: List[Verdict] = []
        self.effects: List[Effect] = []

    @property
    def state(self):  # noqa: ANN201 - ClusterState
        return self.loop.state

    def node(self, name: str, **kwargs: Any) -> None:
        self.loop.node_changed(parse_node(node_obj(name, **kwargs), self.defaults.quantities))

    def pod(self, name: str, **kwargs: Any) -> Pod:
        raw = pod_obj(name, **kwargs)
        pod = parse_pod(raw, self.defaults)
        self.raw[pod.key] = raw
        self.loop.pod_changed(pod)
        return pod

    def pdb(self, name: str, match_labels: Dict[str, str], allowed: int = 0) -> None:
        self.loop.pdb_changed(parse_pdb(pdb_obj(name, match_labels, allowed)))

    def run(self, limit: int = 100) -> List[Verdict]:
        """Cycle until nothing is ready; returns this run's verdicts (all effects are kept in `effects`)."""
        out: List[Verdict] = []
        for _ in range(limit):
            effects = self.loop.cycle()
            if effects is None:
                break
            self.effects.extend(effects)
            for verdict in verdicts(effects):
                held = self.loop.nominations.get(verdict.pod.key)
                if verdict.node is None and not verdict.nominated_node and held is not None:
                    verdict.nominated_node = held.node  # the API already shows it: no Nominate was needed
                out.append(verdict)
        self.effects.extend(self.loop.housekeeping())
        self.decisions.extend(out)
        return out

    def housekeeping(self) -> List[Effect]:
        effects = self.loop.housekeeping()
        self.effects.extend(effects)
        return effects

    def cleared(self) -> List[str]:
        """Pods whose nominatedNodeName the loop has asked to clear so far."""
        self.housekeeping()
        return [e.pod.key for e in self.effects if isinstance(e, ClearNomination)]

    def rollbacks(self) -> List[Evict]:
        """Evictions of gang members rolled back (not preemptions) asked for so far."""
        self.housekeeping()
        return [e for e in self.effects if isinstance(e, Evict) and e.preemptor is None]

    def events(self, reason: str = "") -> List[Event]:
        self.housekeeping()
        return [e for e in self.effects if isinstance(e, Event) and (not reason or e.reason == reason)]

    def _ref(self, key: str) -> PodRef:
        if "/" not in key:
            key = f"default/{key}"
        namespace, name = key.split("/", 1)
        return PodRef(namespace, name, f"uid-{namespace}-{name}")

    def bind_failed(self, key: str, retry_after: float = 0.0, uncertain: bool = False, status: int = 500) -> Optional[float]:
        """The API answered a Bind with a failure (500 by default: the binding did not happen)."""
        return self.loop.bind_result(BindResult(self._ref(key), "", False, status, "injected", retry_after, uncertain))

    def bind_succeeded(self, key: str) -> None:
        self.loop.bind_result(BindResult(self._ref(key), "", True))

    def eviction_failed(self, victim: str, preemptor: str, refused: bool = True) -> None:
        self.loop.eviction_result(EvictionResult(self._ref(victim), self._ref(preemptor), False, 429 if refused else 500))

    def last(self, key: str) -> Verdict:
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
        self.loop.load_changed({name: NodeUtilisation(cpu, mem, at) for name, (cpu, mem) in values.items()})


def victim_names(decision: Verdict) -> List[str]:
    return sorted(v.name for v in decision.victims)
