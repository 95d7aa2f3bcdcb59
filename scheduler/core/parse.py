"""Raw API JSON (pods, nodes, PodDisruptionBudgets) -> the core's types in `scheduler.core.model`.

Raw dicts come from the API server (or the simulator); nothing here imports
`kubernetes`: quantities are read by the `Quantities` the caller hands in (in
`Defaults` for pods, directly for nodes).  Every object is untrusted input (any tenant can create pods):
parsing either returns bounded values -- amounts in 0..INT64_MAX (the cache
keeps them in int64 columns), priorities in int32 -- or raises ModelError,
never another exception, whatever the JSON holds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, FrozenSet, List, Mapping, Optional, Tuple

from scheduler.core.model import (
    CPU,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    MEMORY,
    MIRROR_ANNOTATION,
    NODE_NAME_LABEL,
    PODS,
    PRIORITY_ANNOTATION,
    DisruptionBudget,
    ModelError,
    Node,
    NodeSelectorTerm,
    Pod,
    Requirement,
    Resources,
    Taint,
    Toleration,
    add_resources,
    max_resources,
)
from scheduler.core.parse_placement import parse_pod_affinity, parse_spread
from scheduler.core.quantities import Quantities
from scheduler.core.selectors import parse_requirements as _parse_requirements
from scheduler.core.untrusted import (
    MALFORMED,
    as_array,
    as_object,
    as_string_map,
    as_text,
    clip,
    is_int,
    is_int32,
    preview,
)

MIN_HOST_PORT, MAX_HOST_PORT = 1, 65535
MIN_PREFERRED_WEIGHT, MAX_PREFERRED_WEIGHT = 1, 100
"""kube-apiserver's range for preferredDuringScheduling weights."""
_MAX_PRIORITY_TEXT = 32
"""A priority annotation longer than this cannot be an int32 (and int() of huge text is slow)."""


@dataclass(frozen=True)
class Defaults:
    """How pods are read: the quantity reader, and what a pod that declares no cpu/memory request or priority gets."""

    quantities: Quantities
    cpu_millis: int = 1000
    memory_bytes: int = 1 << 30
    priority: int = 10
    max_annotation_priority: int = 1_000_000_000  # the annotation is not admission-controlled: cap what it claims
    scheduler_name: str = ""  # cpu/memory defaults apply to this scheduler's pods only ("": to every pod)


NON_ZERO_CPU_MILLIS = 100
NON_ZERO_MEMORY_BYTES = 200 * 1024 * 1024
"""kube-scheduler's defaults for a container without cpu/memory requests, in the allocation scores only."""



def _container_requests(container: Any, quantities: Quantities, where: str = "container") -> Resources:
    resources = as_object(as_object(container, where).get("resources"), f"{where} resources")
    requests = quantities.resources(resources.get("requests"))
    # kube defaults requests to limits when only limits are given
    for name, amount in quantities.resources(resources.get("limits")).items():
        requests.setdefault(name, amount)
    return requests


def _check_totals(total: Resources) -> None:
    """Each amount fits int64, but a sum of them may not: the cache's columns are int64 too."""
    for name, amount in total.items():
        if amount > INT64_MAX:
            raise ModelError(f"total {name} request of the pod (containers, sidecars and overhead) is more than "
                             f"{INT64_MAX}; expected requests that add up to at most that")


Steps = Tuple[List[Resources], List[Tuple[bool, Resources]], Resources]
"""Each app container's requests, each init container's (is it a restartable sidecar, requests), and the
pod-level requests (spec.resources: cpu and memory only)."""
POD_LEVEL_RESOURCES = (CPU, MEMORY)


def _steps(spec: Mapping[str, Any], quantities: Quantities) -> Steps:
    apps = [_container_requests(c, quantities) for c in as_array(spec.get("containers"), "spec.containers")]
    inits = [(as_object(c, "init container").get("restartPolicy") == "Always", _container_requests(c, quantities))
             for c in as_array(spec.get("initContainers"), "spec.initContainers")]
    pod_level = _container_requests(spec, quantities, "spec") if spec.get("resources") else {}
    return apps, inits, {k: v for k, v in pod_level.items() if k in POD_LEVEL_RESOURCES}


