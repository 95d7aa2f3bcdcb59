"""The core's own types for pods and nodes, parsed from the API's raw JSON.

Raw dicts come from the API server (or the simulator); nothing here imports
`kubernetes`.  Quantity parsing is injected (`quantity_parser`) so the core
stays pure while the adapters hand it `kubernetes.utils.parse_quantity`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Tuple

PRIORITY_ANNOTATION = "scheduler.alpha.kubernetes.io/priority"
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
MIN_AVAILABLE_ANNOTATION = "scheduling.x-k8s.io/min-available"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
NODE_NAME_LABEL = "metadata.name"

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"
EPHEMERAL = "ephemeral-storage"
BASE_RESOURCES = (CPU, MEMORY, PODS, EPHEMERAL)

Resources = Dict[str, int]
"""Resource name -> integer amount: cpu in millicores, everything else in units."""


class ModelError(ValueError):
    """A pod or node whose JSON cannot be turned into core types."""


def _no_quantity_parser(value: Any) -> Decimal:
    raise RuntimeError("no quantity parser installed (importing scheduler.quantity installs kubernetes.utils.parse_quantity)")


QuantityParser = Callable[[Any], Decimal]
_quantity_parser: QuantityParser = _no_quantity_parser


def set_quantity_parser(parser: QuantityParser) -> None:
    """Install the quantity parser (the adapters pass kubernetes.utils.parse_quantity)."""
    global _quantity_parser
    _quantity_parser = parser


def parse_amount(resource: str, value: Any) -> int:
    """Parse one quantity to the core's integer unit (millicores for cpu)."""
    try:
        quantity = _quantity_parser(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ModelError(f"invalid quantity {value!r} for {resource}: {exc}") from None
    if quantity < 0:
        raise ModelError(f"invalid quantity {value!r} for {resource}: must not be negative")
    if resource == CPU:
        return int(math.ceil(quantity * 1000))
    return int(math.ceil(quantity))


def parse_resources(raw: Optional[Mapping[str, Any]]) -> Resources:
    """Parse a ResourceList (`{"cpu": "500m", "memory": "1Gi"}`)."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ModelError(f"resource list must be a mapping, got {type(raw).__name__}")
    return {name: parse_amount(name, value) for name, value in raw.items()}


def add_resources(total: Resources, extra: Mapping[str, int]) -> None:
    for name, amount in extra.items():
        total[name] = total.get(name, 0) + amount


def max_resources(total: Resources, other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        if amount > total.get(name, 0):
            total[name] = amount


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: "Taint") -> bool:
        """kube's rule: empty effect matches all, empty key with Exists matches every taint."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == taint.key
        return self.key == taint.key and self.value == taint.value


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"

    def __str__(self) -> str:
        return f"{{{self.key}: {self.value}}}" if self.value else f"{{{self.key}}}"


@dataclass(frozen=True)
class Requirement:
    """One node selector requirement (matchExpressions item)."""

    key: str
    operator: str
    values: Tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "In":
            return labels.get(self.key) in self.values
        if op == "NotIn":
            return labels.get(self.key) not in self.values
        if op == "Exists":
            return self.key in labels
        if op == "DoesNotExist":
            return self.key not in labels
        if op in ("Gt", "Lt"):
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except (KeyError, ValueError, IndexError):
                return False
            return have > want if op == "Gt" else have < want
        return False


NodeSelectorTerm = Tuple[Requirement, ...]
"""Expressions of one term are ANDed; terms are ORed."""

VALID_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})


def term_matches(term: NodeSelectorTerm, labels: Mapping[str, str]) -> bool:
    return all(req.matches(labels) for req in term)


@dataclass
class Pod:
    """A pod as the scheduler sees it; `requests` already include overhead and defaults."""

    namespace: str
    name: str
    uid: str
    requests: Resources
    priority: int
    scheduler_name: str = ""
    node_name: str = ""
    phase: str = "Pending"
    deleting: bool = False
    labels: Dict[str, str] = field(default_factory=dict)
    annotations: Dict[str, str] = field(default_factory=dict)
    node_selector: Tuple[Tuple[str, str], ...] = ()
    required_terms: Tuple[NodeSelectorTerm, ...] = ()
    preferred_terms: Tuple[Tuple[int, NodeSelectorTerm], ...] = ()
    tolerations: Tuple[Toleration, ...] = ()
    host_ports: FrozenSet[Tuple[str, str, int]] = frozenset()
    preemption_policy: str = "PreemptLowerPriority"
    owner_kind: str = ""
    mirror: bool = False
    created: float = 0.0
    started: float = 0.0
    nominated_node: str = ""
    resource_version: str = ""
    warnings: Tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def gang_name(self) -> str:
        group = self.labels.get(POD_GROUP_LABEL, "")
        return f"{self.namespace}/{group}" if group else ""

    @property
    def shape_key(self) -> tuple:
        """Everything a static (node-property) filter depends on: masks are cached on it."""
        return (self.node_selector, self.required_terms, self.tolerations)


