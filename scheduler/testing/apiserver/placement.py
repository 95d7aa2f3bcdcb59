"""ValidatePodSpec's rules for pod (anti-)affinity terms and topology spread constraints.

The stand-in refuses (422) what the real server refuses, with its field paths
and wording, so tests see the same errors a real cluster gives.
"""
from __future__ import annotations

from typing import Any, List, Tuple

from scheduler.testing.apiserver.objects import JSON

Cause = Tuple[str, str]
WHEN = ("DoNotSchedule", "ScheduleAnyway")
POLICIES = ("Honor", "Ignore")
LABEL_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _supported(value: Any, allowed: Tuple[str, ...]) -> str:
    return f'Unsupported value: "{value}": supported values: ' + ", ".join(f'"{a}"' for a in allowed)


def _selector(raw: Any, path: str) -> List[Cause]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [(path, "Invalid value: must be an object")]
    causes = []
    for i, expr in enumerate(raw.get("matchExpressions") or []):
        where = f"{path}.matchExpressions[{i}]"
        op = expr.get("operator") if isinstance(expr, dict) else None
        if op not in LABEL_OPERATORS:
            causes.append((f"{where}.operator", _supported(op, LABEL_OPERATORS)))
        elif op in ("In", "NotIn") and not expr.get("values"):
            causes.append((f"{where}.values", "Required value: must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and expr.get("values"):
            causes.append((f"{where}.values", "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    return causes


def _term(term: Any, path: str) -> List[Cause]:
    if not isinstance(term, dict):
        return [(path, "Invalid value: must be an object")]
    causes = _selector(term.get("labelSelector"), f"{path}.labelSelector")
    causes += _selector(term.get("namespaceSelector"), f"{path}.namespaceSelector")
    if not term.get("topologyKey"):
        causes.append((f"{path}.topologyKey", "Required value: can not be empty"))
    return causes


def _affinity(spec: JSON) -> List[Cause]:
    causes: List[Cause] = []
    affinity = spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        section = affinity.get(kind) or {}
        path = f"spec.affinity.{kind}"
        for i, term in enumerate(section.get("requiredDuringSchedulingIgnoredDuringExecution") or []):
            causes += _term(term, f"{path}.requiredDuringSchedulingIgnoredDuringExecution[{i}]")
        for i, item in enumerate(section.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
            where = f"{path}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            weight = item.get("weight") if isinstance(item, dict) else None
            if not (isinstance(weight, int) and 1 <= weight <= 100):
                causes.append((f"{where}.weight", f"Invalid value: {weight}: must be in the range 1-100"))
            causes += _term((item or {}).get("podAffinityTerm"), f"{where}.podAffinityTerm")
    return causes


def _spread(spec: JSON) -> List[Cause]:
    causes: List[Cause] = []
    seen = set()
    for i, c in enumerate(spec.get("topologySpreadConstraints") or []):
        path = f"spec.topologySpreadConstraints[{i}]"
        if not isinstance(c, dict):
            causes.append((path, "Invalid value: must be an object"))
            continue
        skew, when, key, domains = c.get("maxSkew"), c.get("whenUnsatisfiable"), c.get("topologyKey"), c.get("minDomains")
        if not (isinstance(skew, int) and skew > 0):
            causes.append((f"{path}.maxSkew", f"Invalid value: {skew}: must be greater than zero"))
        if not key:
            causes.append((f"{path}.topologyKey", "Required value: can not be empty"))
        if when not in WHEN:
            causes.append((f"{path}.whenUnsatisfiable", _supported(when, WHEN)))
        if domains is not None:
            if not (isinstance(domains, int) and domains > 0):
                causes.append((f"{path}.minDomains", f"Invalid value: {domains}: must be greater than zero"))
            elif when != "DoNotSchedule":
                causes.append((f"{path}.minDomains", f"Invalid value: {domains}: can only use minDomains if "
                                                     f"whenUnsatisfiable=DoNotSchedule, not {when}"))
        for field in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if c.get(field) is not None and c.get(field) not in POLICIES:
                causes.append((f"{path}.{field}", _supported(c.get(field), POLICIES)))
        if (key, when) in seen:
            causes.append((f"{path}.{{topologyKey, whenUnsatisfiable}}", f'Duplicate value: "{{{key}, {when}}}"'))
        seen.add((key, when))
        causes += _selector(c.get("labelSelector"), f"{path}.labelSelector")
    return causes


def placement_causes(spec: JSON) -> List[Cause]:
    """Every (field, message) the real server would report for these fields of a new pod."""
    return _affinity(spec) + _spread(spec)
