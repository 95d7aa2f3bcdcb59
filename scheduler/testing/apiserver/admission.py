"""Validation, admission and defaulting: what the real server checks or fills in before storing.

Only what the scheduler depends on is modelled: MicroTime fields on Leases and
events.k8s.io Events (a malformed one is a 422 on the real server, a classic
client bug), pod defaults, the Priority admission plugin resolving
``priorityClassName`` into ``spec.priority``, pod spec immutability, and
``spec.schedulingGates`` (named once each at creation, without ``nodeName``;
afterwards they may only be removed), and pod (anti-)affinity terms and
topology spread constraints (`placement`).
"""
from __future__ import annotations

import re
from typing import Any, List

from scheduler.testing.apiserver.errors import ApiError, invalid
from scheduler.testing.apiserver.objects import JSON, now_rfc3339
from scheduler.testing.apiserver.placement import placement_causes
from scheduler.testing.apiserver.resources import PODS, Resource
from scheduler.testing.apiserver.store import Store

MICROTIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
PRIORITY_CLASSES = "scheduling.k8s.io/priorityclasses"


def validate(res: Resource, obj: JSON) -> None:
    """422 Invalid for a Lease or events.k8s.io Event the real server would refuse."""
    name = obj["metadata"].get("name", "")
    if res.plural == "leases":
        spec = obj.get("spec") or {}
        causes = []
        for f in ("acquireTime", "renewTime"):
            v = spec.get(f)
            if v is not None and not (isinstance(v, str) and MICROTIME_RE.match(v)):
                causes.append((f"spec.{f}", f'Invalid value: "{v}": must be a MicroTime '
                                            f'(RFC3339 with exactly 6 fractional digits, '
                                            f'e.g. 2006-01-02T15:04:05.000000Z)'))
        if causes:
            raise invalid(res, name, causes)
    elif res.group == "events.k8s.io":
        causes = []
        et = obj.get("eventTime")
        if not et:
            causes.append(("eventTime", "Required value"))
        elif not MICROTIME_RE.match(str(et)):
            causes.append(("eventTime", f'Invalid value: "{et}": must be a MicroTime'))
        for f in ("reportingController", "reportingInstance", "action", "reason"):
            if not obj.get(f):
                causes.append((f, "Required value"))
        if obj.get("type") not in ("Normal", "Warning"):
            causes.append(("type", f'Unsupported value: "{obj.get("type")}": supported values: "Normal", "Warning"'))
        if len(obj.get("note") or "") > 1024:
            causes.append(("note", "Too long: may not be more than 1024 bytes"))
        if causes:
            raise invalid(res, name, causes)


def admit_pod(store: Store, pod: JSON) -> None:
    """Default a new pod and resolve its priority (call with ``store.lock`` held)."""
    spec = pod.setdefault("spec", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    classes = store.objects[PRIORITY_CLASSES]
    pcn = spec.get("priorityClassName")
    if pcn:
        pc = classes.get(("", pcn))
        if pc is None:
            raise ApiError(403, f'pods "{pod["metadata"]["name"]}" is forbidden: no PriorityClass '
                                f'with name {pcn} was found', "Forbidden")
        spec["priority"] = pc.get("value", 0)
        spec.setdefault("preemptionPolicy", pc.get("preemptionPolicy", "PreemptLowerPriority"))
    elif "priority" not in spec:
        default = next((pc for pc in classes.values() if pc.get("globalDefault")), None)
        if default is not None:
            spec["priorityClassName"] = default["metadata"]["name"]
            spec["priority"] = default.get("value", 0)
        else:
            spec["priority"] = 0
    _check_new_gates(pod)
    causes = placement_causes(spec)
    if causes:
        raise invalid(PODS, pod["metadata"]["name"], causes)
    st = pod.setdefault("status", {})
    st.setdefault("phase", "Pending")
    st.setdefault("qosClass", "BestEffort")
    if spec.get("schedulingGates"):  # the pod strategy's applySchedulingGatedCondition
        conditions = st.setdefault("conditions", [])
        if not any(c.get("type") == "PodScheduled" for c in conditions):
            conditions.append({"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                               "message": "Scheduling is blocked due to non-empty scheduling gates",
                               "lastProbeTime": None, "lastTransitionTime": now_rfc3339()})


def _gate_names(spec: JSON) -> List[Any]:
    gates = spec.get("schedulingGates") or []
    return [g.get("name") if isinstance(g, dict) else g for g in (gates if isinstance(gates, list) else [gates])]


def _check_new_gates(pod: JSON) -> None:
    """ValidatePodCreate: every gate named, no name twice, and no nodeName while gates remain."""
    spec = pod["spec"]
    gates = _gate_names(spec)
    causes = []
    seen = set()
    for i, gate in enumerate(gates):
        if not gate or not isinstance(gate, str):
            causes.append((f"spec.schedulingGates[{i}].name", "Required value: name must be a non-empty string"))
        elif gate in seen:
            causes.append((f"spec.schedulingGates[{i}]", f'Duplicate value: "{gate}"'))
        else:
            seen.add(gate)
    if gates and spec.get("nodeName"):
        causes.append(("spec.nodeName", "Forbidden: cannot be set until all schedulingGates have been cleared"))
    if causes:
        raise invalid(PODS, pod["metadata"]["name"], causes)


def check_pod_update(old: JSON, new: JSON) -> None:
    """A pod's spec is immutable but for images, activeDeadlineSeconds, tolerations (coarsely) and
    the removal of scheduling gates (adding one is 422, worded as the real server does)."""
    a, b = dict(old.get("spec") or {}), dict(new.get("spec") or {})
    before = _gate_names(a)
    added = [(f"spec.schedulingGates[{i}].name", f"Forbidden: only deletion is allowed, but found new scheduling gate '{g}'")
             for i, g in enumerate(_gate_names(b)) if g not in before]
    if added:
        raise invalid(PODS, old["metadata"]["name"], added)
    for s in (a, b):
        s.pop("schedulingGates", None)
        s.pop("activeDeadlineSeconds", None)
        s.pop("tolerations", None)
        s["containers"] = [{k: v for k, v in c.items() if k != "image"}
                           for c in s.get("containers") or []]
    if a != b:
        raise invalid(PODS, old["metadata"]["name"],
                      [("spec", "Forbidden: pod updates may not change fields other than "
                                "`spec.containers[*].image`, `spec.activeDeadlineSeconds`, "
                                "`spec.tolerations` (only additions to existing tolerations)")])
