"""Scenario files for `simulate` and `plan`: node groups and a timeline of pods.

A scenario is YAML (see the README for the full format)::

    nodes:
      - {name: worker, count: 3, cpu: 4, memory: 8Gi, labels: {zone: a}}
    pods:
      - {name: web, count: 2, at: 0, duration: 60, priority: 100, cpu: 500m, memory: 256Mi}

Every entry is turned into the same raw JSON the API server would return, so
the simulator exercises exactly the parsing the daemon uses.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from typing import AbstractSet, Any, Dict, List, Mapping, Optional

import yaml

from scheduler.config import yaml_error_summary
from scheduler.core.model import MIN_AVAILABLE_ANNOTATION, POD_GROUP_LABEL, PRIORITY_ANNOTATION, ModelError
from scheduler.quantity import KUBERNETES_QUANTITIES

DEFAULT_SCENARIO = "default.yaml"


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says where and what was expected."""


NODE_KEYS = {"name", "count", "cpu", "memory", "pods", "ephemeral-storage", "resources", "labels", "taints", "unschedulable",
             "ready", "utilisation"}
POD_KEYS = {
    "name", "count", "at", "duration", "priority", "annotations", "labels", "cpu", "memory", "resources",
    "nodeSelector", "tolerations", "affinity", "preemptionPolicy", "schedulerName", "namespace", "gang",
    "minAvailable", "hostPorts", "ownerKind", "gracePeriod", "topologySpreadConstraints",
}


@dataclass
class UtilisationPoint:
    at: float
    cpu: Optional[float]
    memory: Optional[float]


@dataclass
class SimNode:
    raw: Dict[str, Any]
    utilisation: List[UtilisationPoint] = field(default_factory=list)

    @property
    def name(self) -> str:
        name: str = self.raw["metadata"]["name"]  # built by _node_entries from a str
        return name


@dataclass
class SimPod:
    raw: Dict[str, Any]
    at: float
    duration: Optional[float]
    grace: float

    @property
    def key(self) -> str:
        meta = self.raw["metadata"]
        return f"{meta['namespace']}/{meta['name']}"


@dataclass
class Scenario:
    name: str
    nodes: List[SimNode]
    pods: List[SimPod]
    until: Optional[float] = None


