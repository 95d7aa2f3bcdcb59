"""The Eviction API and PodDisruptionBudgets: 201, or 429 when a budget would be violated.

Preemption evicts through this subresource, so its answers must match
``pkg/registry/core/pod/storage/eviction.go``: pods that are Pending,
finished or already terminating are evicted without consulting budgets; more
than one matching budget is a 500. Budget status (``disruptionsAllowed``...)
is kept current as pods change, like the disruption controller would.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional, Tuple

from scheduler.testing.apiserver.errors import ApiError, not_found, status_object
from scheduler.testing.apiserver.objects import JSON, clone
from scheduler.testing.apiserver.resources import PDBS, PODS, Resource
from scheduler.testing.apiserver.selectors import label_selector_object_matches
from scheduler.testing.apiserver.store import Store, WatchEvent

if TYPE_CHECKING:
    from scheduler.testing.apiserver.registry import Registry


def evict(store: Store, registry: Registry, ns: str, name: str, body: JSON) -> JSON:
    """POST pods/eviction: delete the pod (gracefully) unless a budget forbids it."""
    opts = body.get("deleteOptions") or {}
    with store.lock:
        pod = store.objects["pods"].get((ns, name))
        if pod is None:
            raise not_found(PODS, name)
        phase = (pod.get("status") or {}).get("phase")
        ignore = bool(pod["metadata"].get("deletionTimestamp")) or phase in ("Succeeded", "Failed", "Pending")
        if not ignore:
            pdbs = [p for p in store.objects[PDBS.rid].values()
                    if p["metadata"]["namespace"] == ns and
                    label_selector_object_matches((p.get("spec") or {}).get("selector"),
                                                  pod["metadata"].get("labels"))]
            if len(pdbs) > 1:
                raise ApiError(500, "This pod has more than one PodDisruptionBudget, which the "
                                    "eviction subresource does not support.", "InternalError")
            if pdbs:
                st = pdbs[0].get("status") or {}
                healthy = pod_healthy(pod)
                if healthy and st.get("disruptionsAllowed", 0) <= 0:
                    raise ApiError(429, "Cannot evict pod as it would violate the pod's disruption budget.",
                                   "TooManyRequests",
                                   {"causes": [{"reason": "DisruptionBudget",
                                                "message": f"The disruption budget {pdbs[0]['metadata']['name']} "
                                                           f"needs {st.get('desiredHealthy', 0)} healthy pods and "
                                                           f"has {st.get('currentHealthy', 0)} currently"}]})
                if not healthy and st.get("currentHealthy", 0) < st.get("desiredHealthy", 0):
                    raise ApiError(429, "Cannot evict pod as it would violate the pod's disruption budget.",
                                   "TooManyRequests",
                                   {"causes": [{"reason": "DisruptionBudget",
                                                "message": f"The disruption budget {pdbs[0]['metadata']['name']} "
                                                           f"does not have enough healthy pods"}]})
        registry.delete(PODS, ns, name, opts)
    return status_object(201, "")


def pod_healthy(pod: JSON) -> bool:
    """Running, Ready and not terminating: what a budget counts as healthy."""
    if pod["metadata"].get("deletionTimestamp"):
        return False
    st = pod.get("status") or {}
    if st.get("phase") != "Running":
        return False
    for c in st.get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def _contribution(sel: Optional[JSON], pod: Optional[JSON]) -> Tuple[int, int]:
    """(expected, healthy) that one pod adds to a budget with selector ``sel``."""
    if pod is None or not label_selector_object_matches(sel, pod["metadata"].get("labels")):
        return 0, 0
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0, 0
    return 1, int(pod_healthy(pod))


def track_budgets(store: Store) -> None:
    """Keep every budget's status current as pods change (incrementally: O(#budgets) per event)."""

    def pod_changed(res: Resource, ev: WatchEvent) -> None:
        if res.rid != "pods":
            return
        obj, old, type_ = ev.obj, ev.old, ev.type
        ns = obj["metadata"]["namespace"]
        pdbs = [p for (pns, _), p in store.objects[PDBS.rid].items() if pns == ns]
        if not pdbs:
            return
        new_pod = None if type_ == "DELETED" else obj
        old_pod = old if type_ != "ADDED" else None
        for p in pdbs:
            sel = (p.get("spec") or {}).get("selector")
            e1, h1 = _contribution(sel, new_pod)
            e0, h0 = _contribution(sel, old_pod)
            if (e1, h1) == (e0, h0):
                continue
            st = p.get("status") or {}
            upd = clone(p)
            _set_status(upd, st.get("expectedPods", 0) + e1 - e0, st.get("currentHealthy", 0) + h1 - h0)
            md = p["metadata"]
            store.put(PDBS, md["namespace"], md["name"], upd, "MODIFIED", p)

    store.listeners.append(pod_changed)


def compute_status(store: Store, pdb: JSON) -> None:
    """Full recount of a budget's status (on budget create/update; call with ``store.lock`` held)."""
    ns = pdb["metadata"]["namespace"]
    sel = (pdb.get("spec") or {}).get("selector")
    expected = healthy = 0
    for (pns, _), pod in store.objects["pods"].items():
        if pns == ns:
            e, h = _contribution(sel, pod)
            expected += e
            healthy += h
    _set_status(pdb, expected, healthy)


def _set_status(pdb: JSON, expected: int, healthy: int) -> None:
    spec = pdb.get("spec") or {}

    def scaled(v: Any) -> int:
        if isinstance(v, str) and v.endswith("%"):
            return int(math.ceil(float(v[:-1]) * expected / 100.0))
        return int(v)

    if spec.get("minAvailable") is not None:
        desired = scaled(spec["minAvailable"])
    elif spec.get("maxUnavailable") is not None:
        desired = max(0, expected - scaled(spec["maxUnavailable"]))
    else:
        desired = expected
    st = dict(pdb.get("status") or {})
    st.update({"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
               "disruptionsAllowed": max(0, healthy - desired),
               "observedGeneration": pdb["metadata"].get("generation", 1)})
    pdb["status"] = st
