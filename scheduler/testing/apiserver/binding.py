"""The binding subresource: 201 Status, 409 when already bound, terminating or gated, 404 when gone.

Every successful binding is also recorded (``bindings``, ``bindings_count``) so
tests can assert the scheduler never binds a pod twice, whatever faults it met.
"""
from __future__ import annotations

import collections
import time
from typing import Dict, List

from scheduler.testing.apiserver.errors import conflict, invalid, not_found, status_object
from scheduler.testing.apiserver.objects import JSON, clone, now_rfc3339
from scheduler.testing.apiserver.resources import PODS, Resource
from scheduler.testing.apiserver.store import Store

BINDING = Resource("", "v1", "pods/binding", "Binding", True)   # names the 409s as kube does


class Binder:
    """Applies Binding objects to pods and remembers each success, in order."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.bindings: List[JSON] = []   # {"pod": "ns/name", "uid", "node", "resourceVersion", "time"}
        self.counts: Dict[str, int] = collections.defaultdict(int)

    def bind(self, ns: str, name: str, body: JSON) -> JSON:
        """Set ``spec.nodeName`` and the PodScheduled condition, as POST pods/binding does."""
        store = self.store
        target = (body.get("target") or {}).get("name")
        if not target:
            raise invalid(PODS, name, [("target.name", "Required value")])
        with store.lock:
            pod = store.objects["pods"].get((ns, name))
            if pod is None:
                raise not_found(PODS, name)
            bmd = body.get("metadata") or {}
            if bmd.get("uid") and bmd["uid"] != pod["metadata"]["uid"]:
                raise conflict(BINDING, name, f"Precondition failed: UID in precondition: {bmd['uid']}, "
                                              f"UID in object meta: {pod['metadata']['uid']}")
            if pod["metadata"].get("deletionTimestamp"):
                raise conflict(BINDING, name, f"pod {name} is being deleted, cannot be assigned to a host")
            spec = pod.get("spec") or {}
            if spec.get("nodeName"):
                raise conflict(BINDING, name, f'pod {name} is already assigned to node "{spec["nodeName"]}"')
            if spec.get("schedulingGates"):
                raise conflict(BINDING, name, f"pod {name} has non-empty .spec.schedulingGates")
            new = clone(pod)
            new["spec"]["nodeName"] = target
            if bmd.get("annotations"):
                new["metadata"].setdefault("annotations", {}).update(bmd["annotations"])
            conds = new.setdefault("status", {}).setdefault("conditions", [])
            cond = {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                    "lastTransitionTime": now_rfc3339()}
            for i, c in enumerate(conds):
                if c.get("type") == "PodScheduled":
                    conds[i] = cond
                    break
            else:
                conds.append(cond)
            store.put(PODS, ns, name, new, "MODIFIED", pod)
            key = f"{ns}/{name}"
            self.counts[key] += 1
            self.bindings.append({"pod": key, "uid": pod["metadata"]["uid"], "node": target,
                                  "resourceVersion": new["metadata"]["resourceVersion"],
                                  "time": time.time()})
        return status_object(201, "")
