"""Create, update and delete with the real server's rules, shared by HTTP and the Python API.

The rules live here so both doors agree: ``generateName``, server-owned
metadata, 409 on a stale ``resourceVersion`` or UID precondition, no-op
updates that keep their resourceVersion, the status/spec split of the
``status`` subresource, and graceful deletion of bound pods (marked with
``deletionTimestamp``; a kubelet, here the NodeAgent, finishes them).
"""
from __future__ import annotations

import time
import uuid
from typing import Callable, Optional, Tuple

from scheduler.testing.apiserver import admission, eviction
from scheduler.testing.apiserver.errors import ApiError, conflict, invalid, not_found
from scheduler.testing.apiserver.objects import JSON, clone, now_rfc3339, rfc3339
from scheduler.testing.apiserver.resources import Resource
from scheduler.testing.apiserver.store import Store

STALE = "the object has been modified; please apply your changes to the latest version and try again"


class Registry:
    """The verbs on stored objects; returns the stored dicts (callers copy what they hand out)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, res: Resource, ns: str, obj: JSON) -> JSON:
        store = self.store
        store.check_served(res)
        md = obj.setdefault("metadata", {})
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
        name = md.get("name")
        if not name:
            raise invalid(res, "", [("metadata.name", "Required value: name or generateName is required")])
        obj["kind"], obj["apiVersion"] = res.kind, res.api_version
        if res.namespaced:
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_rfc3339()
        md.pop("deletionTimestamp", None)
        md.pop("resourceVersion", None)
        if res.has_status or res.plural == "priorityclasses":
            md["generation"] = 1
        admission.validate(res, obj)
        with store.lock:
            if (ns, name) in store.objects[res.rid]:
                raise ApiError(409, f'{res.qualified} "{name}" already exists', "AlreadyExists",
                               {"name": name, "group": res.group, "kind": res.plural})
            if res.rid == "pods":
                admission.admit_pod(store, obj)
            elif res.plural == "poddisruptionbudgets":
                obj.setdefault("status", {})
                eviction.compute_status(store, obj)
            return store.put(res, ns, name, obj, "ADDED", None)

    def update(self, res: Resource, ns: str, name: str, new: JSON, mode: str,
               patch: Optional[Callable[[JSON], JSON]] = None) -> JSON:
        """mode: 'main' (status preserved), 'status' (only status), 'all'. With ``patch``,
        ``new`` is ignored and the patch function gets a copy of the stored object."""
        store = self.store
        store.check_served(res)
        with store.lock:
            old = store.objects[res.rid].get((ns, name))
            if old is None:
                if patch is None and res.create_on_update and mode != "status":
                    return self.create(res, ns, new)
                raise not_found(res, name)
            if patch is not None:
                new = patch(clone(old))
            md = new.setdefault("metadata", {})
            if md.get("name", name) != name:
                raise ApiError(400, f"the name of the object ({md.get('name')}) does not match the name on the URL ({name})")
            want_rv = md.get("resourceVersion")
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise conflict(res, name, STALE)
            if md.get("uid") and md["uid"] != old["metadata"]["uid"]:
                raise conflict(res, name, f"Precondition failed: UID in precondition: {md['uid']}, "
                                          f"UID in object meta: {old['metadata']['uid']}")
            if mode == "status":
                out = clone(old)
                out["status"] = new.get("status", {})
            else:
                out = new
                # server-owned metadata
                omd = old["metadata"]
                for k in ("uid", "creationTimestamp", "namespace", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"):
                    if k in omd:
                        md[k] = omd[k]
                    else:
                        md.pop(k, None)
                md["name"] = name
                out["kind"], out["apiVersion"] = res.kind, res.api_version
                if mode == "main" and res.has_status:
                    if "status" in old:
                        out["status"] = old["status"]
                    else:
                        out.pop("status", None)
                if res.rid == "pods" and mode == "main":
                    admission.check_pod_update(old, out)
                if res.has_status and mode != "status" and out.get("spec") != old.get("spec"):
                    md["generation"] = omd.get("generation", 1) + 1
            admission.validate(res, out)
            if res.plural == "poddisruptionbudgets":
                eviction.compute_status(store, out)
            if out == old:
                return old   # no-op updates do not bump the resourceVersion
            return store.put(res, ns, name, out, "MODIFIED", old)

    def delete(self, res: Resource, ns: str, name: str, opts: JSON) -> Tuple[JSON, bool]:
        """Returns (object, deleted_now); a bound pod with a grace period is only marked."""
        store = self.store
        store.check_served(res)
        with store.lock:
            old = store.get(res, ns, name)
            pre = opts.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise conflict(res, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                          f"UID in object meta: {old['metadata']['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict(res, name, STALE)
            if res.rid == "pods":
                grace = opts.get("gracePeriodSeconds")
                if grace is None:
                    grace = old["metadata"].get("deletionGracePeriodSeconds",
                                                (old.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
                grace = max(0, int(grace))
                phase = (old.get("status") or {}).get("phase")
                if not (old.get("spec") or {}).get("nodeName") or phase in ("Succeeded", "Failed"):
                    grace = 0
                if grace > 0:
                    cur = old["metadata"].get("deletionGracePeriodSeconds")
                    if cur is not None and cur <= grace:
                        return old, False
                    new = clone(old)
                    new["metadata"]["deletionTimestamp"] = rfc3339(time.time() + grace)
                    new["metadata"]["deletionGracePeriodSeconds"] = grace
                    return store.put(res, ns, name, new, "MODIFIED", old), False
            gone = clone(old)
            return store.put(res, ns, name, gone, "DELETED", old), True
