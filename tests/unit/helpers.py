"""Shared builders for unit tests: raw pod/node JSON -> parsed core objects, a fake clock, an engine."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from scheduler.config import Config
from scheduler.core.cache import ClusterState
from scheduler.core.engine import Engine
from scheduler.core.model import PRIORITY_ANNOTATION, Node, Pod
from scheduler.core.parse import Defaults, parse_node, parse_pod
from scheduler.quantity import KUBERNETES_QUANTITIES
from scheduler.stack import profile_from

DEFAULTS = Defaults(KUBERNETES_QUANTITIES)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def raw_pod(
    name: str = "p",
    cpu: Optional[str] = None,
    memory: Optional[str] = None,
    priority: Optional[Any] = None,
    namespace: str = "default",
    labels: Optional[Dict[str, str]] = None,
    annotations: Optional[Dict[str, str]] = None,
    extra_requests: Optional[Dict[str, str]] = None,
    **spec: Any,
) -> Dict[str, Any]:
    """A raw pod with one container requesting cpu/memory; extra keyword args go into spec."""
    requests: Dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    requests.update(extra_requests or {})
    annotations = dict(annotations or {})
    if priority is not None:
        annotations[PRIORITY_ANNOTATION] = str(priority)
    body: Dict[str, Any] = {"schedulerName": "preemptive-scheduler",
                            "containers": [{"name": "main", "resources": {"requests": requests}}]}
    body.update(spec)
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                     "labels": dict(labels or {}), "annotations": annotations},
        "spec": body,
        "status": {"phase": "Pending"},
    }


def make_pod(name: str = "p", cpu: Optional[str] = "1", memory: Optional[str] = "1Gi",
             defaults: Defaults = DEFAULTS, **kwargs: Any) -> Pod:
    return parse_pod(raw_pod(name, cpu, memory, **kwargs), defaults)


def raw_node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: Optional[Dict[str, str]] = None,
    taints: Iterable[Dict[str, str]] = (),
    unschedulable: bool = False,
    ready: bool = True,
    extra: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    return {
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {"taints": list(taints), "unschedulable": unschedulable},
        "status": {"allocatable": allocatable,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def make_node(name: str, **kwargs: Any) -> Node:
    return parse_node(raw_node(name, **kwargs), KUBERNETES_QUANTITIES)


def make_engine(nodes: Iterable[Node], config: Optional[Config] = None, clock: Optional[FakeClock] = None) -> Engine:
    """An engine with the configured (default) plugins, load plugins off, over these nodes."""
    clock = clock or FakeClock()
    state = ClusterState(capacity=4)
    for node in nodes:
        state.upsert_node(node)
    config = config or Config()
    return Engine(state, profile_from(config, clock, load_enabled=False), clock,
                  percentage_to_score=config.percentage_of_nodes_to_score)


def place(engine: Engine, pod: Pod, node: str) -> None:
    """A bound pod already running on a node."""
    assert engine.state.place(pod, node, assumed=False)


def names(pods: List[Pod]) -> List[str]:
    return [p.name for p in pods]


def feasible_names(engine: Engine, pod: Pod) -> List[str]:
    """Names of the nodes where the pod fits now."""
    mask = engine.feasible(pod)
    return sorted(node.name for row, node in enumerate(engine.state.nodes[: engine.state.size]) if node and mask[row])


def schedule_in_turn(engine: Engine, pods: Iterable[Pod]) -> List[Optional[str]]:
    """Schedule one after another, each assumed before the next (as one cycle after another does)."""
    placed: List[Optional[str]] = []
    for pod in pods:
        decision = engine.schedule(pod)
        if decision.node:
            engine.assume(pod, decision.node)
        placed.append(decision.node)
    return placed