@dataclass
class Node:
    name: str
    allocatable: Resources
    labels: Dict[str, str] = field(default_factory=dict)
    taints: Tuple[Taint, ...] = ()
    unschedulable: bool = False
    ready: bool = True
    addresses: Tuple[str, ...] = ()
    resource_version: str = ""


@dataclass(frozen=True)
class Defaults:
    """Accounting defaults for pods that declare no cpu/memory request."""

    cpu_millis: int = 1000
    memory_bytes: int = 1 << 30
    priority: int = 10


# ---------------------------------------------------------------- parsing


def _container_requests(container: Mapping[str, Any]) -> Resources:
    resources = container.get("resources") or {}
    requests = parse_resources(resources.get("requests"))
    # kube defaults requests to limits when only limits are given
    for name, amount in parse_resources(resources.get("limits")).items():
        requests.setdefault(name, amount)
    return requests


def pod_requests(spec: Mapping[str, Any], defaults: Defaults) -> Resources:
    """kube-scheduler's rule: max(sum of app containers + sidecars, each init step) + overhead.

    Restartable init containers (sidecars, restartPolicy Always) keep running, so they
    add to everything started after them.  A pod (not a container) with no cpu or memory
    request at all is accounted with the configured defaults.
    """
    total: Resources = {}
    for container in spec.get("containers") or []:
        add_resources(total, _container_requests(container))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for container in spec.get("initContainers") or []:
        requests = _container_requests(container)
        if container.get("restartPolicy") == "Always":
            add_resources(sidecars, requests)
            step = dict(sidecars)
        else:
            step = dict(sidecars)
            add_resources(step, requests)
        max_resources(init_peak, step)
    add_resources(total, sidecars)
    max_resources(total, init_peak)
    # like kube-scheduler's non-zero defaults: only an unset request is defaulted, an explicit 0 stays 0
    if CPU not in total:
        total[CPU] = defaults.cpu_millis
    if MEMORY not in total:
        total[MEMORY] = defaults.memory_bytes
    add_resources(total, parse_resources(spec.get("overhead")))
    total[PODS] = 1
    return {name: amount for name, amount in total.items() if amount}


def parse_priority(annotations: Mapping[str, str], spec: Mapping[str, Any], defaults: Defaults) -> Tuple[int, Tuple[str, ...]]:
    """Annotation wins, then spec.priority, then the default; bad annotations warn."""
    raw = annotations.get(PRIORITY_ANNOTATION)
    warnings: Tuple[str, ...] = ()
    if raw is not None:
        try:
            return int(str(raw).strip()), ()
        except ValueError:
            warnings = (f"annotation {PRIORITY_ANNOTATION}={raw!r} is not an integer; using fallback priority",)
    if isinstance(spec.get("priority"), int):
        return spec["priority"], warnings
    return defaults.priority, warnings


def _parse_requirements(raw: Any, where: str) -> NodeSelectorTerm:
    reqs = []
    for item in raw or []:
        op = item.get("operator", "")
        if op not in VALID_OPERATORS:
            raise ModelError(f"{where}: unknown operator {op!r} (expected one of {sorted(VALID_OPERATORS)})")
        reqs.append(Requirement(str(item.get("key", "")), op, tuple(str(v) for v in item.get("values") or ())))
    return tuple(reqs)


def _parse_affinity(spec: Mapping[str, Any]) -> Tuple[Tuple[NodeSelectorTerm, ...], Tuple[Tuple[int, NodeSelectorTerm], ...]]:
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    # matchFields only supports metadata.name, which parse_node mirrors into a label
    terms = tuple(
        _parse_requirements(term.get("matchExpressions"), "nodeAffinity")
        + _parse_requirements(term.get("matchFields"), "nodeAffinity matchFields")
        for term in required.get("nodeSelectorTerms") or []
    )
    preferred = tuple(
        (int(item.get("weight", 1)), _parse_requirements((item.get("preference") or {}).get("matchExpressions"), "preferred nodeAffinity"))
        for item in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    )
    return terms, preferred


