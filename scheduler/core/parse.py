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
from datetime import datetime
from typing import Any, FrozenSet, Mapping, Optional, Tuple

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
    VALID_OPERATORS,
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
from scheduler.core.quantities import Quantities
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



def _container_requests(container: Any, quantities: Quantities) -> Resources:
    resources = as_object(as_object(container, "container").get("resources"), "container resources")
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


def pod_requests(spec: Mapping[str, Any], defaults: Defaults) -> Resources:
    """kube-scheduler's rule: max(sum of app containers + sidecars, each init step) + overhead.

    Restartable init containers (sidecars, restartPolicy Always) keep running, so they
    add to everything started after them.  A pod (not a container) with no cpu or memory
    request at all is accounted with the configured defaults.  Every total is in 0..INT64_MAX.
    """
    quantities = defaults.quantities
    total: Resources = {}
    for container in as_array(spec.get("containers"), "spec.containers"):
        add_resources(total, _container_requests(container, quantities))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for container in as_array(spec.get("initContainers"), "spec.initContainers"):
        requests = _container_requests(container, quantities)
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
    add_resources(total, quantities.resources(spec.get("overhead")))
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


def _parse_requirements(raw: Any, where: str) -> NodeSelectorTerm:
    reqs = []
    for raw_item in as_array(raw, where):
        item = as_object(raw_item, where)
        op = item.get("operator", "")
        if not isinstance(op, str) or op not in VALID_OPERATORS:
            raise ModelError(f"{where}: unknown operator {preview(op)} (expected one of {sorted(VALID_OPERATORS)})")
        values = tuple(str(v) for v in as_array(item.get("values"), f"{where} values"))
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


def _owner_kind(meta: Mapping[str, Any]) -> str:
    owner_kind = ""
    for raw_ref in as_array(meta.get("ownerReferences"), "metadata.ownerReferences"):
        ref = as_object(raw_ref, "ownerReference")
        if ref.get("controller"):
            owner_kind = as_text(ref.get("kind"), "", "ownerReference kind")
    return owner_kind


def _tolerations(spec: Mapping[str, Any]) -> Tuple[Toleration, ...]:
    if not spec.get("tolerations"):
        return ()
    return tuple(
        Toleration(as_text(t.get("key"), "", "toleration key"), as_text(t.get("operator"), "Equal", "toleration operator"),
                   str(t.get("value") or ""), as_text(t.get("effect"), "", "toleration effect"))
        for t in (as_object(t, "toleration") for t in as_array(spec.get("tolerations"), "spec.tolerations"))
    )


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
    return Pod(
        namespace=namespace,
        name=name,
        uid=as_text(meta.get("uid"), "", "metadata.uid"),
        requests=pod_requests(spec, defaults),
        priority=priority,
        scheduler_name=as_text(spec.get("schedulerName"), "default-scheduler", "spec.schedulerName"),
        node_name=as_text(spec.get("nodeName"), "", "spec.nodeName"),
        phase=as_text(status.get("phase"), "Pending", "status.phase"),
        deleting=bool(meta.get("deletionTimestamp")),
        labels=as_string_map(meta.get("labels"), "metadata.labels"),
        annotations=annotations,
        node_selector=_node_selector(spec),
        required_terms=required,
        preferred_terms=preferred,
        tolerations=_tolerations(spec),
        host_ports=_host_ports(spec),
        preemption_policy=as_text(spec.get("preemptionPolicy"), "PreemptLowerPriority", "spec.preemptionPolicy"),
        owner_kind=_owner_kind(meta),
        mirror=MIRROR_ANNOTATION in annotations,
        created=_timestamp(meta.get("creationTimestamp")),
        started=_timestamp(status.get("startTime")),
        nominated_node=as_text(status.get("nominatedNodeName"), "", "status.nominatedNodeName"),
        resource_version=str(meta.get("resourceVersion") or ""),
        warnings=warnings,
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
