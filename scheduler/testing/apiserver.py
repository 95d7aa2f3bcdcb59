"""A stand-in kube-apiserver for tests and benchmarks.

``FakeApiServer`` is a small, threaded HTTP server on loopback that keeps
Kubernetes objects in memory and speaks enough of the real kube-apiserver's
REST protocol for the *unmodified* ``kubernetes`` Python client (v35-v37) to
work against it through an ordinary kubeconfig (plain http; any bearer token
is accepted and ignored).

Quick start::

    from kubernetes import client, config
    from scheduler.testing import FakeApiServer, NodeAgent

    with FakeApiServer() as srv:                 # port 0 = pick a free port
        srv.write_kubeconfig("/tmp/kubeconfig")
        api = client.CoreV1Api(config.new_client_from_config("/tmp/kubeconfig"))
        srv.create({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": "n1"},
                    "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})
        agent = NodeAgent(srv); agent.start()      # plays the kubelets
        ...                                        # run the scheduler against it
        assert all(srv.bindings_count(k) <= 1 for k in srv.bound_pods())
        agent.stop()

Out of process (the benchmark does this to use a second core)::

    python -m scheduler.testing.apiserver --port 0 --kubeconfig-out /tmp/kc \\
        --node-agent --nodes 100 --node-cpu 32 --node-memory 128Gi

prints the URL on stdout and serves until SIGTERM/SIGINT.

What is modelled (faithful to kube-apiserver where the scheduler cares):

* one global, monotonically increasing ``resourceVersion`` (a decimal string);
* discovery (``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>``,
  ``/apis/<group>/<version>``);
* resources: core ``pods`` (+ ``binding``, ``eviction``, ``status``), ``nodes``
  (+ ``status``), ``namespaces``, ``events``, ``bindings``; ``policy/v1``
  ``poddisruptionbudgets`` (status.disruptionsAllowed kept current);
  ``scheduling.k8s.io/v1`` ``priorityclasses`` (pods' ``priorityClassName`` is
  resolved into ``spec.priority`` like the Priority admission plugin);
  ``scheduling.x-k8s.io/v1alpha1`` ``podgroups`` (404 everywhere while
  ``srv.podgroup_crd_installed`` is False); ``coordination.k8s.io/v1``
  ``leases`` (MicroTime validated); ``events.k8s.io/v1`` ``events``;
* list with ``labelSelector`` (=, ==, !=, in, notin, exists, !exists),
  ``fieldSelector`` (=, ==, != on any dotted path such as ``spec.nodeName``),
  ``limit``/``continue``;
* watch (``?watch=1``): chunked newline-delimited JSON events; RV ""/"0" starts
  with synthetic ADDED events; resuming from an RV older than the kept history
  answers HTTP 200 + an ERROR event carrying a 410 ``Expired`` Status;
  ``allowWatchBookmarks=true`` gets BOOKMARKs every ``srv.bookmark_interval``
  seconds; ``timeoutSeconds`` ends the stream; ``sendInitialEvents=true`` ends
  the initial events with the ``k8s.io/initial-events-end`` bookmark; objects
  that start/stop matching a selector are sent as ADDED/DELETED;
* POST (409 AlreadyExists, ``generateName``), GET, PUT (409 Conflict on a stale
  ``metadata.resourceVersion``), PATCH (strategic-merge, merge and JSON patch),
  DELETE (pods are deleted gracefully when bound: ``deletionTimestamp`` +
  ``deletionGracePeriodSeconds``; the ``NodeAgent`` finishes them);
* binding: 201 Status; 409 when already bound, being deleted or gated; 404;
* eviction: 201; 429 when a PodDisruptionBudget would be violated; 404;
* every error body is a ``Status`` object; bodies without Content-Type are
  accepted; every response has a Content-Length (or is chunked).

Python API (all return plain JSON dicts, copies of what is stored)::

    FakeApiServer(host="127.0.0.1", port=0, history_size=100_000,
                  bookmark_interval=2.0, default_watch_timeout=1800.0)
    srv.start() / srv.stop() / with FakeApiServer() as srv: ...
    srv.restart(down_for=0.0)          # see "Restarts" below; srv.serving -> bool
    srv.url, srv.port, srv.resource_version
    srv.write_kubeconfig(path, namespace="default") -> path
    srv.create(obj) -> dict            # kind/apiVersion from obj; sets uid, RV, timestamps
    srv.get(kind, namespace, name) -> dict | None   # kind: "Pod", "pods", "events.k8s.io/events"
    srv.list(kind, namespace=None) -> list[dict]
    srv.update(obj) -> dict            # wholesale replace (spec and status)
    srv.modify(kind, namespace, name, change) -> dict | None
                                       # read-modify-write, no other write in between;
                                       # change(copy) returns the new object or None
    srv.delete(kind, namespace, name, grace_period_seconds=None, uid=None) -> dict | None
    srv.bind(namespace, name, node) -> Status   # as POST pods/binding (409 / 404 as ApiError)
    srv.events() -> list[dict]         # events.k8s.io/v1 and core v1 Events
    srv.bindings                       # [{"pod": "ns/name", "uid", "node", "resourceVersion", "time"}]
    srv.bindings_count("ns/name") -> int ; srv.bound_pods() -> list[str]
    srv.request_counts                 # Counter{(METHOD, "pods/binding"): n, ...} (approximate)
    srv.watcher_count(kind=None) -> int
    srv.podgroup_crd_installed = False # podgroups answer 404, vanish from discovery
    srv.bookmark_interval = 0.2        # seconds between BOOKMARKs (real server: ~60 s)

In-process watching (what the ``NodeAgent`` uses; no HTTP, survives restarts)::

    w = srv.open_watch("pods")         # w.objects: the pods now; w.get(timeout) -> event | None
    ev.type, ev.obj, ev.old            # ADDED/MODIFIED/DELETED and the stored dicts (read-only)
    w.empty(); w.close()
    with srv.atomic(): ...             # no write lands inside: several watches, one RV

Note ``srv.delete("Pod", ...)`` follows the real rules: a bound pod with a
grace period is only marked for deletion; run a ``NodeAgent`` (or pass
``grace_period_seconds=0``) to have it removed.

Fault injection (``srv.faults``)::

    srv.faults.drop_watches()        # end every open watch stream now
    srv.faults.expire_history()      # resuming from any older RV -> ERROR 410 Expired
    srv.faults.fail_next(method, path_regex, status, count=1, message=None, retry_after=None)
        # method None/"*" = any; path_regex is re.search'ed on the URL path (no query);
        # retry_after adds a Retry-After header - urllib3 (so the kubernetes client)
        # then retries 413/429/503 by itself
    srv.faults.delay(seconds, path_regex=None)   # latency; delay(0, same_regex) removes
    srv.faults.hang_after_apply(path_regex, seconds, count=1, method=None)
        # apply the request (a bind binds, watchers see it), then hold the answer
        # `seconds` and close the connection unanswered: the client gets a read
        # timeout (seconds > its read timeout) or a connection error (0 = at once).
        # Note urllib3 retries idempotent methods (GET, PUT, DELETE) after such an
        # error unless retries=False; POSTs are not retried.
    srv.faults.clear()

Restarts (the store survives, the watch history does not)::

    srv.restart(down_for=0.5)        # blocking: stop, refuse connections 0.5 s, start
    srv.stop(); ...; srv.start()     # non-blocking: down while the test does other things

``stop()`` closes the listening socket and every open connection, watch
streams included (clients see a broken stream, a dropped keep-alive connection
or "connection refused"), and keeps objects, the resourceVersion counter,
``bindings``, ``request_counts`` and ``faults``. ``start()`` after ``stop()``
serves the same store on the same port (SO_REUSEADDR) with an empty watch
history: resuming a watch from any RV seen before the restart answers the ERROR
410 Expired event (the RV is bumped once on restart, so even the latest old RV
is too old - stricter than a real server, deterministic for tests), and a list
returns the current objects and an RV to watch from. The Python API works while
the server is down, and a ``NodeAgent`` (in-process) keeps working throughout.

Known simplifications: no authn/authz, admission only resolves
``priorityClassName``; no namespace existence checks; ``resourceVersion`` on a
list is ignored (always the latest state); no server-side apply; pods' spec
immutability is checked coarsely; ``status`` writes on the main resource are
ignored (as on the real server) but ``srv.update`` writes everything.
"""
from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import copy
import datetime as _dt
import json
import math
import queue
import re
import select
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeApiServer", "Faults", "ApiError", "Resource", "RESOURCES", "LocalWatch", "main"]