def _require_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _check_keys(entry: Mapping[str, Any], allowed: AbstractSet[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")


def _count(entry: Mapping[str, Any], where: str) -> int:
    count = entry.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ScenarioError(f"{where}: count {count!r}: expected a positive integer")
    return count


def _seconds(entry: Mapping[str, Any], key: str, where: str, default: Optional[float]) -> Optional[float]:
    value = entry.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ScenarioError(f"{where}: {key} {value!r}: expected seconds >= 0")
    return float(value)


def _names(prefix: str, count: int) -> List[str]:
    return [prefix] if count == 1 else [f"{prefix}-{i}" for i in range(count)]


def _node_entries(entry: Mapping[str, Any], where: str) -> List[SimNode]:
    _check_keys(entry, NODE_KEYS, where)
    if not entry.get("name"):
        raise ScenarioError(f"{where}: name is required")
    allocatable = {"cpu": str(entry.get("cpu", 4)), "memory": str(entry.get("memory", "16Gi")), "pods": str(entry.get("pods", 110))}
    if "ephemeral-storage" in entry:
        allocatable["ephemeral-storage"] = str(entry["ephemeral-storage"])
    allocatable.update({str(k): str(v) for k, v in _require_mapping(entry.get("resources", {}), f"{where}.resources").items()})
    profile = [
        UtilisationPoint(float(p.get("at", 0)), p.get("cpu"), p.get("memory"))
        for p in entry.get("utilisation") or []
    ]
    # label values are strings in the API: YAML `zone: 1` must match a nodeSelector `zone: 1` (a string there)
    labels = {str(k): str(v) for k, v in _require_mapping(entry.get("labels") or {}, f"{where}.labels").items()}
    try:
        KUBERNETES_QUANTITIES.resources(allocatable)
    except ModelError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    nodes = []
    for name in _names(str(entry["name"]), _count(entry, where)):
        raw = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
            "spec": {"taints": list(entry.get("taints") or []), "unschedulable": bool(entry.get("unschedulable", False))},
            "status": {
                "allocatable": allocatable,
                "capacity": allocatable,
                "conditions": [{"type": "Ready", "status": "True" if entry.get("ready", True) else "False"}],
                "addresses": [{"type": "Hostname", "address": name}],
            },
        }
        nodes.append(SimNode(raw, profile))
    return nodes


def _pod_entries(entry: Mapping[str, Any], where: str, scheduler_name: str) -> List[SimPod]:
    _check_keys(entry, POD_KEYS, where)
    if not entry.get("name"):
        raise ScenarioError(f"{where}: name is required")
    annotations = {str(k): str(v) for k, v in _require_mapping(entry.get("annotations") or {}, f"{where}.annotations").items()}
    labels = {str(k): str(v) for k, v in _require_mapping(entry.get("labels") or {}, f"{where}.labels").items()}
    if "priority" in entry:
        annotations.setdefault(PRIORITY_ANNOTATION, str(entry["priority"]))
    if entry.get("gang"):
        labels[POD_GROUP_LABEL] = str(entry["gang"])
        annotations.setdefault(MIN_AVAILABLE_ANNOTATION, str(entry.get("minAvailable", _count(entry, where))))
    requests = {}
    if "cpu" in entry:
        requests["cpu"] = str(entry["cpu"])
    if "memory" in entry:
        requests["memory"] = str(entry["memory"])
    requests.update({str(k): str(v) for k, v in _require_mapping(entry.get("resources") or {}, f"{where}.resources").items()})
    container: Dict[str, Any] = {"name": "main", "image": "sim", "resources": {"requests": requests}}
    if entry.get("hostPorts"):
        container["ports"] = [{"containerPort": p, "hostPort": p} for p in entry["hostPorts"]]
    at = _seconds(entry, "at", where, 0.0) or 0.0
    duration = _seconds(entry, "duration", where, None)
    grace = _seconds(entry, "gracePeriod", where, 5.0) or 0.0
    pods = []
    for name in _names(str(entry["name"]), _count(entry, where)):
        meta: Dict[str, Any] = {"name": name, "namespace": entry.get("namespace", "default"), "uid": f"uid-{name}",
                                "labels": dict(labels), "annotations": dict(annotations), "creationTimestamp": at}
        if entry.get("ownerKind"):
            # one controller per entry: its replicas share the owner (default topology spread counts them)
            meta["ownerReferences"] = [{"kind": entry["ownerKind"], "name": str(entry["name"]),
                                        "uid": f"uid-owner-{entry['name']}", "controller": True}]
        spec = {
            "schedulerName": entry.get("schedulerName", scheduler_name),
            "containers": [container],
            "nodeSelector": dict(entry.get("nodeSelector") or {}),
            "tolerations": list(entry.get("tolerations") or []),
            "terminationGracePeriodSeconds": grace,
        }
        if entry.get("affinity"):
            spec["affinity"] = entry["affinity"]
        if entry.get("topologySpreadConstraints"):
            spec["topologySpreadConstraints"] = entry["topologySpreadConstraints"]
        if entry.get("preemptionPolicy"):
            spec["preemptionPolicy"] = entry["preemptionPolicy"]
        raw = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Pending"}}
        pods.append(SimPod(raw, at, duration, grace))
    return pods


def parse_scenario(data: Any, scheduler_name: str, name: str = "scenario") -> Scenario:
    data = _require_mapping(data, name)
    _check_keys(data, {"name", "nodes", "pods", "until", "description"}, name)
    node_list = data.get("nodes") or []
    pod_list = data.get("pods") or []
    if not isinstance(node_list, list) or not isinstance(pod_list, list):
        raise ScenarioError(f"{name}: nodes and pods must be lists")
    nodes = [n for i, e in enumerate(node_list) for n in _node_entries(_require_mapping(e, f"nodes[{i}]"), f"nodes[{i}]")]
    pods = [p for i, e in enumerate(pod_list) for p in _pod_entries(_require_mapping(e, f"pods[{i}]"), f"pods[{i}]", scheduler_name)]
    seen = set()
    for pod in pods:
        if pod.key in seen:
            raise ScenarioError(f"{name}: pod {pod.key} appears twice (names must be unique)")
        seen.add(pod.key)
    until = _seconds(data, "until", name, None)
    return Scenario(str(data.get("name", name)), nodes, pods, until)


def bundled_scenarios() -> List[str]:
    """Names of the scenarios shipped with the package (`simulate NAME`)."""
    folder = resources.files("scheduler.sim").joinpath("scenarios")
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def _bundled_text(filename: str) -> str:
    # one name per joinpath: Traversable.joinpath takes several only from Python 3.11
    return resources.files("scheduler.sim").joinpath("scenarios").joinpath(filename).read_text(encoding="utf-8")


def load_scenario(path: Optional[str], scheduler_name: str) -> Scenario:
    """Load a scenario file, a bundled scenario by name (`gangs`), or the bundled default when path is None."""
    if path is None:
        text = _bundled_text(DEFAULT_SCENARIO)
        source = f"bundled {DEFAULT_SCENARIO}"
    else:
        bundled = bundled_scenarios()
        if not os.path.exists(path) and path in bundled:
            text = _bundled_text(f"{path}.yaml")
            source = f"bundled {path}.yaml"
        else:
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exc:
                known = ", ".join(sorted(bundled))
                raise ScenarioError(f"{path}: cannot read ({exc.strerror}); bundled scenarios: {known}") from None
            source = path
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML ({yaml_error_summary(exc)})") from None
    return parse_scenario(data, scheduler_name, source)
