"""The core's own types for pods and nodes, parsed from the API's raw JSON.

Raw dicts come from the API server (or the simulator); nothing here imports
`kubernetes`.  Quantity parsing is injected (`quantity_parser`) so the core
stays pure while the adapters hand it `kubernetes.utils.parse_quantity`.

Every object is untrusted input (any tenant can create pods): parsing either
returns bounded values -- amounts in 0..INT64_MAX (the cache keeps them in
int64 columns), priorities in int32 -- or raises ModelError, never another
exception, whatever the JSON holds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Sequence, Tuple

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

# ---------------------------------------------------------------- bounds

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
"""Kubernetes priorities (and PodGroup minMember, PDB counts) are int32."""
INT64_MAX = 2**63 - 1
"""Largest amount (millicores, bytes, units) and per-pod total: the cache keeps them in int64 columns."""
MAX_QUANTITY_LENGTH = 64
"""Longest quantity string parsed: real ones are a few characters; this bounds the parser's work."""
MIN_HOST_PORT, MAX_HOST_PORT = 1, 65535
MIN_PREFERRED_WEIGHT, MAX_PREFERRED_WEIGHT = 1, 100
"""kube-apiserver's range for preferredDuringScheduling weights."""
AMOUNT_CACHE_SIZE = 4096
"""Distinct quantity strings remembered per process (bounded, so unique junk cannot grow memory)."""
_MAX_PRIORITY_TEXT = 32
"""A priority annotation longer than this cannot be an int32 (and int() of huge text is slow)."""
_MAX_CORES = Decimal(INT64_MAX) / 1000
_MAX_UNITS = Decimal(INT64_MAX)
_EXACT = Context(prec=2 * MAX_QUANTITY_LENGTH, Emin=MIN_EMIN, Emax=MAX_EMAX)
_EXPECTED_QUANTITY = "expected a finite, non-negative Kubernetes quantity such as 500m or 1Gi"
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_MALFORMED = (AttributeError, TypeError, LookupError, ValueError, ArithmeticError, RecursionError)
"""What hostile JSON of the wrong shape can raise while we walk it; all of it becomes ModelError."""


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
    _parse_text_amount.cache_clear()


# ---------------------------------------------------------------- checked access to untrusted JSON


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def preview(value: Any, limit: int = 40) -> str:
    """A short repr for messages: hostile values can be huge, and repr() of a huge int raises."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"<{value.bit_length()}-bit integer>"
    if isinstance(value, str):
        return repr(_clip(value, limit))
    try:
        return _clip(repr(value), limit)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def is_int(value: Any) -> bool:
    """A JSON integer: bool is an int subclass in Python but not here."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_int32(value: Any) -> bool:
    return is_int(value) and INT32_MIN <= value <= INT32_MAX


def _object(value: Any, where: str) -> Mapping[str, Any]:
    """A JSON object field; absent or empty (any falsy value, as `x or {}` did) means empty."""
    if type(value) is dict or isinstance(value, Mapping):
        return value
    if not value:
        return _EMPTY
    raise ModelError(f"{where} must be an object, got {type(value).__name__}")


def _array(value: Any, where: str) -> Sequence[Any]:
    """A JSON array field; absent (or empty/falsy) means empty."""
    if type(value) is list or isinstance(value, tuple):
        return value
    if not value:
        return ()
    raise ModelError(f"{where} must be a list, got {type(value).__name__}")


def _text(value: Any, default: str, where: str) -> str:
    """A JSON string field; absent or empty gives `default`."""
    if type(value) is str or isinstance(value, str):
        return value or default
    if not value:
        return default
    raise ModelError(f"{where} must be a string, got {preview(value)}")


def _string_map(value: Any, where: str) -> Dict[str, str]:
    """Labels and annotations: map[string]string, as the API defines them."""
    result = dict(_object(value, where))
    for key, item in result.items():
        if not (isinstance(key, str) and isinstance(item, str)):
            raise ModelError(f"{where} must map strings to strings, got {preview(key)}: {preview(item)}")
    return result


# ---------------------------------------------------------------- quantities


def _bad_quantity(resource: str, value: Any, problem: str) -> ModelError:
    return ModelError(f"invalid quantity {preview(value)} for {resource}: {problem}; {_EXPECTED_QUANTITY}")