JSON = Dict[str, Any]

MICROTIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")


def now_rfc3339() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_microtime() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clone(obj: Any) -> Any:
    # json round trip is faster than copy.deepcopy for plain JSON data
    return json.loads(json.dumps(obj))


# --------------------------------------------------------------------------- errors

_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


def status_object(code: int, message: str, reason: Optional[str] = None,
                  details: Optional[JSON] = None) -> JSON:
    st: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Success" if code < 400 else "Failure",
                "message": message, "reason": reason or _REASONS.get(code, "Unknown"),
                "code": code}
    if code < 400:
        st.pop("message")
        st.pop("reason")
    if details:
        st["details"] = details
    return st


class ApiError(Exception):
    """An API error answered as a Status object."""

    def __init__(self, code: int, message: str, reason: Optional[str] = None,
                 details: Optional[JSON] = None, retry_after: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        if retry_after is not None:
            details = dict(details or {}, retryAfterSeconds=retry_after)
        self.status = status_object(code, message, reason, details)


def _not_found(res: "Resource", name: str) -> ApiError:
    return ApiError(404, f'{res.qualified} "{name}" not found', "NotFound",
                    {"name": name, "group": res.group, "kind": res.plural})


def _conflict(res: "Resource", name: str, why: str) -> ApiError:
    return ApiError(409, f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
                    "Conflict", {"name": name, "group": res.group, "kind": res.plural})


def _invalid(res: "Resource", name: str, causes: List[Tuple[str, str]]) -> ApiError:
    msg = "; ".join(f"{f}: {m}" for f, m in causes)
    return ApiError(422, f'{res.kind} "{name}" is invalid: {msg}', "Invalid",
                    {"name": name, "group": res.group, "kind": res.kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f}
                                for f, m in causes]})


# --------------------------------------------------------------------------- resources

class Resource:
    def __init__(self, group: str, version: str, plural: str, kind: str, namespaced: bool,
                 subresources: Iterable[str] = (), short: Iterable[str] = (),
                 create_on_update: bool = False) -> None:
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced = namespaced
        self.subresources = set(subresources)
        self.short = list(short)
        self.create_on_update = create_on_update
        self.api_version = f"{group}/{version}" if group else version
        self.rid = f"{group}/{plural}" if group else plural
        self.qualified = f"{plural}.{group}" if group else plural
        self.list_kind = kind + "List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


RESOURCES: List[Resource] = [
    Resource("", "v1", "pods", "Pod", True, ("status", "binding", "eviction"), ("po",)),
    Resource("", "v1", "nodes", "Node", False, ("status",), ("no",)),
    Resource("", "v1", "namespaces", "Namespace", False, ("status",), ("ns",)),
    Resource("", "v1", "events", "Event", True, (), ("ev",), create_on_update=True),
    Resource("", "v1", "configmaps", "ConfigMap", True, (), ("cm",)),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True,
             ("status",), ("pdb",)),
    Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, (), ("pc",)),
    Resource("scheduling.x-k8s.io", "v1alpha1", "podgroups", "PodGroup", True,
             ("status",), ("pg",)),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", True),
    Resource("events.k8s.io", "v1", "events", "Event", True, (), ("ev",), create_on_update=True),
]
_BY_GV: Dict[Tuple[str, str], Dict[str, Resource]] = {}
for _r in RESOURCES:
    _BY_GV.setdefault((_r.group, _r.version), {})[_r.plural] = _r
_BY_RID = {r.rid: r for r in RESOURCES}
PODGROUP_GROUP = "scheduling.x-k8s.io"


def _resolve_kind(kind: str, api_version: Optional[str] = None) -> List[Resource]:
    """Resources matching a kind ("Pod"), plural ("pods") or rid ("events.k8s.io/events")."""
    if kind in _BY_RID:
        return [_BY_RID[kind]]
    out = [r for r in RESOURCES
           if (r.kind == kind or r.plural == kind or r.kind.lower() == kind.lower())
           and (api_version is None or r.api_version == api_version)]
    return out


# --------------------------------------------------------------------------- selectors

def _split_top(s: str) -> List[str]:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


LabelReq = Tuple[str, str, Tuple[str, ...]]  # key, op, values

_SET_RE = re.compile(r"^([^\s!=]+)\s+(in|notin)\s*\((.*)\)$")


def parse_label_selector(s: str) -> List[LabelReq]:
    reqs: List[LabelReq] = []
    for term in _split_top(s):
        m = _SET_RE.match(term)
        if m:
            vals = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append((m.group(1), m.group(2), vals))
        elif "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((k.strip(), "!=", (v.strip(),)))
        elif "==" in term:
            k, v = term.split("==", 1)
            reqs.append((k.strip(), "=", (v.strip(),)))
        elif "=" in term:
            k, v = term.split("=", 1)
            reqs.append((k.strip(), "=", (v.strip(),)))
        elif term.startswith("!"):
            reqs.append((term[1:].strip(), "!exists", ()))
        else:
            reqs.append((term, "exists", ()))
    return reqs


def labels_match(reqs: List[LabelReq], labels: Optional[Dict[str, str]]) -> bool:
    labels = labels or {}
    for k, op, vals in reqs:
        v = labels.get(k)
        if op == "=":
            if v != vals[0]:
                return False
        elif op == "!=":
            if v == vals[0]:
                return False
        elif op == "in":
            if v is None or v not in vals:
                return False
        elif op == "notin":
            if v is not None and v in vals:
                return False
        elif op == "exists":
            if v is None:
                return False
        elif op == "!exists":
            if v is not None:
                return False
    return True


def label_selector_object_matches(sel: Optional[JSON], labels: Optional[Dict[str, str]]) -> bool:
    """metav1.LabelSelector semantics: an empty selector matches everything."""
    if sel is None:
        return False
    labels = labels or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


FieldReq = Tuple[Tuple[str, ...], bool, str]  # path, negate, value


def parse_field_selector(s: str) -> List[FieldReq]:
    reqs: List[FieldReq] = []
    for term in _split_top(s):
        if "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((tuple(k.strip().split(".")), True, v.strip()))
        else:
            k, v = term.split("==", 1) if "==" in term else term.split("=", 1)
            reqs.append((tuple(k.strip().split(".")), False, v.strip()))
    return reqs


def fields_match(reqs: List[FieldReq], obj: JSON) -> bool:
    for path, neg, val in reqs:
        cur: Any = obj
        for p in path:
            cur = cur.get(p) if isinstance(cur, dict) else None
        cur = "" if cur is None else (str(cur).lower() if isinstance(cur, bool) else str(cur))
        if (cur == val) == neg:
            return False
    return True


# --------------------------------------------------------------------------- patches

