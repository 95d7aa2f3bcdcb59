"""podAffinity, podAntiAffinity and topologySpreadConstraints from raw pod JSON.

Like kube-apiserver (1.31+), `matchLabelKeys`/`mismatchLabelKeys` are folded into
the selector here, from the incoming pod's own labels.  Any tenant writes these
fields: every value is checked and bounded, and only ModelError escapes.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from scheduler.core.model import (
    INT32_MAX,
    InterPodAffinity,
    ModelError,
    NodeSelectorTerm,
    PodAffinityTerm,
    PodSelector,
    Requirement,
    SpreadConstraint,
)
from scheduler.core.selectors import parse_label_selector
from scheduler.core.untrusted import as_array, as_object, as_text, is_int, preview

MAX_TERMS = 32
"""Terms or constraints of one kind per pod: each costs work for every pod scheduled after it."""
MIN_WEIGHT, MAX_WEIGHT = 1, 100
WHEN_UNSATISFIABLE = ("DoNotSchedule", "ScheduleAnyway")
POLICIES = ("Honor", "Ignore")


def _bounded(raw: Any, where: str) -> Tuple[Any, ...]:
    items = tuple(as_array(raw, where))
    if len(items) > MAX_TERMS:
        raise ModelError(f"{where} has {len(items)} entries; expected at most {MAX_TERMS}")
    return items


def _label_keys(item: Mapping[str, Any], field: str, where: str, labels: Mapping[str, str],
                operator: str) -> NodeSelectorTerm:
    """matchLabelKeys (In) / mismatchLabelKeys (NotIn) with the pod's own values; keys it lacks are ignored."""
    keys = _bounded(item.get(field), f"{where}.{field}")
    return tuple(Requirement(str(key), operator, (labels[key],)) for key in keys if isinstance(key, str) and key in labels)


def _selector(item: Mapping[str, Any], where: str, labels: Mapping[str, str], owner_uid: str = "") -> PodSelector:
    requirements = parse_label_selector(item.get("labelSelector"), f"{where}.labelSelector")
    if requirements is not None:
        requirements += _label_keys(item, "matchLabelKeys", where, labels, "In")
        requirements += _label_keys(item, "mismatchLabelKeys", where, labels, "NotIn")
    return PodSelector(requirements, owner_uid)


def _topology_key(item: Mapping[str, Any], where: str) -> str:
    key = as_text(item.get("topologyKey"), "", f"{where}.topologyKey")
    if not key:
        raise ModelError(f"{where}.topologyKey is empty; expected a node label key such as kubernetes.io/hostname")
    return key


def _term(raw: Any, where: str, namespace: str, labels: Mapping[str, str], weight: int = 0) -> PodAffinityTerm:
    item = as_object(raw, where)
    names = frozenset(str(n) for n in _bounded(item.get("namespaces"), f"{where}.namespaces"))
    namespace_selector = parse_label_selector(item.get("namespaceSelector"), f"{where}.namespaceSelector")
    if not names and namespace_selector is None:
        names = frozenset((namespace,))  # kube: neither given means the pod's own namespace
    return PodAffinityTerm(_selector(item, where, labels), _topology_key(item, where), names, namespace_selector, weight)


def _weighted(raw: Any, where: str, namespace: str, labels: Mapping[str, str]) -> PodAffinityTerm:
    item = as_object(raw, where)
    weight = item.get("weight")
    if not (is_int(weight) and MIN_WEIGHT <= weight <= MAX_WEIGHT):
        raise ModelError(f"{where}.weight {preview(weight)} must be an integer in {MIN_WEIGHT}..{MAX_WEIGHT}")
    return _term(item.get("podAffinityTerm"), f"{where}.podAffinityTerm", namespace, labels, weight)


def parse_pod_affinity(spec: Mapping[str, Any], namespace: str, labels: Mapping[str, str]) -> Optional[InterPodAffinity]:
    """spec.affinity.podAffinity/podAntiAffinity -> InterPodAffinity, or None when the pod has neither."""
    affinity = as_object(spec.get("affinity"), "spec.affinity")
    if not (affinity.get("podAffinity") or affinity.get("podAntiAffinity")):
        return None
    parts: Dict[str, Tuple[PodAffinityTerm, ...]] = {}
    for field, prefix in (("podAffinity", ""), ("podAntiAffinity", "anti_")):
        where = f"spec.affinity.{field}"
        section = as_object(affinity.get(field), where)
        required = f"{where}.requiredDuringSchedulingIgnoredDuringExecution"
        preferred = f"{where}.preferredDuringSchedulingIgnoredDuringExecution"
        parts[prefix + "required"] = tuple(_term(t, required, namespace, labels)
                                           for t in _bounded(section.get(required.rsplit(".", 1)[1]), required))
        parts[prefix + "preferred"] = tuple(_weighted(t, preferred, namespace, labels)
                                            for t in _bounded(section.get(preferred.rsplit(".", 1)[1]), preferred))
    if not any(parts.values()):
        return None
    return InterPodAffinity(**parts)


def _choice(item: Mapping[str, Any], field: str, where: str, allowed: Tuple[str, ...], default: str) -> str:
    value = as_text(item.get(field), default, f"{where}.{field}")
    if value not in allowed:
        raise ModelError(f"{where}.{field} {preview(value)} is not one of {', '.join(allowed)}")
    return value


def _positive_int32(item: Mapping[str, Any], field: str, where: str, default: Optional[int] = None) -> int:
    value = item.get(field)
    if value is None:
        value = default
    if not (is_int(value) and 1 <= value <= INT32_MAX):
        raise ModelError(f"{where}.{field} {preview(value)} must be an integer in 1..{INT32_MAX}")
    return value


def _constraint(raw: Any, where: str, labels: Mapping[str, str]) -> SpreadConstraint:
    item = as_object(raw, where)
    hard = _choice(item, "whenUnsatisfiable", where, WHEN_UNSATISFIABLE, "") == "DoNotSchedule"
    min_domains = _positive_int32(item, "minDomains", where, 1)
    if min_domains > 1 and not hard:
        raise ModelError(f"{where}.minDomains may only be set with whenUnsatisfiable DoNotSchedule")
    return SpreadConstraint(
        max_skew=_positive_int32(item, "maxSkew", where),
        topology_key=_topology_key(item, where),
        hard=hard,
        selector=_selector(item, where, labels),
        min_domains=min_domains,
        honor_node_affinity=_choice(item, "nodeAffinityPolicy", where, POLICIES, "Honor") == "Honor",
        honor_taints=_choice(item, "nodeTaintsPolicy", where, POLICIES, "Ignore") == "Honor",
    )


def parse_spread(spec: Mapping[str, Any], labels: Mapping[str, str]) -> Tuple[SpreadConstraint, ...]:
    where = "spec.topologySpreadConstraints"
    return tuple(_constraint(item, where, labels) for item in _bounded(spec.get("topologySpreadConstraints"), where))