def _peak(steps: Steps, per_container: Callable[[Resources], Resources]) -> Resources:
    """kube-scheduler's rule: max(sum of app containers + sidecars, each init step).  Restartable init
    containers (sidecars) keep running, so they add to everything started after them."""
    apps, inits, pod_level = steps
    total: Resources = {}
    for requests in apps:
        add_resources(total, per_container(requests))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for sidecar, requests in inits:
        if sidecar:
            add_resources(sidecars, per_container(requests))
            step = dict(sidecars)
        else:
            step = dict(sidecars)
            add_resources(step, per_container(requests))
        max_resources(init_peak, step)
    add_resources(total, sidecars)
    max_resources(total, init_peak)
    total.update(pod_level)  # pod-level requests (PodLevelResources) replace the containers' cpu and memory
    return total


def _unchanged(requests: Resources) -> Resources:
    return requests


def _non_zero(requests: Resources) -> Resources:
    """kube's non-zero defaults, per container, for scoring: an unset cpu or memory request counts as
    100m / 200Mi (an explicit 0 stays 0)."""
    if CPU in requests and MEMORY in requests:
        return requests
    return {CPU: requests.get(CPU, NON_ZERO_CPU_MILLIS), MEMORY: requests.get(MEMORY, NON_ZERO_MEMORY_BYTES)}


def pod_requests(spec: Mapping[str, Any], defaults: Defaults, ours: bool = True,
                 steps: Optional[Steps] = None) -> Resources:
    """What the pod is accounted with (filters, free room): the peak of its containers plus overhead.

    A pod of ours (`ours`) with no cpu or memory request at all gets the configured defaults
    (--cpu/--mem); any other pod counts exactly what it declares, as kube-scheduler does.
    Every total is in 0..INT64_MAX."""
    quantities = defaults.quantities
    total = _peak(steps if steps is not None else _steps(spec, quantities), _unchanged)
    if ours:  # only an unset request is defaulted, an explicit 0 stays 0
        total.setdefault(CPU, defaults.cpu_millis)
        total.setdefault(MEMORY, defaults.memory_bytes)
    add_resources(total, quantities.resources(spec.get("overhead")))
    total[PODS] = 1
    _check_totals(total)
    return {name: amount for name, amount in total.items() if amount}


def score_requests(spec: Mapping[str, Any], defaults: Defaults, steps: Optional[Steps] = None) -> Tuple[int, int]:
    """(cpu millis, memory bytes) the allocation scores count for the pod: kube's non-zero requests plus overhead."""
    quantities = defaults.quantities
    total = _peak(steps if steps is not None else _steps(spec, quantities), _non_zero)
    add_resources(total, quantities.resources(spec.get("overhead")))
    return min(total.get(CPU, 0), INT64_MAX), min(total.get(MEMORY, 0), INT64_MAX)