def _decimal(resource: str, value: Any) -> Decimal:
    """Run the injected parser; whatever it raises or returns for garbage becomes ModelError."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise _bad_quantity(resource, value, f"a {type(value).__name__}, not a string or number")
    if isinstance(value, str) and len(value) > MAX_QUANTITY_LENGTH:
        raise _bad_quantity(resource, value, f"longer than {MAX_QUANTITY_LENGTH} characters")
    try:
        quantity = _quantity_parser(value)
        return quantity if isinstance(quantity, Decimal) else Decimal(quantity)
    except _MALFORMED as exc:  # RuntimeError (no parser installed) is a bug, not bad input: it propagates
        raise _bad_quantity(resource, value, _clip(str(exc), 80)) from None


def parse_amount(resource: str, value: Any) -> int:
    """Parse one quantity to the core's integer unit (millicores for cpu), rounded up.

    The result is in 0..INT64_MAX; NaN, infinities, negative and too large values
    raise ModelError (the bound is checked before scaling, so "1e999999999" is cheap).
    """
    if type(value) is str:
        return _parse_text_amount(resource, value)
    return _scaled_amount(resource, value)


@lru_cache(maxsize=AMOUNT_CACHE_SIZE)
def _parse_text_amount(resource: str, value: str) -> int:
    """Quantity strings repeat (every replica of a workload has the same ones): parse each once."""
    return _scaled_amount(resource, value)


def _scaled_amount(resource: str, value: Any) -> int:
    quantity = _decimal(resource, value)
    if not quantity.is_finite():
        raise _bad_quantity(resource, value, "not a finite number")
    if quantity < 0:
        raise _bad_quantity(resource, value, "must not be negative")
    if resource == CPU:
        if quantity > _MAX_CORES:
            raise _bad_quantity(resource, value, f"more than {INT64_MAX} millicores")
        return int(math.ceil(quantity.scaleb(3, _EXACT)))  # exact: `* 1000` would round to 28 digits or underflow
    if quantity > _MAX_UNITS:
        raise _bad_quantity(resource, value, f"more than {INT64_MAX}")
    return int(math.ceil(quantity))


def parse_resources(raw: Optional[Mapping[str, Any]]) -> Resources:
    """Parse a ResourceList (`{"cpu": "500m", "memory": "1Gi"}`)."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ModelError(f"resource list must be a mapping, got {type(raw).__name__}")
    result: Resources = {}
    for name, value in raw.items():
        if not isinstance(name, str):
            raise ModelError(f"resource name {preview(name)} must be a string")
        result[name] = parse_amount(name, value)
    return result


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


def _container_requests(container: Any) -> Resources:
    resources = _object(_object(container, "container").get("resources"), "container resources")
    requests = parse_resources(resources.get("requests"))
    # kube defaults requests to limits when only limits are given
    for name, amount in parse_resources(resources.get("limits")).items():
        requests.setdefault(name, amount)
    return requests


def _check_totals(total: Resources) -> None:
    """Each amount fits int64, but a sum of them may not: the cache's columns are int64 too."""
    for name, amount in total.items():
        if amount > INT64_MAX:
            raise ModelError(f"total {name} request of the pod (containers, sidecars and overhead) is more than "
                             f"{INT64_MAX}; expected requests that add up to at most that")


def pod_requests(spec: Mapping[str, Any], defaults: Defaults) -> Resources:
    """kube-scheduler's rule: max(sum of app containers + sidecars, each init step) + overhead.

    Restartable init containers (sidecars, restartPolicy Always) keep running, so they
    add to everything started after them.  A pod (not a container) with no cpu or memory
    request at all is accounted with the configured defaults.  Every total is in 0..INT64_MAX.
    """
    total: Resources = {}
    for container in _array(spec.get("containers"), "spec.containers"):
        add_resources(total, _container_requests(container))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for container in _array(spec.get("initContainers"), "spec.initContainers"):
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
    _check_totals(total)
    return {name: amount for name, amount in total.items() if amount}