def _host_ports(spec: Mapping[str, Any]) -> FrozenSet[Tuple[str, str, int]]:
    ports = set()
    for container in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        for port in container.get("ports") or []:
            host_port = port.get("hostPort")
            if host_port:
                ports.add((port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", int(host_port)))
    return frozenset(ports)


def _timestamp(value: Any) -> float:
    """RFC3339 -> epoch seconds; the simulator passes numbers directly."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    from datetime import datetime

    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def parse_pod(obj: Mapping[str, Any], defaults: Defaults) -> Pod:
    """Raw pod JSON -> Pod.  Raises ModelError with a readable reason."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if not meta.get("name"):
        raise ModelError("pod has no metadata.name")
    annotations = dict(meta.get("annotations") or {})
    labels = dict(meta.get("labels") or {})
    priority, warnings = parse_priority(annotations, spec, defaults)
    required, preferred = _parse_affinity(spec)
    owner_kind = ""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            owner_kind = ref.get("kind", "")
    try:
        tolerations = tuple(
            Toleration(t.get("key") or "", t.get("operator") or "Equal", str(t.get("value") or ""), t.get("effect") or "")
            for t in spec.get("tolerations") or []
        )
        pod = Pod(
            namespace=meta.get("namespace") or "default",
            name=meta["name"],
            uid=meta.get("uid") or "",
            requests=pod_requests(spec, defaults),
            priority=priority,
            scheduler_name=spec.get("schedulerName") or "default-scheduler",
            node_name=spec.get("nodeName") or "",
            phase=status.get("phase") or "Pending",
            deleting=bool(meta.get("deletionTimestamp")),
            labels=labels,
            annotations=annotations,
            node_selector=tuple(sorted((str(k), str(v)) for k, v in (spec.get("nodeSelector") or {}).items())),
            required_terms=required,
            preferred_terms=preferred,
            tolerations=tolerations,
            host_ports=_host_ports(spec),
            preemption_policy=spec.get("preemptionPolicy") or "PreemptLowerPriority",
            owner_kind=owner_kind,
            mirror=MIRROR_ANNOTATION in annotations,
            created=_timestamp(meta.get("creationTimestamp")),
            started=_timestamp(status.get("startTime")),
            nominated_node=status.get("nominatedNodeName") or "",
            resource_version=str(meta.get("resourceVersion") or ""),
            warnings=warnings,
        )
    except (AttributeError, TypeError, KeyError) as exc:
        raise ModelError(f"pod {meta.get('namespace', 'default')}/{meta['name']}: malformed spec ({exc})") from None
    return pod


def parse_node(obj: Mapping[str, Any]) -> Node:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if not meta.get("name"):
        raise ModelError("node has no metadata.name")
    try:
        allocatable = parse_resources(status.get("allocatable") or status.get("capacity"))
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        if not status.get("conditions"):
            ready = True  # a node without conditions (simulator, fresh object) is not known to be broken
        labels = dict(meta.get("labels") or {})
        labels.setdefault(NODE_NAME_LABEL, meta["name"])
        return Node(
            name=meta["name"],
            allocatable=allocatable,
            labels=labels,
            taints=tuple(Taint(t.get("key") or "", str(t.get("value") or ""), t.get("effect") or "NoSchedule") for t in spec.get("taints") or []),
            unschedulable=bool(spec.get("unschedulable")),
            ready=ready,
            addresses=tuple(a.get("address", "") for a in status.get("addresses") or [] if a.get("type") in ("InternalIP", "Hostname", "ExternalIP")),
            resource_version=str(meta.get("resourceVersion") or ""),
        )
    except ModelError as exc:
        raise ModelError(f"node {meta['name']}: {exc}") from None
    except (AttributeError, TypeError) as exc:
        raise ModelError(f"node {meta['name']}: malformed object ({exc})") from None


@dataclass(frozen=True)
class NodeUtilisation:
    """Measured utilisation of one node (fractions 0..1; None = no series) and when it was sampled."""

    cpu: Optional[float]
    memory: Optional[float]
    sampled_at: float


@dataclass(frozen=True)
class DisruptionBudget:
    """A PodDisruptionBudget as preemption needs it: which pods, and how many may go now."""

    namespace: str
    name: str
    selector: NodeSelectorTerm
    disruptions_allowed: int

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def covers(self, pod: Pod) -> bool:
        return pod.namespace == self.namespace and term_matches(self.selector, pod.labels)


def parse_pdb(obj: Mapping[str, Any]) -> DisruptionBudget:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if not meta.get("name"):
        raise ModelError("PodDisruptionBudget has no metadata.name")
    selector = spec.get("selector") or {}
    where = f"PodDisruptionBudget {meta.get('namespace', 'default')}/{meta['name']}"
    match_labels = tuple(Requirement(str(k), "In", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items())
    return DisruptionBudget(
        namespace=meta.get("namespace") or "default",
        name=meta["name"],
        selector=match_labels + _parse_requirements(selector.get("matchExpressions"), where),
        disruptions_allowed=int((obj.get("status") or {}).get("disruptionsAllowed") or 0),
    )
