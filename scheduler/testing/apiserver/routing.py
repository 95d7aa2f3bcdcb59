"""URL routing: discovery, and ``/api/v1/...`` / ``/apis/<group>/<version>/...`` paths to verbs.

The unmodified ``kubernetes`` client builds these URLs, so the shapes (namespaced
or not, subresources, the legacy ``bindings`` collection, ``/watch/`` paths) and
the answer codes must be the real server's.
"""
from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from scheduler.testing.apiserver import eviction
from scheduler.testing.apiserver.binding import Binder
from scheduler.testing.apiserver.errors import ApiError, no_such_resource, status_object
from scheduler.testing.apiserver.faults import Faults
from scheduler.testing.apiserver.listwatch import list_objects, selectors_from, watch_stream
from scheduler.testing.apiserver.objects import JSON
from scheduler.testing.apiserver.patches import json_patch, merge_patch, strategic_merge_patch
from scheduler.testing.apiserver.registry import Registry
from scheduler.testing.apiserver.resources import BY_GV, PODGROUP_GROUP, Resource
from scheduler.testing.apiserver.store import Store, Watcher

if TYPE_CHECKING:
    from scheduler.testing.apiserver.server import FakeApiServer
    from scheduler.testing.apiserver.serving import _Handler as Handler


@dataclass
class Backend:
    """What the HTTP side may use: the parts of one FakeApiServer."""
    store: Store
    registry: Registry
    binder: Binder
    faults: Faults
    request_counts: collections.Counter[Any]
    server: FakeApiServer   # for its settings: host, port, bookmark_interval, default_watch_timeout


_WATCH_PATH_RE = re.compile(r"^/(api/v1|apis/[^/]+/[^/]+)/watch(/|$)")


def is_watch(path: str, q: Dict[str, str]) -> bool:
    return q.get("watch") in ("1", "true", "True") or bool(_WATCH_PATH_RE.match(path))


def _discovery_resources(gv_res: Dict[str, Resource]) -> List[JSON]:
    out = []
    for r in gv_res.values():
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        out.append({"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": verbs, "shortNames": r.short})
        for sub in sorted(r.subresources):
            kind = {"binding": "Binding", "eviction": "Eviction"}.get(sub, r.kind)
            group = {"eviction": "policy"}.get(sub)
            d = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                 "kind": kind, "verbs": ["create"] if sub in ("binding", "eviction") else ["get", "patch", "update"]}
            if group:
                d["group"], d["version"] = group, "v1"
            out.append(d)
    if ("bindings" not in gv_res) and "pods" in gv_res:
        out.append({"name": "bindings", "singularName": "binding", "namespaced": True,
                    "kind": "Binding", "verbs": ["create"]})
    return out