def _int32_text(raw: str) -> Optional[int]:
    """The annotation's integer, or None when it is not an int32 written in decimal."""
    text = raw.strip()
    if len(text) > _MAX_PRIORITY_TEXT:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if INT32_MIN <= value <= INT32_MAX else None


def parse_priority(annotations: Mapping[str, str], spec: Mapping[str, Any], defaults: Defaults) -> Tuple[int, Tuple[str, ...]]:
    """Annotation wins, then spec.priority, then the default.

    Kubernetes priorities are int32: a value that is not an integer in that range is
    ignored with a warning (the pod is still scheduled, at its fallback priority).
    """
    warnings: Tuple[str, ...] = ()
    raw = annotations.get(PRIORITY_ANNOTATION)
    if raw is not None:
        value = _int32_text(str(raw))
        if value is not None:
            return value, ()
        warnings = (f"annotation {PRIORITY_ANNOTATION}={preview(raw)} is not an integer in "
                    f"[{INT32_MIN}, {INT32_MAX}]; using fallback priority",)
    spec_priority = spec.get("priority")
    if spec_priority is not None:
        if is_int32(spec_priority):
            return spec_priority, warnings
        warnings += (f"spec.priority={preview(spec_priority)} is not an integer in "
                     f"[{INT32_MIN}, {INT32_MAX}]; using the default priority {defaults.priority}",)
    return defaults.priority, warnings


def _parse_requirements(raw: Any, where: str) -> NodeSelectorTerm:
    reqs = []
    for raw_item in _array(raw, where):
        item = _object(raw_item, where)
        op = item.get("operator", "")
        if not isinstance(op, str) or op not in VALID_OPERATORS:
            raise ModelError(f"{where}: unknown operator {preview(op)} (expected one of {sorted(VALID_OPERATORS)})")
        values = tuple(str(v) for v in _array(item.get("values"), f"{where} values"))
        reqs.append(Requirement(str(item.get("key", "")), op, values))
    return tuple(reqs)


def _preferred_weight(item: Mapping[str, Any]) -> int:
    weight = item.get("weight", 1)
    if is_int(weight) and MIN_PREFERRED_WEIGHT <= weight <= MAX_PREFERRED_WEIGHT:
        return weight
    raise ModelError(f"preferred nodeAffinity weight {preview(weight)} must be an integer in "
                     f"{MIN_PREFERRED_WEIGHT}..{MAX_PREFERRED_WEIGHT}")