def _unsupported(spec: Mapping[str, Any]) -> Tuple[str, ...]:
    """Fields that constrain placement and that this scheduler does not honour: such a pod is not placed."""
    found = []
    if spec.get("resourceClaims"):
        found.append("spec.resourceClaims (dynamic resource allocation)")
    return tuple(found)


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
        if value is not None and value > defaults.max_annotation_priority:
            return defaults.max_annotation_priority, (
                f"annotation {PRIORITY_ANNOTATION}={value} is above the highest priority an annotation may claim "
                f"({defaults.max_annotation_priority}, --max-annotation-priority); using {defaults.max_annotation_priority}",)
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
    node_affinity = as_object(as_object(affinity, "spec.affinity").get("nodeAffinity"), "nodeAffinity")
    required = as_object(node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"), "nodeAffinity required")
    # matchFields only supports metadata.name, which parse_node mirrors into a label
    terms = tuple(
        _parse_requirements(term.get("matchExpressions"), "nodeAffinity")
        + _parse_requirements(term.get("matchFields"), "nodeAffinity matchFields")
        for term in (as_object(t, "nodeSelectorTerms") for t in as_array(required.get("nodeSelectorTerms"), "nodeSelectorTerms"))
    )
    preferred = tuple(
        (_preferred_weight(item), _parse_requirements(as_object(item.get("preference"), "preference").get("matchExpressions"),
                                                      "preferred nodeAffinity"))
        for item in (as_object(i, "preferred nodeAffinity") for i in as_array(
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
    return (as_text(port.get("hostIP"), "0.0.0.0", "hostIP"), as_text(port.get("protocol"), "TCP", "port protocol"), host_port)


def _host_ports(spec: Mapping[str, Any]) -> FrozenSet[Tuple[str, str, int]]:
    ports = set()
    containers = list(as_array(spec.get("containers"), "spec.containers"))
    containers += list(as_array(spec.get("initContainers"), "spec.initContainers"))
    for container in containers:
        for port in as_array(as_object(container, "container").get("ports"), "container ports"):
            found = _host_port(as_object(port, "container port"))
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
    if not isinstance(value, str) or len(value) > 64:  # RFC 3339 with nanoseconds and an offset is 35 characters
        return 0.0
    return _rfc3339(value)


@lru_cache(maxsize=4096)
def _rfc3339(value: str) -> float:
    """Timestamps have second precision: pods created together share them, so each is read once.  One
    without an offset is UTC (the API's zone), never the zone this process happens to run in."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    except (ValueError, OverflowError, OSError):
        return 0.0


def _sections(obj: Any, kind: str) -> Tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]:
    """metadata, spec and status of an object, each checked to be a JSON object."""
    if type(obj) is not dict and not isinstance(obj, Mapping):  # JSON objects are dicts: skip the ABC check
        raise ModelError(f"{kind} must be a JSON object, got {type(obj).__name__}")
    try:
        return as_object(obj.get("metadata"), "metadata"), as_object(obj.get("spec"), "spec"), as_object(obj.get("status"), "status")
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
    return tuple(sorted((str(k), str(v)) for k, v in as_object(selector, "spec.nodeSelector").items()))


def _controller(meta: Mapping[str, Any]) -> Tuple[str, str]:
    """(kind, uid) of the pod's controller, or empty strings."""
    for raw_ref in as_array(meta.get("ownerReferences"), "metadata.ownerReferences"):
        ref = as_object(raw_ref, "ownerReference")
        if ref.get("controller"):
            return as_text(ref.get("kind"), "", "ownerReference kind"), as_text(ref.get("uid"), "", "ownerReference uid")
    return "", ""


def _tolerations(spec: Mapping[str, Any]) -> Tuple[Toleration, ...]:
    if not spec.get("tolerations"):
        return ()
    return tuple(
        Toleration(as_text(t.get("key"), "", "toleration key"), as_text(t.get("operator"), "Equal", "toleration operator"),
                   str(t.get("value") or ""), as_text(t.get("effect"), "", "toleration effect"))
        for t in (as_object(t, "toleration") for t in as_array(spec.get("tolerations"), "spec.tolerations"))
    )


_MAX_SCHEDULING_GATES = 64
"""More gates than this on one pod is not a real workload (the gates are all removed by controllers)."""
_MAX_GATE_NAME = 316
"""A qualified name: a DNS subdomain prefix (253) + "/" + a name (63)."""


def _scheduling_gates(spec: Mapping[str, Any]) -> Tuple[str, ...]:
    """spec.schedulingGates ([{name: str}]) -> the gate names; while any remain the pod is not attempted."""
    gates = as_array(spec.get("schedulingGates"), "spec.schedulingGates")
    if len(gates) > _MAX_SCHEDULING_GATES:
        raise ModelError(f"spec.schedulingGates has {len(gates)} gates; expected at most {_MAX_SCHEDULING_GATES}")
    names = []
    for gate in gates:
        name = as_text(as_object(gate, "spec.schedulingGates item").get("name"), "", "spec.schedulingGates name")
        if not name:
            raise ModelError("spec.schedulingGates: a gate has no name; expected items like {name: example.com/gate}")
        if len(name) > _MAX_GATE_NAME:
            raise ModelError(f"spec.schedulingGates name {preview(name)} is {len(name)} characters long; "
                             f"expected at most {_MAX_GATE_NAME}")
        names.append(name)
    return tuple(names)


def _claims(spec: Mapping[str, Any], pod_name: str) -> Tuple[str, ...]:
    """PersistentVolumeClaims the pod mounts (each once, in order): `persistentVolumeClaim.claimName`, and
    generic ephemeral volumes, whose claim the ephemeral-volume controller names `<pod name>-<volume name>`."""
    names: dict[str, None] = {}  # ordered, each once
    for raw in as_array(spec.get("volumes"), "spec.volumes"):
        volume = as_object(raw, "spec.volumes item")
        if volume.get("persistentVolumeClaim") is not None:
            claim = as_text(as_object(volume["persistentVolumeClaim"], "persistentVolumeClaim").get("claimName"), "",
                            "persistentVolumeClaim.claimName")
            if not claim:
                raise ModelError(f"volume {preview(volume.get('name'))}: persistentVolumeClaim has no claimName")
        elif volume.get("ephemeral") is not None:
            as_object(volume["ephemeral"], "ephemeral volume")
            volume_name = as_text(volume.get("name"), "", "spec.volumes name")
            if not volume_name:
                raise ModelError("spec.volumes: an ephemeral volume has no name")
            claim = f"{pod_name}-{volume_name}"
        else:
            continue
        names[claim] = None
    return tuple(names)


def parse_pod(obj: Mapping[str, Any], defaults: Defaults) -> Pod:
    """Raw pod JSON -> Pod.  Raises ModelError with a readable reason, and nothing else."""
    meta, spec, status = _sections(obj, "pod")
    name = _name(meta, "pod")
    namespace = as_text(meta.get("namespace"), "default", "pod metadata.namespace")
    try:
        return _pod(meta, spec, status, name, namespace, defaults)
    except ModelError as exc:
        raise ModelError(f"pod {namespace}/{name}: {exc}") from None
    except MALFORMED as exc:
        raise ModelError(f"pod {namespace}/{name}: malformed spec ({clip(str(exc))})") from None


def _pod(meta: Mapping[str, Any], spec: Mapping[str, Any], status: Mapping[str, Any], name: str, namespace: str,
         defaults: Defaults) -> Pod:
    annotations = as_string_map(meta.get("annotations"), "metadata.annotations")
    priority, warnings = parse_priority(annotations, spec, defaults)
    required, preferred = _parse_affinity(spec)
    scheduler_name = as_text(spec.get("schedulerName"), "default-scheduler", "spec.schedulerName")
    ours = not defaults.scheduler_name or scheduler_name == defaults.scheduler_name
    steps = _steps(spec, defaults.quantities)
    labels = as_string_map(meta.get("labels"), "metadata.labels")
    owner_kind, owner_uid = _controller(meta)
    return Pod(
        namespace=namespace,
        name=name,
        uid=as_text(meta.get("uid"), "", "metadata.uid"),
        requests=pod_requests(spec, defaults, ours, steps),
        score_requests=score_requests(spec, defaults, steps),
        priority=priority,
        scheduler_name=scheduler_name,
        node_name=as_text(spec.get("nodeName"), "", "spec.nodeName"),
        phase=as_text(status.get("phase"), "Pending", "status.phase"),
        deleting=bool(meta.get("deletionTimestamp")),
        labels=labels,
        annotations=annotations,
        node_selector=_node_selector(spec),
        required_terms=required,
        preferred_terms=preferred,
        tolerations=_tolerations(spec),
        host_ports=_host_ports(spec),
        preemption_policy=as_text(spec.get("preemptionPolicy"), "PreemptLowerPriority", "spec.preemptionPolicy"),
        owner_kind=owner_kind,
        owner_uid=owner_uid,
        pod_affinity=parse_pod_affinity(spec, namespace, labels),
        spread=parse_spread(spec, labels),
        mirror=MIRROR_ANNOTATION in annotations,
        created=_timestamp(meta.get("creationTimestamp")),
        started=_timestamp(status.get("startTime")),
        nominated_node=as_text(status.get("nominatedNodeName"), "", "status.nominatedNodeName"),
        resource_version=str(meta.get("resourceVersion") or ""),
        warnings=warnings,
        scheduling_gates=_scheduling_gates(spec),
        unsupported=_unsupported(spec),
        claims=_claims(spec, name),
    )


def _ready(status: Mapping[str, Any]) -> bool:
    conditions = as_array(status.get("conditions"), "status.conditions")
    if not conditions:
        return True  # a node without conditions (simulator, fresh object) is not known to be broken
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (as_object(c, "condition") for c in conditions))


def parse_node(obj: Mapping[str, Any], quantities: Quantities) -> Node:
    """Raw node JSON -> Node; allocatable is read with `quantities`, bounded like pod requests.  Raises only ModelError."""
    meta, spec, status = _sections(obj, "node")
    name = _name(meta, "node")
    try:
        labels = as_string_map(meta.get("labels"), "metadata.labels")
        labels.setdefault(NODE_NAME_LABEL, name)
        return Node(
            name=name,
            allocatable=quantities.resources(status.get("allocatable") or status.get("capacity")),
            labels=labels,
            taints=tuple(Taint(as_text(t.get("key"), "", "taint key"), str(t.get("value") or ""),
                               as_text(t.get("effect"), "NoSchedule", "taint effect"))
                         for t in (as_object(t, "taint") for t in as_array(spec.get("taints"), "spec.taints"))),
            unschedulable=bool(spec.get("unschedulable")),
            ready=_ready(status),
            addresses=tuple(as_text(a.get("address"), "", "node address")
                            for a in (as_object(a, "address") for a in as_array(status.get("addresses"), "status.addresses"))
                            if a.get("type") in ("InternalIP", "Hostname", "ExternalIP")),
            resource_version=str(meta.get("resourceVersion") or ""),
        )
    except ModelError as exc:
        raise ModelError(f"node {name}: {exc}") from None
    except MALFORMED as exc:
        raise ModelError(f"node {name}: malformed object ({clip(str(exc))})") from None



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
    namespace = as_text(meta.get("namespace"), "default", "PodDisruptionBudget metadata.namespace")
    where = f"PodDisruptionBudget {namespace}/{name}"
    try:
        selector = as_object(spec.get("selector"), "spec.selector")
        match_labels = tuple(Requirement(str(k), "In", (str(v),))
                             for k, v in as_object(selector.get("matchLabels"), "spec.selector.matchLabels").items())
        return DisruptionBudget(
            namespace=namespace,
            name=name,
            selector=match_labels + _parse_requirements(selector.get("matchExpressions"), "spec.selector.matchExpressions"),
            disruptions_allowed=_disruptions_allowed(status.get("disruptionsAllowed")),
        )
    except ModelError as exc:
        raise ModelError(f"{where}: {exc}") from None
    except MALFORMED as exc:
        raise ModelError(f"{where}: malformed object ({clip(str(exc))})") from None


def parse_namespace(obj: Any) -> Tuple[str, dict[str, str]]:
    """Raw Namespace JSON -> (name, labels), for namespaceSelector.  Raises only ModelError."""
    meta, _, _ = _sections(obj, "namespace")
    name = _name(meta, "namespace")
    try:
        return name, as_string_map(meta.get("labels"), "metadata.labels")
    except ModelError as exc:
        raise ModelError(f"namespace {name}: {exc}") from None