# list fields merged by key under strategic-merge-patch (others are replaced)
SMP_MERGE_KEYS = {
    "conditions": "type", "containers": "name", "initContainers": "name",
    "ephemeralContainers": "name", "containerStatuses": "name",
    "initContainerStatuses": "name", "volumes": "name", "env": "name",
    "ports": "containerPort", "ownerReferences": "uid", "addresses": "type",
    "volumeMounts": "mountPath", "imagePullSecrets": "name", "resourceClaims": "name",
}
SMP_SET_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A subset of Kubernetes strategic-merge-patch, enough for pods/nodes/status."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if patch.get("$patch") == "delete":
        return None
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue  # $setElementOrder, $retainKeys, $deleteFromPrimitiveList ...
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in SMP_MERGE_KEYS and isinstance(out.get(k), list):
            out[k] = _merge_list(out[k], v, SMP_MERGE_KEYS[k])
        elif isinstance(v, list) and k in SMP_SET_LISTS and isinstance(out.get(k), list):
            out[k] = list(out[k]) + [x for x in v if x not in out[k]]
        elif isinstance(v, dict):
            r = strategic_merge_patch(out.get(k), v)
            if r is None:
                out.pop(k, None)
            else:
                out[k] = r
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_list(cur: List[Any], patch: List[Any], key: str) -> List[Any]:
    out = list(cur)
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            out.append(copy.deepcopy(item))
            continue
        idx = next((i for i, e in enumerate(out) if isinstance(e, dict) and e.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("$")})
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def _ptr(path: str) -> List[str]:
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(doc: Any, ops: List[JSON]) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, test, copy, move)."""
    doc = copy.deepcopy(doc)

    def parent(path: str) -> Tuple[Any, str]:
        parts = _ptr(path)
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur, parts[-1]

    def get(path: str) -> Any:
        cur = doc
        for p in _ptr(path):
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        try:
            if kind == "test":
                if get(path) != op.get("value"):
                    raise ApiError(422, f"the server rejected our request due to an error in our request: test failed for {path}")
                continue
            if kind in ("copy", "move"):
                val = copy.deepcopy(get(op["from"]))
                if kind == "move":
                    json_patch_remove = parent(op["from"])
                    c, k = json_patch_remove
                    c.pop(int(k)) if isinstance(c, list) else c.pop(k)
                kind, op = "add", {"value": val}
            c, k = parent(path)
            if kind == "add":
                if isinstance(c, list):
                    c.insert(len(c) if k == "-" else int(k), copy.deepcopy(op.get("value")))
                else:
                    c[k] = copy.deepcopy(op.get("value"))
            elif kind == "replace":
                if isinstance(c, list):
                    c[int(k)] = copy.deepcopy(op.get("value"))
                else:
                    if k not in c:
                        raise KeyError(k)
                    c[k] = copy.deepcopy(op.get("value"))
            elif kind == "remove":
                c.pop(int(k)) if isinstance(c, list) else c.pop(k)
            else:
                raise ApiError(400, f"unexpected kind of patch operation: {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, f"the server rejected our request due to an error in our request: "
                                f"jsonpatch {kind} operation does not apply: doc is missing path: {path}")
    return doc


# --------------------------------------------------------------------------- watch plumbing

class _Event:
    __slots__ = ("rv", "rid", "type", "obj", "old", "_line")

    def __init__(self, rv: int, rid: str, type_: str, obj: JSON, old: Optional[JSON]) -> None:
        self.rv, self.rid, self.type, self.obj, self.old = rv, rid, type_, obj, old
        self._line: Optional[bytes] = None

    def line(self) -> bytes:
        if self._line is None:
            self._line = json.dumps({"type": self.type, "object": self.obj},
                                    separators=(",", ":")).encode() + b"\n"
        return self._line


_STOP = object()
_DROP = object()


class _Watcher:
    def __init__(self, res: Resource, namespace: Optional[str],
                 labels: List[LabelReq], fields: List[FieldReq], http: bool = False) -> None:
        self.res, self.namespace, self.labels, self.fields = res, namespace, labels, fields
        self.http = http   # an HTTP watch stream (ends on stop); else in-process (NodeAgent)
        self.q: "queue.SimpleQueue[Any]" = queue.SimpleQueue()

    def matches(self, obj: Optional[JSON]) -> bool:
        if obj is None:
            return False
        md = obj.get("metadata") or {}
        if self.namespace is not None and md.get("namespace") != self.namespace:
            return False
        if self.labels and not labels_match(self.labels, md.get("labels")):
            return False
        if self.fields and not fields_match(self.fields, obj):
            return False
        return True

    def translate(self, ev: _Event) -> Optional[bytes]:
        """The line to send for this event, honouring selector transitions."""
        if self.namespace is None and not self.labels and not self.fields:
            return ev.line()
        new_ok = self.matches(ev.obj)
        if ev.type == "MODIFIED":
            old_ok = self.matches(ev.old)
            if new_ok and old_ok:
                return ev.line()
            if new_ok:
                t = "ADDED"
            elif old_ok:
                t = "DELETED"
            else:
                return None
            return json.dumps({"type": t, "object": ev.obj}, separators=(",", ":")).encode() + b"\n"
        return ev.line() if new_ok else None


class LocalWatch:
    """An in-process watch (the NodeAgent, test monitors): ``objects`` is every object of the kind
    when the watch began, and :meth:`get` returns every later change, in order, with no gap.

    Unlike an HTTP watch it survives ``stop()``/``restart()`` of the server, as a kubelet would
    keep running while the API server restarts."""

    def __init__(self, srv: "FakeApiServer", watcher: _Watcher, objects: List[JSON], rv: int) -> None:
        self.objects = objects            # the stored dicts: read-only
        self.resource_version = rv
        self.closed = False
        self._srv, self._w = srv, watcher

    def get(self, timeout: Optional[float] = None) -> Optional[_Event]:
        """The next event; None when ``timeout`` seconds pass first (0 = do not wait) or when
        :meth:`close` ends the wait. ``faults.drop_watches()`` does not end a local watch."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            try:
                item = self._w.q.get_nowait() if left is not None and left <= 0 \
                    else self._w.q.get(timeout=left)
            except queue.Empty:
                return None
            if isinstance(item, _Event):
                return item
            if item is _STOP:
                return None
            # _DROP ends HTTP streams only: carry on waiting

    def empty(self) -> bool:
        """True when every event so far has been taken."""
        return self._w.q.empty()

    def close(self) -> None:
        self.closed = True
        self._w.q.put(_STOP)   # wakes a thread blocked in get()
        self._srv._unregister_watch(self._w)


# --------------------------------------------------------------------------- faults

def _method_key(method: Optional[str]) -> Optional[str]:
    """None matches any method."""
    return None if method in (None, "*") else str(method).upper()


class Faults:
    """Fault injection for a FakeApiServer (``srv.faults``)."""

    def __init__(self, srv: "FakeApiServer") -> None:
        self._srv = srv
        self._lock = threading.Lock()
        self._fail: List[List[Any]] = []   # [method, regex, status, remaining]
        self._delays: List[Tuple[Optional[Any], float]] = []
        self._hangs: List[List[Any]] = []  # [method, regex, seconds, remaining]

    def drop_watches(self) -> int:
        """End every open watch stream now; returns how many were open."""
        return self._srv._drop_watches()

    def expire_history(self) -> None:
        """Forget the watch history: resuming from any older RV now gets 410 Expired."""
        self._srv._expire_history()

    def fail_next(self, method: Optional[str], path_regex: str, status: int,
                  count: int = 1, message: Optional[str] = None,
                  retry_after: Optional[int] = None) -> None:
        """Answer the next ``count`` requests whose METHOD matches (None/"*" = any) and
        whose URL path (no query) matches ``path_regex`` (re.search) with ``status``.

        ``retry_after`` adds a Retry-After header (note: urllib3, hence the
        kubernetes client, silently retries 413/429/503 answers that carry one)."""
        with self._lock:
            self._fail.append([_method_key(method), re.compile(path_regex), int(status),
                               int(count), message, retry_after])

    def hang_after_apply(self, path_regex: str, seconds: float, count: int = 1,
                         method: Optional[str] = None) -> None:
        """Apply the next ``count`` matching requests, then hold the answer ``seconds``
        and close the connection without sending it: the write happened (objects
        changed, watch events sent) but the client sees a read timeout, or a
        connection error when ``seconds`` is shorter than its read timeout (0 = at
        once). Like a bind whose response was lost. Matching as in ``fail_next``;
        watch streams are not affected."""
        with self._lock:
            self._hangs.append([_method_key(method), re.compile(path_regex),
                                max(0.0, float(seconds)), int(count)])

    def delay(self, seconds: float, path_regex: Optional[str] = None) -> None:
        """Add ``seconds`` of latency to matching requests (all when path_regex is None).
        ``delay(0, same_regex)`` removes it."""
        with self._lock:
            key = path_regex
            self._delays = [(r, s) for (r, s) in self._delays
                            if (r.pattern if r is not None else None) != key]
            if seconds > 0:
                self._delays.append((re.compile(path_regex) if path_regex else None, float(seconds)))

    def clear(self) -> None:
        with self._lock:
            self._fail.clear()
            self._delays.clear()
            self._hangs.clear()

    def _hang_for(self, method: str, path: str) -> Optional[float]:
        """Seconds to hold this request's answer before hanging up, or None."""
        if not self._hangs:
            return None
        with self._lock:
            for rule in self._hangs:
                m, rx, seconds, _ = rule
                if (m is None or m == method) and rx.search(path):
                    rule[3] -= 1
                    if rule[3] <= 0:
                        self._hangs.remove(rule)
                    return seconds
            return None

    def _check(self, method: str, path: str) -> Tuple[float, Optional[ApiError]]:
        if not self._fail and not self._delays:
            return 0.0, None
        with self._lock:
            d = sum(s for r, s in self._delays if r is None or r.search(path))
            for rule in self._fail:
                m, rx, st, left, msg, retry = rule
                if left > 0 and (m is None or m == method) and rx.search(path):
                    rule[3] -= 1
                    if rule[3] <= 0:
                        self._fail.remove(rule)
                    return d, ApiError(st, msg or f"injected fault: {_REASONS.get(st, st)}",
                                       retry_after=retry)
            return d, None