def _parse_affinity(spec: Mapping[str, Any]) -> Tuple[Tuple[NodeSelectorTerm, ...], Tuple[Tuple[int, NodeSelectorTerm], ...]]:
    affinity = spec.get("affinity")
    if not affinity:
        return (), ()
    node_affinity = _object(_object(affinity, "spec.affinity").get("nodeAffinity"), "nodeAffinity")
    required = _object(node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"), "nodeAffinity required")
    # matchFields only supports metadata.name, which parse_node mirrors into a label
    terms = tuple(
        _parse_requirements(term.get("matchExpressions"), "nodeAffinity")
        + _parse_requirements(term.get("matchFields"), "nodeAffinity matchFields")
        for term in (_object(t, "nodeSelectorTerms") for t in _array(required.get("nodeSelectorTerms"), "nodeSelectorTerms"))
    )
    preferred = tuple(
        (_preferred_weight(item), _parse_requirements(_object(item.get("preference"), "preference").get("matchExpressions"),
                                                      "preferred nodeAffinity"))
        for item in (_object(i, "preferred nodeAffinity") for i in _array(
            node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"), "preferred nodeAffinity"))
    )
    return terms, preferred


def _host_port(port: Mapping[str, Any]) -> Optional[Tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) of one container port, or None when it uses no host port."""
    host_port = port.get("hostPort")
    if not host_port:
        return None
    if not (is_int(host_port) and MIN_HOST_PORT <= host_port <= MAX_HOST_PORT):
        raise ModelError(f"hostPort {preview(host_port)} must be an integer in {MIN_HOST_PORT}..{MAX_HOST_PORT}")
    return (_text(port.get("hostIP"), "0.0.0.0", "hostIP"), _text(port.get("protocol"), "TCP", "port protocol"), host_port)


def _host_ports(spec: Mapping[str, Any]) -> FrozenSet[Tuple[str, str, int]]:
    ports = set()
    containers = list(_array(spec.get("containers"), "spec.containers")) + list(_array(spec.get("initContainers"), "spec.initContainers"))
    for container in containers:
        for port in _array(_object(container, "container").get("ports"), "container ports"):
            found = _host_port(_object(port, "container port"))
            if found is not None:
                ports.add(found)
    return frozenset(ports)


def _timestamp(value: Any) -> float:
    """RFC3339 -> epoch seconds; the simulator passes numbers directly.  Garbage or non-finite: 0.0 (unknown)."""
    if not value or isinstance(value, bool):
        return 0.0
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return 0.0
        return number if math.isfinite(number) else 0.0
    if not isinstance(value, str):
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return 0.0


def _sections(obj: Any, kind: str) -> Tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]:
    """metadata, spec and status of an object, each checked to be a JSON object."""
    if not isinstance(obj, Mapping):
        raise ModelError(f"{kind} must be a JSON object, got {type(obj).__name__}")
    try:
        return _object(obj.get("metadata"), "metadata"), _object(obj.get("spec"), "spec"), _object(obj.get("status"), "status")
    except ModelError as exc:
        raise ModelError(f"{kind} {exc}") from None


def _name(meta: Mapping[str, Any], kind: str) -> str:
    name = meta.get("name")
    if not name:
        raise ModelError(f"{kind} has no metadata.name")
    if not isinstance(name, str):
        raise ModelError(f"{kind} metadata.name must be a string, got {preview(name)}")
    return name


def _node_selector(spec: Mapping[str, Any]) -> Tuple[Tuple[str, str], ...]:
    selector = spec.get("nodeSelector")
    if not selector:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in _object(selector, "spec.nodeSelector").items()))


def _owner_kind(meta: Mapping[str, Any]) -> str:
    owner_kind = ""
    for raw_ref in _array(meta.get("ownerReferences"), "metadata.ownerReferences"):
        ref = _object(raw_ref, "ownerReference")
        if ref.get("controller"):
            owner_kind = _text(ref.get("kind"), "", "ownerReference kind")
    return owner_kind


def _tolerations(spec: Mapping[str, Any]) -> Tuple[Toleration, ...]:
    if not spec.get("tolerations"):
        return ()
    return tuple(
        Toleration(_text(t.get("key"), "", "toleration key"), _text(t.get("operator"), "Equal", "toleration operator"),
                   str(t.get("value") or ""), _text(t.get("effect"), "", "toleration effect"))
        for t in (_object(t, "toleration") for t in _array(spec.get("tolerations"), "spec.tolerations"))
    )


def parse_pod(obj: Mapping[str, Any], defaults: Defaults) -> Pod:
    """Raw pod JSON -> Pod.  Raises ModelError with a readable reason, and nothing else."""
    meta, spec, status = _sections(obj, "pod")
    name = _name(meta, "pod")
    namespace = _text(meta.get("namespace"), "default", "pod metadata.namespace")
    try:
        return _pod(meta, spec, status, name, namespace, defaults)
    except ModelError as exc:
        raise ModelError(f"pod {namespace}/{name}: {exc}") from None
    except _MALFORMED as exc:
        raise ModelError(f"pod {namespace}/{name}: malformed spec ({_clip(str(exc))})") from None


def _pod(meta: Mapping[str, Any], spec: Mapping[str, Any], status: Mapping[str, Any], name: str, namespace: str,
         defaults: Defaults) -> Pod:
    annotations = _string_map(meta.get("annotations"), "metadata.annotations")
    priority, warnings = parse_priority(annotations, spec, defaults)
    required, preferred = _parse_affinity(spec)
    return Pod(
        namespace=namespace,
        name=name,
        uid=_text(meta.get("uid"), "", "metadata.uid"),
        requests=pod_requests(spec, defaults),
        priority=priority,
        scheduler_name=_text(spec.get("schedulerName"), "default-scheduler", "spec.schedulerName"),
        node_name=_text(spec.get("nodeName"), "", "spec.nodeName"),
        phase=_text(status.get("phase"), "Pending", "status.phase"),
        deleting=bool(meta.get("deletionTimestamp")),
        labels=_string_map(meta.get("labels"), "metadata.labels"),
        annotations=annotations,
        node_selector=_node_selector(spec),
        required_terms=required,
        preferred_terms=preferred,
        tolerations=_tolerations(spec),
        host_ports=_host_ports(spec),
        preemption_policy=_text(spec.get("preemptionPolicy"), "PreemptLowerPriority", "spec.preemptionPolicy"),
        owner_kind=_owner_kind(meta),
        mirror=MIRROR_ANNOTATION in annotations,
        created=_timestamp(meta.get("creationTimestamp")),
        started=_timestamp(status.get("startTime")),
        nominated_node=_text(status.get("nominatedNodeName"), "", "status.nominatedNodeName"),
        resource_version=str(meta.get("resourceVersion") or ""),
        warnings=warnings,
    )


def _ready(status: Mapping[str, Any]) -> bool:
    conditions = _array(status.get("conditions"), "status.conditions")
    if not conditions:
        return True  # a node without conditions (simulator, fresh object) is not known to be broken
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (_object(c, "condition") for c in conditions))


def parse_node(obj: Mapping[str, Any]) -> Node:
    """Raw node JSON -> Node; allocatable is bounded like pod requests.  Raises only ModelError."""
    meta, spec, status = _sections(obj, "node")
    name = _name(meta, "node")
    try:
        labels = _string_map(meta.get("labels"), "metadata.labels")
        labels.setdefault(NODE_NAME_LABEL, name)
        return Node(
            name=name,
            allocatable=parse_resources(status.get("allocatable") or status.get("capacity")),
            labels=labels,
            taints=tuple(Taint(_text(t.get("key"), "", "taint key"), str(t.get("value") or ""),
                               _text(t.get("effect"), "NoSchedule", "taint effect"))
                         for t in (_object(t, "taint") for t in _array(spec.get("taints"), "spec.taints"))),
            unschedulable=bool(spec.get("unschedulable")),
            ready=_ready(status),
            addresses=tuple(_text(a.get("address"), "", "node address")
                            for a in (_object(a, "address") for a in _array(status.get("addresses"), "status.addresses"))
                            if a.get("type") in ("InternalIP", "Hostname", "ExternalIP")),
            resource_version=str(meta.get("resourceVersion") or ""),
        )
    except ModelError as exc:
        raise ModelError(f"node {name}: {exc}") from None
    except _MALFORMED as exc:
        raise ModelError(f"node {name}: malformed object ({_clip(str(exc))})") from None


@dataclass(frozen=True)
class NodeUtilisation:
    """Measured utilisation of one node (fractions, 1 = full, above 1 over-committed; None = no series) and when."""

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


def _disruptions_allowed(raw: Any) -> int:
    """status.disruptionsAllowed, clamped to 0..INT32_MAX: a negative count allows no eviction."""
    if not raw:
        return 0
    if not is_int(raw):
        raise ModelError(f"status.disruptionsAllowed {preview(raw)} must be an integer")
    return min(max(raw, 0), INT32_MAX)


def parse_pdb(obj: Mapping[str, Any]) -> DisruptionBudget:
    """Raw PodDisruptionBudget JSON -> DisruptionBudget.  Raises only ModelError."""
    meta, spec, status = _sections(obj, "PodDisruptionBudget")
    name = _name(meta, "PodDisruptionBudget")
    namespace = _text(meta.get("namespace"), "default", "PodDisruptionBudget metadata.namespace")
    where = f"PodDisruptionBudget {namespace}/{name}"
    try:
        selector = _object(spec.get("selector"), "spec.selector")
        match_labels = tuple(Requirement(str(k), "In", (str(v),))
                             for k, v in _object(selector.get("matchLabels"), "spec.selector.matchLabels").items())
        return DisruptionBudget(
            namespace=namespace,
            name=name,
            selector=match_labels + _parse_requirements(selector.get("matchExpressions"), "spec.selector.matchExpressions"),
            disruptions_allowed=_disruptions_allowed(status.get("disruptionsAllowed")),
        )
    except ModelError as exc:
        raise ModelError(f"{where}: {exc}") from None
    except _MALFORMED as exc:
        raise ModelError(f"{where}: malformed object ({_clip(str(exc))})") from None