def _discovery(h: Handler, b: Backend, path: str) -> bool:
    """Answer the fixed discovery paths; False when ``path`` is not one of them."""
    srv = b.server
    if path in ("/healthz", "/readyz", "/livez"):
        h.reply(200, b"ok", "text/plain")
    elif path == "/version":
        h.reply(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake",
                      "gitCommit": "0" * 40, "gitTreeState": "clean",
                      "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.22",
                      "compiler": "gc", "platform": "linux/amd64"})
    elif path == "/api":
        h.reply(200, {"kind": "APIVersions", "versions": ["v1"],
                      "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                      "serverAddress": f"{srv.host}:{srv.port}"}]})
    elif path == "/apis":
        groups = []
        for (g, v) in BY_GV:
            if not g or (g == PODGROUP_GROUP and not b.store.podgroup_crd_installed):
                continue
            gv = {"groupVersion": f"{g}/{v}", "version": v}
            groups.append({"name": g, "versions": [gv], "preferredVersion": gv})
        h.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    else:
        return False
    return True


def route(h: Handler, b: Backend, method: str, path: str, q: Dict[str, str]) -> None:
    """Answer one request (errors are raised as ApiError for the caller to send)."""
    if _discovery(h, b, path):
        return
    segs = path.strip("/").split("/")
    if segs[0] == "api":
        if len(segs) < 2 or segs[1] != "v1":
            raise no_such_resource()
        group, version, rest = "", "v1", segs[2:]
    elif segs[0] == "apis" and len(segs) >= 2:
        group = segs[1]
        if group == PODGROUP_GROUP and not b.store.podgroup_crd_installed:
            raise no_such_resource()
        if len(segs) == 2:
            vs = [v for (g, v) in BY_GV if g == group]
            if not vs:
                raise no_such_resource()
            gv = {"groupVersion": f"{group}/{vs[0]}", "version": vs[0]}
            h.reply(200, {"kind": "APIGroup", "apiVersion": "v1", "name": group,
                          "versions": [gv], "preferredVersion": gv})
            return
        version, rest = segs[2], segs[3:]
    else:
        raise no_such_resource()
    gv_res = BY_GV.get((group, version))
    if gv_res is None:
        raise no_such_resource()
    if not rest:
        h.reply(200, {"kind": "APIResourceList", "apiVersion": "v1",
                      "groupVersion": f"{group}/{version}" if group else version,
                      "resources": _discovery_resources(gv_res)})
        return
    watch_path = False
    if rest[0] == "watch":
        watch_path, rest = True, rest[1:]
    ns: Optional[str] = None
    if len(rest) >= 3 and rest[0] == "namespaces" and (rest[2] in gv_res or rest[2] == "bindings"):
        ns, rest = rest[1], rest[2:]
    plural = rest[0] if rest else ""
    if group == "" and plural == "bindings" and ns is not None and method == "POST" and len(rest) == 1:
        body = h.json_body()
        name = (body.get("metadata") or {}).get("name", "")
        b.request_counts[("POST", "pods/binding")] += 1
        h.reply(201, b.binder.bind(ns, name, body))
        return
    res = gv_res.get(plural)
    if res is None or (res.namespaced and ns is None and len(rest) > 1) or \
            (not res.namespaced and ns is not None):
        raise no_such_resource()
    b.store.check_served(res)
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if len(rest) > 3 or (sub is not None and sub not in res.subresources):
        raise no_such_resource()
    b.request_counts[(method, res.plural + (f"/{sub}" if sub else ""))] += 1
    if name is None:
        _collection(h, b, method, res, ns, q, watch_path)
    else:
        _object(h, b, method, res, (ns or "") if res.namespaced else "", name, sub, q)


def _collection(h: Handler, b: Backend, method: str, res: Resource, ns: Optional[str],
                q: Dict[str, str], watch_path: bool) -> None:
    """list, watch, create and deletecollection."""
    if method == "GET":
        if watch_path or q.get("watch") in ("1", "true", "True"):
            watch_stream(h, b, res, ns, q)
        else:
            list_objects(h, b.store, res, ns, q)
        return
    if method == "POST":
        if res.namespaced and ns is None:
            raise no_such_resource()
        body = h.json_body()
        bns = (body.get("metadata") or {}).get("namespace")
        if res.namespaced and bns and bns != ns:
            raise ApiError(400, "the namespace of the provided object does not match the "
                                "namespace sent on the request")
        if body.get("kind") and body["kind"] != res.kind:
            raise ApiError(400, f"the kind of the provided object ({body['kind']}) does not "
                                f"match the resource ({res.kind})")
        h.reply(201, b.registry.create(res, (ns or "") if res.namespaced else "", body))
        return
    if method == "DELETE":   # deletecollection
        labels, fields = selectors_from(q)
        opts = h.json_body(required=False)
        if "gracePeriodSeconds" in q:
            opts.setdefault("gracePeriodSeconds", int(q["gracePeriodSeconds"]))
        w = Watcher(res, ns, labels, fields)
        with b.store.lock:
            keys = [k for k, o in b.store.objects[res.rid].items() if w.matches(o)]
            items = [b.registry.delete(res, k[0], k[1], opts)[0] for k in keys]
        h.reply(200, {"kind": res.list_kind, "apiVersion": res.api_version,
                      "metadata": {"resourceVersion": str(b.store.rv)}, "items": items})
        return
    raise ApiError(405, f"{method} is not supported on a collection", "MethodNotAllowed")


def _object(h: Handler, b: Backend, method: str, res: Resource, nskey: str, name: str,
            sub: Optional[str], q: Dict[str, str]) -> None:
    """get, update, patch and delete on one object; binding and eviction."""
    if sub == "binding":
        if method != "POST":
            raise ApiError(405, "only POST is supported on pods/binding", "MethodNotAllowed")
        h.reply(201, b.binder.bind(nskey, name, h.json_body()))
        return
    if sub == "eviction":
        if method != "POST":
            raise ApiError(405, "only POST is supported on pods/eviction", "MethodNotAllowed")
        h.reply(201, eviction.evict(b.store, b.registry, nskey, name, h.json_body()))
        return
    mode = "status" if sub == "status" else "main"
    if method == "GET":
        with b.store.lock:
            h.reply(200, b.store.get(res, nskey, name))
        return
    if method == "PUT":
        h.reply(200, b.registry.update(res, nskey, name, h.json_body(), mode))
        return
    if method == "PATCH":
        body = h.json_value()
        fn = _patch_function(res, (h.headers.get("Content-Type") or "").split(";")[0].strip(), body)
        if not isinstance(body, (dict, list)):
            raise ApiError(400, "patch body must be a JSON object")
        h.reply(200, b.registry.update(res, nskey, name, {}, mode, patch=fn))
        return
    if method == "DELETE":
        opts = h.json_body(required=False)
        if "gracePeriodSeconds" in q:
            opts.setdefault("gracePeriodSeconds", int(q["gracePeriodSeconds"]))
        obj, _ = b.registry.delete(res, nskey, name, opts)
        if res.rid == "pods":
            h.reply(200, obj)
        else:
            st = status_object(200, "")
            st["details"] = {"name": name, "group": res.group, "kind": res.plural,
                             "uid": obj["metadata"].get("uid")}
            h.reply(200, st)
        return
    raise ApiError(405, f"{method} is not supported", "MethodNotAllowed")


def _patch_function(res: Resource, ctype: str, body: Any) -> Callable[[JSON], JSON]:
    """The patch to apply for this Content-Type (415 for server-side apply and unknown types)."""
    if ctype == "application/json-patch+json":
        if not isinstance(body, list):
            raise ApiError(400, "json patch must be a list of operations")
        return lambda cur: json_patch(cur, body)
    if ctype == "application/merge-patch+json":
        return lambda cur: merge_patch(cur, body)
    if ctype in ("application/strategic-merge-patch+json", ""):
        if res.group == PODGROUP_GROUP:
            raise ApiError(415, "strategic merge patch is not supported for custom resources",
                           "UnsupportedMediaType")
        return lambda cur: strategic_merge_patch(cur, body)
    if ctype == "application/apply-patch+yaml":
        raise ApiError(415, "server-side apply is not supported by the fake apiserver",
                       "UnsupportedMediaType")
    raise ApiError(415, f"the body of the request was in an unknown format ({ctype}) - "
                        f"accepted media types include: application/json-patch+json, "
                        f"application/merge-patch+json, "
                        f"application/strategic-merge-patch+json", "UnsupportedMediaType")