# --------------------------------------------------------------------------- the server

class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True   # SO_REUSEADDR: a restart rebinds the port at once

    def __init__(self, address: Tuple[str, int], handler: Any) -> None:
        super().__init__(address, handler)
        self.stopping = threading.Event()   # set by FakeApiServer.stop()


def _hang_up(conn: socket.socket) -> None:
    """Close a client connection without a word: the client sees EOF / a reset."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class FakeApiServer:
    """In-memory kube-apiserver stand-in. See the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, history_size: int = 100_000,
                 bookmark_interval: float = 2.0, default_watch_timeout: float = 1800.0) -> None:
        self.host, self._port = host, port
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self.podgroup_crd_installed = True
        self.faults = Faults(self)
        self.bindings: List[JSON] = []        # every successful binding, in order
        self.request_counts: collections.Counter = collections.Counter()
        self._lock = threading.RLock()
        self._rv = 0
        self._objs: Dict[str, Dict[Tuple[str, str], JSON]] = {r.rid: {} for r in RESOURCES}
        self._history: Deque[_Event] = collections.deque(maxlen=history_size)
        self._history_floor = 0               # a watch may resume from any RV >= this
        self._watchers: Dict[str, Set[_Watcher]] = {r.rid: set() for r in RESOURCES}
        self._bind_counts: Dict[str, int] = collections.defaultdict(int)
        self._pdb_dirty: Set[str] = set()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._conns: Set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._started = False                 # a later start() is a restart
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                         "status": {"phase": "Active"}})
        for name, value in (("system-cluster-critical", 2000000000),
                            ("system-node-critical", 2000001000)):
            self.create({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                         "metadata": {"name": name}, "value": value,
                         "preemptionPolicy": "PreemptLowerPriority"})

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeApiServer":
        """Serve HTTP on ``self.port``. After ``stop()`` this starts a new instance on
        the same port over the same store, with no watch history (see ``restart``)."""
        if self._httpd is not None:
            raise RuntimeError("FakeApiServer is already running")
        if self._started:
            self._forget_watch_history()
        srv = self

        class Handler(_Handler):
            server_ref = srv

        httpd = _HTTPServer((self.host, self._port), Handler)
        self._port = httpd.server_address[1]
        with self._conns_lock:
            self._httpd = httpd
        self._started = True
        self._thread = threading.Thread(target=httpd.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="fake-apiserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving HTTP and drop every connection (watch streams included), so
        clients notice at once. The store, the resourceVersion counter, ``bindings``,
        ``request_counts`` and ``faults`` are kept: ``start()`` serves them again."""
        httpd = self._httpd
        if httpd is not None:
            httpd.stopping.set()       # wakes requests held by hang_after_apply
            httpd.shutdown()
            httpd.server_close()
        with self._conns_lock:
            self._httpd = None         # handlers that begin from now on hang up at once
            conns = list(self._conns)
        self._end_http_watches()
        for c in conns:
            _hang_up(c)

    def restart(self, down_for: float = 0.0) -> "FakeApiServer":
        """Stop, stay down ``down_for`` seconds (connections are refused), start again on
        the same port with empty watch history, like a restarted kube-apiserver. Blocks;
        for a server that stays down while the test does other things, call ``stop()``
        and later ``start()``."""
        self.stop()
        if down_for > 0:
            time.sleep(down_for)
        return self.start()

    @property
    def serving(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._httpd is not None

    def __enter__(self) -> "FakeApiServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    def write_kubeconfig(self, path: str, namespace: str = "default") -> str:
        """Write a kubeconfig for the real client (cluster+user+context 'fake')."""
        cfg = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                                      "namespace": namespace}}],
            "current-context": "fake",
        }
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)   # JSON is valid YAML
        return path

    # ------------------------------------------------------------------ python API
    def _res_for(self, kind: str, api_version: Optional[str] = None) -> Resource:
        rs = _resolve_kind(kind, api_version)
        if not rs:
            raise KeyError(f"unsupported kind {kind!r}")
        return rs[0]

    def create(self, obj: JSON) -> JSON:
        """Store a new object (kind/apiVersion in obj); returns a copy of the stored one."""
        res = self._res_for(obj["kind"], obj.get("apiVersion"))
        ns = (obj.get("metadata") or {}).get("namespace") or ("default" if res.namespaced else "")
        return _clone(self._create(res, ns, _clone(obj)))

    def get(self, kind: str, namespace: Optional[str], name: str) -> Optional[JSON]:
        """kind: "Pod", "pods" or "events.k8s.io/events"; namespace ignored for cluster kinds."""
        with self._lock:
            for res in _resolve_kind(kind):
                o = self._objs[res.rid].get(((namespace or "default") if res.namespaced else "", name))
                if o is not None:
                    return _clone(o)
            if not _resolve_kind(kind):
                raise KeyError(f"unsupported kind {kind!r}")
            return None

    def list(self, kind: str, namespace: Optional[str] = None) -> List[JSON]:
        out: List[JSON] = []
        with self._lock:
            for res in _resolve_kind(kind):
                for (ns, _), o in self._objs[res.rid].items():
                    if namespace is None or ns == namespace:
                        out.append(o)
            return _clone(out)

    def update(self, obj: JSON) -> JSON:
        """Replace an object wholesale (no status/spec split, no RV precondition
        unless metadata.resourceVersion is set)."""
        res = self._res_for(obj["kind"], obj.get("apiVersion"))
        md = obj.get("metadata") or {}
        ns = md.get("namespace") or ("default" if res.namespaced else "")
        return _clone(self._update(res, ns, md["name"], _clone(obj), mode="all"))

    def modify(self, kind: str, namespace: Optional[str], name: str,
               change: Callable[[JSON], Optional[JSON]]) -> Optional[JSON]:
        """Read-modify-write one object with no other write in between (as a kubelet's status
        update). ``change`` gets a copy of the stored object and returns the object to store
        wholesale, as ``update`` would, or None to leave it unchanged. Returns a copy of the
        object as stored afterwards, or None when there is no such object."""
        res = self._res_for(kind)
        ns = (namespace or "default") if res.namespaced else ""

        def patch(cur: JSON) -> JSON:
            new = change(cur)
            return cur if new is None else new   # an unchanged object is not written

        try:
            return _clone(self._update(res, ns, name, {}, "all", patch))
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def delete(self, kind: str, namespace: Optional[str], name: str,
               grace_period_seconds: Optional[int] = None, uid: Optional[str] = None) -> Optional[JSON]:
        """Delete as the API would (a bound pod with a grace period is only marked for deletion).
        ``uid``: only if the object still has this uid, else ApiError 409. None when absent."""
        res = self._res_for(kind)
        ns = (namespace or "default") if res.namespaced else ""
        opts: JSON = {} if grace_period_seconds is None else {"gracePeriodSeconds": grace_period_seconds}
        if uid is not None:
            opts["preconditions"] = {"uid": uid}
        try:
            return _clone(self._delete(res, ns, name, opts)[0])
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def bind(self, namespace: Optional[str], name: str, node: str) -> JSON:
        """Bind a pod to ``node`` as POST pods/binding would (recorded in ``bindings``); raises
        ApiError 409 when already bound, being deleted or gated, 404 when absent."""
        return self._bind(namespace or "default", name, {"target": {"name": node}})

    def events(self) -> List[JSON]:
        """All Events, events.k8s.io/v1 and core v1."""
        return self.list("Event")

    def open_watch(self, kind: str) -> LocalWatch:
        """Every object of ``kind`` now (``.objects``) and every change after it (``.get()``),
        with no gap; works while HTTP is stopped. ``close()`` it when done."""
        res = self._res_for(kind)
        with self._lock:
            objects = list(self._objs[res.rid].values())
            w, _, _, start = self._register_watch(res, None, [], [], str(self._rv), False)
        return LocalWatch(self, w, objects, start)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Hold back every write (HTTP and Python API) until the block ends, so that the reads and
        ``open_watch`` calls inside it all see one resourceVersion."""
        with self._lock:
            yield

    def bindings_count(self, pod_key: str) -> int:
        """How many successful bindings pod "namespace/name" has received."""
        with self._lock:
            return self._bind_counts.get(pod_key, 0)

    def bound_pods(self) -> List[str]:
        with self._lock:
            return list(self._bind_counts)

    @property
    def resource_version(self) -> int:
        return self._rv

    def watcher_count(self, kind: Optional[str] = None) -> int:
        with self._lock:
            if kind is None:
                return sum(len(s) for s in self._watchers.values())
            return sum(len(self._watchers[r.rid]) for r in _resolve_kind(kind))

    # ------------------------------------------------------------------ internals
    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _emit(self, res: Resource, type_: str, obj: JSON, old: Optional[JSON]) -> None:
        ev = _Event(self._rv, res.rid, type_, obj, old)
        h = self._history
        if h.maxlen is not None and len(h) == h.maxlen:
            self._history_floor = max(self._history_floor, h[0].rv)
        h.append(ev)
        for w in self._watchers[res.rid]:
            w.q.put(ev)
        if res.rid == "pods":
            self._pod_changed(obj, old, type_)

    def _store(self, res: Resource, ns: str, name: str, obj: JSON, type_: str,
               old: Optional[JSON]) -> JSON:
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        if type_ == "DELETED":
            self._objs[res.rid].pop((ns, name), None)
        else:
            self._objs[res.rid][(ns, name)] = obj
        self._emit(res, type_, obj, old)
        return obj

    def _check_crd(self, res: Resource) -> None:
        if res.group == PODGROUP_GROUP and not self.podgroup_crd_installed:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")

    def _create(self, res: Resource, ns: str, obj: JSON) -> JSON:
        self._check_crd(res)
        md = obj.setdefault("metadata", {})
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
        name = md.get("name")
        if not name:
            raise _invalid(res, "", [("metadata.name", "Required value: name or generateName is required")])
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
        self._validate(res, obj)
        with self._lock:
            if (ns, name) in self._objs[res.rid]:
                raise ApiError(409, f'{res.qualified} "{name}" already exists', "AlreadyExists",
                               {"name": name, "group": res.group, "kind": res.plural})
            if res.rid == "pods":
                self._admit_pod(obj)
            elif res.plural == "poddisruptionbudgets":
                obj.setdefault("status", {})
                self._compute_pdb_status(obj)
            return self._store(res, ns, name, obj, "ADDED", None)

    def _admit_pod(self, pod: JSON) -> None:
        spec = pod.setdefault("spec", {})
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        pcn = spec.get("priorityClassName")
        if pcn:
            pc = self._objs["scheduling.k8s.io/priorityclasses"].get(("", pcn))
            if pc is None:
                raise ApiError(403, f'pods "{pod["metadata"]["name"]}" is forbidden: no PriorityClass '
                                    f'with name {pcn} was found', "Forbidden")
            spec["priority"] = pc.get("value", 0)
            spec.setdefault("preemptionPolicy", pc.get("preemptionPolicy", "PreemptLowerPriority"))
        elif "priority" not in spec:
            default = next((pc for pc in self._objs["scheduling.k8s.io/priorityclasses"].values()
                            if pc.get("globalDefault")), None)
            if default is not None:
                spec["priorityClassName"] = default["metadata"]["name"]
                spec["priority"] = default.get("value", 0)
            else:
                spec["priority"] = 0
        st = pod.setdefault("status", {})
        st.setdefault("phase", "Pending")
        st.setdefault("qosClass", "BestEffort")

    def _validate(self, res: Resource, obj: JSON) -> None:
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
                raise _invalid(res, name, causes)
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
                raise _invalid(res, name, causes)

    def _get_obj(self, res: Resource, ns: str, name: str) -> JSON:
        self._check_crd(res)
        o = self._objs[res.rid].get((ns, name))
        if o is None:
            raise _not_found(res, name)
        return o

    def _update(self, res: Resource, ns: str, name: str, new: JSON, mode: str,
                patch: Optional[Callable[[JSON], JSON]] = None) -> JSON:
        """mode: 'main' (status preserved), 'status' (only status), 'all'."""
        self._check_crd(res)
        with self._lock:
            old = self._objs[res.rid].get((ns, name))
            if old is None:
                if patch is None and res.create_on_update and mode != "status":
                    return self._create(res, ns, new)
                raise _not_found(res, name)
            if patch is not None:
                new = patch(_clone(old))
            md = new.setdefault("metadata", {})
            if md.get("name", name) != name:
                raise ApiError(400, f"the name of the object ({md.get('name')}) does not match the name on the URL ({name})")
            want_rv = md.get("resourceVersion")
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise _conflict(res, name, "the object has been modified; please apply your "
                                           "changes to the latest version and try again")
            if md.get("uid") and md["uid"] != old["metadata"]["uid"]:
                raise _conflict(res, name, f"Precondition failed: UID in precondition: {md['uid']}, "
                                           f"UID in object meta: {old['metadata']['uid']}")
            if mode == "status":
                out = _clone(old)
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
                    self._check_pod_update(old, out)
                if res.has_status and mode != "status" and out.get("spec") != old.get("spec"):
                    md["generation"] = omd.get("generation", 1) + 1
            self._validate(res, out)
            if res.plural == "poddisruptionbudgets":
                self._compute_pdb_status(out)
            if out == old:
                return old   # no-op updates do not bump the resourceVersion
            return self._store(res, ns, name, out, "MODIFIED", old)

    def _check_pod_update(self, old: JSON, new: JSON) -> None:
        a, b = dict(old.get("spec") or {}), dict(new.get("spec") or {})
        for s in (a, b):
            s.pop("activeDeadlineSeconds", None)
            s.pop("tolerations", None)
            s["containers"] = [{k: v for k, v in c.items() if k != "image"}
                               for c in s.get("containers") or []]
        if a != b:
            raise _invalid(_BY_RID["pods"], old["metadata"]["name"],
                           [("spec", "Forbidden: pod updates may not change fields other than "
                                     "`spec.containers[*].image`, `spec.activeDeadlineSeconds`, "
                                     "`spec.tolerations` (only additions to existing tolerations)")])

    def _delete(self, res: Resource, ns: str, name: str, opts: JSON) -> Tuple[JSON, bool]:
        """Returns (object, deleted_now)."""
        self._check_crd(res)
        with self._lock:
            old = self._get_obj(res, ns, name)
            pre = opts.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise _conflict(res, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                           f"UID in object meta: {old['metadata']['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise _conflict(res, name, "the object has been modified; please apply your "
                                           "changes to the latest version and try again")
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
                    new = _clone(old)
                    new["metadata"]["deletionTimestamp"] = rfc3339(time.time() + grace)
                    new["metadata"]["deletionGracePeriodSeconds"] = grace
                    return self._store(res, ns, name, new, "MODIFIED", old), False
            gone = _clone(old)
            return self._store(res, ns, name, gone, "DELETED", old), True

    # ---- pods: binding / eviction / PDBs
    def _bind(self, ns: str, name: str, body: JSON) -> JSON:
        res = _BY_RID["pods"]
        target = (body.get("target") or {}).get("name")
        if not target:
            raise _invalid(_BY_RID["pods"], name, [("target.name", "Required value")])
        with self._lock:
            pod = self._objs["pods"].get((ns, name))
            if pod is None:
                raise _not_found(res, name)
            bres = Resource("", "v1", "pods/binding", "Binding", True)
            bmd = body.get("metadata") or {}
            if bmd.get("uid") and bmd["uid"] != pod["metadata"]["uid"]:
                raise _conflict(bres, name, f"Precondition failed: UID in precondition: {bmd['uid']}, "
                                            f"UID in object meta: {pod['metadata']['uid']}")
            if pod["metadata"].get("deletionTimestamp"):
                raise _conflict(bres, name, f"pod {name} is being deleted, cannot be assigned to a host")
            spec = pod.get("spec") or {}
            if spec.get("nodeName"):
                raise _conflict(bres, name, f'pod {name} is already assigned to node "{spec["nodeName"]}"')
            if spec.get("schedulingGates"):
                raise _conflict(bres, name, f"pod {name} has non-empty .spec.schedulingGates")
            new = _clone(pod)
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
            self._store(res, ns, name, new, "MODIFIED", pod)
            key = f"{ns}/{name}"
            self._bind_counts[key] += 1
            self.bindings.append({"pod": key, "uid": pod["metadata"]["uid"], "node": target,
                                  "resourceVersion": new["metadata"]["resourceVersion"],
                                  "time": time.time()})
        return status_object(201, "")

    def _evict(self, ns: str, name: str, body: JSON) -> JSON:
        res = _BY_RID["pods"]
        opts = body.get("deleteOptions") or {}
        with self._lock:
            pod = self._objs["pods"].get((ns, name))
            if pod is None:
                raise _not_found(res, name)
            phase = (pod.get("status") or {}).get("phase")
            ignore = bool(pod["metadata"].get("deletionTimestamp")) or phase in ("Succeeded", "Failed", "Pending")
            if not ignore:
                pdbs = [p for p in self._objs["policy/poddisruptionbudgets"].values()
                        if p["metadata"]["namespace"] == ns and
                        label_selector_object_matches((p.get("spec") or {}).get("selector"),
                                                      pod["metadata"].get("labels"))]
                if len(pdbs) > 1:
                    raise ApiError(500, "This pod has more than one PodDisruptionBudget, which the "
                                        "eviction subresource does not support.", "InternalError")
                if pdbs:
                    st = pdbs[0].get("status") or {}
                    healthy = self._pod_healthy(pod)
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
            self._delete(res, ns, name, opts)
        return status_object(201, "")

    @staticmethod
    def _pod_healthy(pod: JSON) -> bool:
        if pod["metadata"].get("deletionTimestamp"):
            return False
        st = pod.get("status") or {}
        if st.get("phase") != "Running":
            return False
        for c in st.get("conditions") or []:
            if c.get("type") == "Ready":
                return c.get("status") == "True"
        return False

    def _pdb_contrib(self, sel: Optional[JSON], pod: Optional[JSON]) -> Tuple[int, int]:
        """(expected, healthy) that one pod adds to a budget with selector ``sel``."""
        if pod is None or not label_selector_object_matches(sel, pod["metadata"].get("labels")):
            return 0, 0
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0, 0
        return 1, int(self._pod_healthy(pod))

    def _pod_changed(self, obj: JSON, old: Optional[JSON], type_: str) -> None:
        """Keep PodDisruptionBudget status current, incrementally (O(#budgets) per event)."""
        ns = obj["metadata"]["namespace"]
        pdbs = [p for (pns, _), p in self._objs["policy/poddisruptionbudgets"].items() if pns == ns]
        if not pdbs:
            return
        new_pod = None if type_ == "DELETED" else obj
        old_pod = old if type_ != "ADDED" else None
        for p in pdbs:
            sel = (p.get("spec") or {}).get("selector")
            e1, h1 = self._pdb_contrib(sel, new_pod)
            e0, h0 = self._pdb_contrib(sel, old_pod)
            if (e1, h1) == (e0, h0):
                continue
            st = p.get("status") or {}
            upd = _clone(p)
            self._set_pdb_status(upd, st.get("expectedPods", 0) + e1 - e0,
                                 st.get("currentHealthy", 0) + h1 - h0)
            md = p["metadata"]
            self._store(_BY_RID["policy/poddisruptionbudgets"], md["namespace"], md["name"],
                        upd, "MODIFIED", p)

    def _compute_pdb_status(self, pdb: JSON) -> None:
        """Full recount (on budget create/update)."""
        ns = pdb["metadata"]["namespace"]
        sel = (pdb.get("spec") or {}).get("selector")
        expected = healthy = 0
        for (pns, _), pod in self._objs["pods"].items():
            if pns == ns:
                e, h = self._pdb_contrib(sel, pod)
                expected += e
                healthy += h
        self._set_pdb_status(pdb, expected, healthy)

    @staticmethod
    def _set_pdb_status(pdb: JSON, expected: int, healthy: int) -> None:
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

    # ---- watch support
    def _register_watch(self, res: Resource, ns: Optional[str], labels: List[LabelReq],
                        fields: List[FieldReq], rv: str, initial: bool, http: bool = False
                        ) -> Tuple[_Watcher, List[bytes], Optional[JSON], int]:
        """Returns (watcher, lines to send first, error status or None, start rv)."""
        w = _Watcher(res, ns, labels, fields, http)
        first: List[bytes] = []
        with self._lock:
            self._check_crd(res)
            if rv in ("", "0") or initial:
                for o in self._objs[res.rid].values():
                    if w.matches(o):
                        first.append(json.dumps({"type": "ADDED", "object": o},
                                                separators=(",", ":")).encode() + b"\n")
                start = self._rv
            else:
                try:
                    start = int(rv)
                except ValueError:
                    raise ApiError(400, f'invalid resource version "{rv}"')
                if start < self._history_floor:
                    return w, [], status_object(
                        410, f"too old resource version: {start} ({self._history_floor})",
                        "Expired"), start
                pending = []
                for ev in reversed(self._history):
                    if ev.rv <= start:
                        break
                    if ev.rid == res.rid:
                        pending.append(ev)
                for ev in reversed(pending):
                    line = w.translate(ev)
                    if line is not None:
                        first.append(line)
            self._watchers[res.rid].add(w)
        return w, first, None, start

    def _unregister_watch(self, w: _Watcher) -> None:
        with self._lock:
            self._watchers[w.res.rid].discard(w)

    def _drop_watches(self) -> int:
        with self._lock:
            n = 0
            for ws in self._watchers.values():
                for w in ws:
                    w.q.put(_DROP)
                    n += 1
            return n

    def _expire_history(self) -> None:
        with self._lock:
            self._history.clear()
            self._history_floor = self._rv

    def _forget_watch_history(self) -> None:
        """A restarted server has no watch history. The RV is bumped once so that every
        RV a client saw before the restart, even the latest, is too old (410), while
        one from a fresh list is not."""
        with self._lock:
            self._next_rv()
            self._expire_history()

    def _end_http_watches(self) -> None:
        """End HTTP watch streams; in-process watchers (the NodeAgent) live on."""
        with self._lock:
            for ws in self._watchers.values():
                for w in ws:
                    if w.http:
                        w.q.put(_STOP)


# --------------------------------------------------------------------------- HTTP

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


_WATCH_PATH_RE = re.compile(r"^/(api/v1|apis/[^/]+/[^/]+)/watch(/|$)")


def _is_watch(path: str, q: Dict[str, str]) -> bool:
    return q.get("watch") in ("1", "true", "True") or bool(_WATCH_PATH_RE.match(path))


class _Handler(BaseHTTPRequestHandler):
    server_ref: FakeApiServer
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""
    timeout = None
    _hold: Optional[float] = None   # set per request by hang_after_apply

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        srv = self.server_ref
        with srv._conns_lock:
            if srv._httpd is not self.server:
                _hang_up(self.connection)   # accepted just before stop(): refuse late
            srv._conns.add(self.connection)

    def finish(self) -> None:
        with self.server_ref._conns_lock:
            self.server_ref._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing
    def _send(self, code: int, body: Any, content_type: str = "application/json",
              extra: Optional[Dict[str, str]] = None) -> None:
        if self._hold is not None:
            return   # hang_after_apply: the answer is lost
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        head = [f"HTTP/1.1 {code} {self.responses.get(code, ('',))[0]}",
                f"Content-Type: {content_type}", f"Content-Length: {len(data)}",
                "Cache-Control: no-cache, private",
                f"Date: {self.date_time_string()}"]
        for k, v in (extra or {}).items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)

    def _send_error(self, e: ApiError) -> None:
        extra = {"Retry-After": str(e.retry_after)} if e.retry_after is not None else None
        self._send(e.code, e.status, extra=extra)

    def _read_body(self) -> bytes:
        # read once, up front, so that an early error never leaves body bytes on a
        # keep-alive connection
        if self._body is None:
            self._body = self._read_body_raw()
        return self._body

    def _read_body_raw(self) -> bytes:
        n = self.headers.get("Content-Length")
        if n is not None:
            return self.rfile.read(int(n)) if int(n) > 0 else b""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _json_body(self, required: bool = True) -> JSON:
        raw = self._read_body()
        if not raw.strip():
            if required:
                raise ApiError(400, "the body of the request was empty")
            return {}
        try:
            return json.loads(raw)
        except ValueError as e:
            raise ApiError(400, f"the object provided is unrecognized or malformed: {e}")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        srv = self.server_ref
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self._body: Optional[bytes] = None
        self._hold: Optional[float] = None
        try:
            self._read_body()
            d, fault = srv.faults._check(method, path)
            if d:
                time.sleep(d)
            if fault is not None:
                raise fault
            if not _is_watch(path, q):
                self._hold = srv.faults._hang_for(method, path)
            self._route(method, path, q)
        except ApiError as e:
            self._safe_error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - report as 500 like the real server would
            self._safe_error(ApiError(500, f"internal error: {type(e).__name__}: {e}"))
        if self._hold is not None:
            self._hang_up_after(self._hold)

    def _hang_up_after(self, seconds: float) -> None:
        """Hold the connection ``seconds`` (less if the server stops), then close it unanswered."""
        self.server.stopping.wait(seconds)   # type: ignore[attr-defined]
        self.close_connection = True
        _hang_up(self.connection)

    def _safe_error(self, e: ApiError) -> None:
        try:
            self._send_error(e)
        except OSError:
            self.close_connection = True

    # -- routing
    def _route(self, method: str, path: str, q: Dict[str, str]) -> None:
        srv = self.server_ref
        if path in ("/healthz", "/readyz", "/livez"):
            self._send(200, b"ok", "text/plain")
            return
        if path == "/version":
            self._send(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake",
                             "gitCommit": "0" * 40, "gitTreeState": "clean",
                             "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.22",
                             "compiler": "gc", "platform": "linux/amd64"})
            return
        if path == "/api":
            self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                             "serverAddress": f"{srv.host}:{srv.port}"}]})
            return
        if path == "/apis":
            groups = []
            for (g, v) in _BY_GV:
                if not g or (g == PODGROUP_GROUP and not srv.podgroup_crd_installed):
                    continue
                gv = {"groupVersion": f"{g}/{v}", "version": v}
                groups.append({"name": g, "versions": [gv], "preferredVersion": gv})
            self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            return
        segs = path.strip("/").split("/")
        if segs[0] == "api":
            if len(segs) < 2 or segs[1] != "v1":
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            group, version, rest = "", "v1", segs[2:]
        elif segs[0] == "apis" and len(segs) >= 2:
            group = segs[1]
            if group == PODGROUP_GROUP and not srv.podgroup_crd_installed:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            if len(segs) == 2:
                vs = [v for (g, v) in _BY_GV if g == group]
                if not vs:
                    raise ApiError(404, "the server could not find the requested resource", "NotFound")
                gv = {"groupVersion": f"{group}/{vs[0]}", "version": vs[0]}
                self._send(200, {"kind": "APIGroup", "apiVersion": "v1", "name": group,
                                 "versions": [gv], "preferredVersion": gv})
                return
            version, rest = segs[2], segs[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        gv_res = _BY_GV.get((group, version))
        if gv_res is None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if not rest:
            self._send(200, {"kind": "APIResourceList", "apiVersion": "v1",
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
            body = self._json_body()
            name = (body.get("metadata") or {}).get("name", "")
            srv.request_counts[("POST", "pods/binding")] += 1
            self._send(201, srv._bind(ns, name, body))
            return
        res = gv_res.get(plural)
        if res is None or (res.namespaced and ns is None and len(rest) > 1) or \
                (not res.namespaced and ns is not None):
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        srv._check_crd(res)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (sub is not None and sub not in res.subresources):
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        nskey = (ns or "") if res.namespaced else ""
        srv.request_counts[(method, res.plural + (f"/{sub}" if sub else ""))] += 1

        if name is None:
            if method == "GET":
                if watch_path or q.get("watch") in ("1", "true", "True"):
                    self._watch(res, ns, q)
                else:
                    self._list(res, ns, q)
                return
            if method == "POST":
                if res.namespaced and ns is None:
                    raise ApiError(404, "the server could not find the requested resource", "NotFound")
                body = self._json_body()
                bns = (body.get("metadata") or {}).get("namespace")
                if res.namespaced and bns and bns != ns:
                    raise ApiError(400, "the namespace of the provided object does not match the "
                                        "namespace sent on the request")
                if body.get("kind") and body["kind"] != res.kind:
                    raise ApiError(400, f"the kind of the provided object ({body['kind']}) does not "
                                        f"match the resource ({res.kind})")
                self._send(201, srv._create(res, nskey, body))
                return
            if method == "DELETE":   # deletecollection
                labels, fields = self._selectors(q)
                opts = self._json_body(required=False)
                if "gracePeriodSeconds" in q:
                    opts.setdefault("gracePeriodSeconds", int(q["gracePeriodSeconds"]))
                w = _Watcher(res, ns, labels, fields)
                with srv._lock:
                    keys = [k for k, o in srv._objs[res.rid].items() if w.matches(o)]
                    items = [srv._delete(res, k[0], k[1], opts)[0] for k in keys]
                self._send(200, {"kind": res.list_kind, "apiVersion": res.api_version,
                                 "metadata": {"resourceVersion": str(srv._rv)}, "items": items})
                return
            raise ApiError(405, f"{method} is not supported on a collection", "MethodNotAllowed")

        if sub == "binding":
            if method != "POST":
                raise ApiError(405, "only POST is supported on pods/binding", "MethodNotAllowed")
            body = self._json_body()
            self._send(201, srv._bind(nskey, name, body))
            return
        if sub == "eviction":
            if method != "POST":
                raise ApiError(405, "only POST is supported on pods/eviction", "MethodNotAllowed")
            body = self._json_body()
            self._send(201, srv._evict(nskey, name, body))
            return
        mode = "status" if sub == "status" else "main"
        if method == "GET":
            with srv._lock:
                self._send(200, srv._get_obj(res, nskey, name))
            return
        if method == "PUT":
            body = self._json_body()
            self._send(200, srv._update(res, nskey, name, body, mode))
            return
        if method == "PATCH":
            body = self._json_body()
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype == "application/json-patch+json":
                if not isinstance(body, list):
                    raise ApiError(400, "json patch must be a list of operations")
                fn: Callable[[JSON], JSON] = lambda cur: json_patch(cur, body)  # noqa: E731
            elif ctype == "application/merge-patch+json":
                fn = lambda cur: merge_patch(cur, body)  # noqa: E731
            elif ctype in ("application/strategic-merge-patch+json", ""):
                if res.group == PODGROUP_GROUP:
                    raise ApiError(415, "strategic merge patch is not supported for custom resources",
                                   "UnsupportedMediaType")
                fn = lambda cur: strategic_merge_patch(cur, body)  # noqa: E731
            elif ctype == "application/apply-patch+yaml":
                raise ApiError(415, "server-side apply is not supported by the fake apiserver",
                               "UnsupportedMediaType")
            else:
                raise ApiError(415, f"the body of the request was in an unknown format ({ctype}) - "
                                    f"accepted media types include: application/json-patch+json, "
                                    f"application/merge-patch+json, "
                                    f"application/strategic-merge-patch+json", "UnsupportedMediaType")
            if not isinstance(body, (dict, list)):
                raise ApiError(400, "patch body must be a JSON object")
            self._send(200, srv._update(res, nskey, name, {}, mode, patch=fn))
            return
        if method == "DELETE":
            opts = self._json_body(required=False)
            if "gracePeriodSeconds" in q:
                opts.setdefault("gracePeriodSeconds", int(q["gracePeriodSeconds"]))
            obj, _ = srv._delete(res, nskey, name, opts)
            if res.rid == "pods":
                self._send(200, obj)
            else:
                st = status_object(200, "")
                st["details"] = {"name": name, "group": res.group, "kind": res.plural,
                                 "uid": obj["metadata"].get("uid")}
                self._send(200, st)
            return
        raise ApiError(405, f"{method} is not supported", "MethodNotAllowed")

    def _client_gone(self) -> bool:
        """True when the client closed its end of an idle watch connection."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if r:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True
        return False

    def _selectors(self, q: Dict[str, str]) -> Tuple[List[LabelReq], List[FieldReq]]:
        try:
            labels = parse_label_selector(q.get("labelSelector", ""))
            fields = parse_field_selector(q.get("fieldSelector", ""))
        except ValueError as e:
            raise ApiError(400, f"unable to parse requirement: {e}")
        return labels, fields

    def _list(self, res: Resource, ns: Optional[str], q: Dict[str, str]) -> None:
        srv = self.server_ref
        labels, fields = self._selectors(q)
        w = _Watcher(res, ns, labels, fields)
        limit = int(q.get("limit") or 0)
        cont = q.get("continue") or ""
        after: Optional[Tuple[str, str]] = None
        last: Optional[Tuple[str, str]] = None
        list_rv: Optional[int] = None
        if cont:
            try:
                tok = json.loads(base64.urlsafe_b64decode(cont.encode()))
                after, list_rv = (tok["ns"], tok["name"]), int(tok["rv"])
            except Exception:
                raise ApiError(400, "continue key is not valid")
        with srv._lock:
            rv = srv._rv if list_rv is None else list_rv
            store = srv._objs[res.rid]
            if limit or after:
                keys = sorted(k for k in store if after is None or k > after)
                items: List[JSON] = []
                more = None
                for k in keys:
                    o = store[k]
                    if w.matches(o):
                        if limit and len(items) >= limit:
                            more = last
                            break
                        items.append(o)
                        last = k
            else:
                items = [o for o in store.values() if w.matches(o)]
                more = None
            meta: JSON = {"resourceVersion": str(rv)}
            if more is not None:
                meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                    {"ns": more[0], "name": more[1], "rv": rv}).encode()).decode()
            data = json.dumps({"kind": res.list_kind, "apiVersion": res.api_version,
                               "metadata": meta, "items": items},
                              separators=(",", ":")).encode()
        self._send(200, data)

    def _watch(self, res: Resource, ns: Optional[str], q: Dict[str, str]) -> None:
        srv = self.server_ref
        labels, fields = self._selectors(q)
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true", "True")
        initial = q.get("sendInitialEvents") in ("1", "true", "True")
        timeout = float(q.get("timeoutSeconds") or srv.default_watch_timeout)
        w, first, err, _ = srv._register_watch(res, ns, labels, fields,
                                               q.get("resourceVersion", ""), initial, http=True)
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n"
                f"Date: {self.date_time_string()}\r\n\r\n").encode()
        out = self.wfile

        def chunk(data: bytes) -> None:
            out.write(b"%x\r\n%s\r\n" % (len(data), data))

        def bookmark(rv: int, annotations: Optional[JSON] = None) -> bytes:
            md: JSON = {"resourceVersion": str(rv)}
            if annotations:
                md["annotations"] = annotations
            return json.dumps({"type": "BOOKMARK", "object": {
                "kind": res.kind, "apiVersion": res.api_version, "metadata": md}},
                separators=(",", ":")).encode() + b"\n"

        try:
            out.write(head)
            if err is not None:
                srv._unregister_watch(w)
                chunk(json.dumps({"type": "ERROR", "object": err}, separators=(",", ":")).encode() + b"\n")
                out.write(b"0\r\n\r\n")
                return
            if first:
                chunk(b"".join(first))
            if initial and bookmarks:
                with srv._lock:
                    rv0 = srv._rv
                chunk(bookmark(rv0, {"k8s.io/initial-events-end": "true"}))
            deadline = time.monotonic() + timeout
            next_bm = time.monotonic() + srv.bookmark_interval
            while True:
                nowm = time.monotonic()
                if nowm >= deadline:
                    break
                wait = min(deadline - nowm, 1.0)
                if bookmarks:
                    wait = min(wait, max(0.0, next_bm - nowm))
                try:
                    item = w.q.get(timeout=wait)
                except queue.Empty:
                    if self._client_gone():
                        self.close_connection = True
                        return
                    if bookmarks and time.monotonic() >= next_bm:
                        with srv._lock:
                            rv = srv._rv
                            empty = w.q.empty()
                        if empty:
                            chunk(bookmark(rv))
                        next_bm = time.monotonic() + srv.bookmark_interval
                    continue
                if item is _STOP:
                    self.close_connection = True
                    return
                if item is _DROP:
                    break
                lines = []
                ln = w.translate(item)
                if ln is not None:
                    lines.append(ln)
                # batch whatever else is queued into one chunk
                while len(lines) < 256:
                    try:
                        item = w.q.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP or item is _DROP:
                        w.q.put(item)
                        break
                    ln = w.translate(item)
                    if ln is not None:
                        lines.append(ln)
                if lines:
                    chunk(b"".join(lines))
            out.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            srv._unregister_watch(w)


# --------------------------------------------------------------------------- CLI

def make_node(name: str, cpu: str = "32", memory: str = "128Gi", pods: str = "110",
              labels: Optional[Dict[str, str]] = None) -> JSON:
    """A Ready node object with the given allocatable resources."""
    ts = now_rfc3339()
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                              "kubernetes.io/os": "linux", **(labels or {})}},
        "spec": {},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "lastHeartbeatTime": ts, "lastTransitionTime": ts}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                          {"type": "Hostname", "address": name}],
        },
    }


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scheduler.testing.apiserver",
                                 description="Run the stand-in kube-apiserver until SIGTERM.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--kubeconfig-out", default=None, help="write a kubeconfig here")
    ap.add_argument("--node-agent", action="store_true", help="run a NodeAgent (kubelet stand-in)")
    ap.add_argument("--agent-start-delay", type=float, default=0.0)
    ap.add_argument("--nodes", type=int, default=0, help="create N Ready nodes node-0..node-N-1")
    ap.add_argument("--node-cpu", default="32")
    ap.add_argument("--node-memory", default="128Gi")
    ap.add_argument("--node-pods", default="110")
    ap.add_argument("--no-podgroup-crd", action="store_true")
    ap.add_argument("--bookmark-interval", type=float, default=2.0)
    args = ap.parse_args(argv)

    srv = FakeApiServer(args.host, args.port, bookmark_interval=args.bookmark_interval)
    srv.podgroup_crd_installed = not args.no_podgroup_crd
    for i in range(args.nodes):
        srv.create(make_node(f"node-{i}", args.node_cpu, args.node_memory, args.node_pods))
    srv.start()
    agent = None
    if args.node_agent:
        from scheduler.testing.nodeagent import NodeAgent
        agent = NodeAgent(srv, start_delay=args.agent_start_delay)
        agent.start()
    if args.kubeconfig_out:
        srv.write_kubeconfig(args.kubeconfig_out)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(srv.url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if agent is not None:
            agent.stop()
        srv.stop()
    return 0


if __name__ == "__main__":
    # run the canonical module's main so NodeAgent and the server share one copy
    from scheduler.testing.apiserver import main as _main
    sys.exit(_main())
