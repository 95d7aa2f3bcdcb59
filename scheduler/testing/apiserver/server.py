"""``FakeApiServer``: the one object tests hold: lifecycle, the Python API, and what to assert on.

It wires the parts together (store, registry, binder, budgets, faults, HTTP)
and is the only public way in: the NodeAgent and test monitors use the
methods here, never the parts, so the parts can change freely.
"""
from __future__ import annotations

import collections
import contextlib
import json
import ssl
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

from scheduler.testing.apiserver import eviction
from scheduler.testing.apiserver.binding import Binder
from scheduler.testing.apiserver.errors import ApiError
from scheduler.testing.apiserver.faults import Faults
from scheduler.testing.apiserver.objects import JSON, clone
from scheduler.testing.apiserver.registry import Registry
from scheduler.testing.apiserver.resources import PODS, Resource, resolve_kind
from scheduler.testing.apiserver.routing import Backend
from scheduler.testing.apiserver.serving import HttpFrontend
from scheduler.testing.apiserver.store import LocalWatch, Store


class FakeApiServer:
    """In-memory kube-apiserver stand-in. See :mod:`scheduler.testing.apiserver`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, history_size: int = 100_000,
                 bookmark_interval: float = 2.0, default_watch_timeout: float = 1800.0,
                 tls: Optional[ssl.SSLContext] = None) -> None:
        self.host, self._port = host, port
        self.tls = tls   # serve HTTPS with this server-side context (it may also demand client certificates)
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self._store = Store(history_size)
        self._registry = Registry(self._store)
        self._binder = Binder(self._store)
        eviction.track_budgets(self._store)
        self.faults = Faults(self._store)
        self._backend = Backend(self._store, self._registry, self._binder, self.faults,
                                collections.Counter(), self)
        self._http = HttpFrontend(self._backend)
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
    def start(self) -> FakeApiServer:
        """Serve HTTP on ``self.port``. After ``stop()`` this starts a new instance on
        the same port over the same store, with no watch history (see ``restart``)."""
        if self._http.serving:
            raise RuntimeError("FakeApiServer is already running")
        if self._started:
            self._store.forget_history()
        self._port = self._http.start(self.host, self._port, self.tls)
        self._started = True
        return self

    def stop(self) -> None:
        """Stop serving HTTP and drop every connection (watch streams included), so
        clients notice at once. The store, the resourceVersion counter, ``bindings``,
        ``request_counts`` and ``faults`` are kept: ``start()`` serves them again."""
        self._http.stop()

    def restart(self, down_for: float = 0.0) -> FakeApiServer:
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
        return self._http.serving

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self._port}"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (a client that reuses its connections keeps this low)."""
        return self._http.accepted

    @property
    def connections_open(self) -> int:
        """Client connections open now (watch streams included)."""
        with self._http.conns_lock:
            return len(self._http.conns)

    def write_kubeconfig(self, path: str, namespace: str = "default", cluster: Optional[Dict[str, Any]] = None,
                         user: Optional[Dict[str, Any]] = None) -> str:
        """Write a kubeconfig for the real client (cluster+user+context 'fake'); ``cluster`` adds to the
        cluster entry (e.g. certificate-authority-data), ``user`` replaces the token user (e.g. a client
        certificate)."""
        cfg = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "fake", "cluster": {"server": self.url, **(cluster or {})}}],
            "users": [{"name": "fake", "user": user or {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                                      "namespace": namespace}}],
            "current-context": "fake",
        }
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)   # JSON is valid YAML
        return path

    # ------------------------------------------------------------------ settings and records
    @property
    def podgroup_crd_installed(self) -> bool:
        """False: podgroups answer 404 everywhere and vanish from discovery."""
        return self._store.podgroup_crd_installed

    @podgroup_crd_installed.setter
    def podgroup_crd_installed(self, value: bool) -> None:
        self._store.podgroup_crd_installed = value

    @property
    def bindings(self) -> List[JSON]:
        """Every successful binding, in order: {"pod": "ns/name", "uid", "node", "resourceVersion", "time"}."""
        return self._binder.bindings

    @bindings.setter
    def bindings(self, value: List[JSON]) -> None:
        self._binder.bindings = value

    @property
    def request_counts(self) -> collections.Counter[Any]:
        """Counter{(METHOD, "pods/binding"): n, ...} of HTTP requests (approximate)."""
        return self._backend.request_counts

    @request_counts.setter
    def request_counts(self, value: collections.Counter[Any]) -> None:
        self._backend.request_counts = value

    def bindings_count(self, pod_key: str) -> int:
        """How many successful bindings pod "namespace/name" has received."""
        with self._store.lock:
            return self._binder.counts.get(pod_key, 0)

    def bound_pods(self) -> List[str]:
        with self._store.lock:
            return list(self._binder.counts)

    @property
    def resource_version(self) -> int:
        return self._store.rv

    def watcher_count(self, kind: Optional[str] = None) -> int:
        return self._store.watcher_count(None if kind is None else resolve_kind(kind))

    # ------------------------------------------------------------------ python API
    def _res_for(self, kind: str, api_version: Optional[str] = None) -> Resource:
        rs = resolve_kind(kind, api_version)
        if not rs:
            raise KeyError(f"unsupported kind {kind!r}")
        return rs[0]

    @staticmethod
    def _ns(res: Resource, namespace: Optional[str]) -> str:
        return (namespace or "default") if res.namespaced else ""

    def create(self, obj: JSON) -> JSON:
        """Store a new object (kind/apiVersion in obj); returns a copy of the stored one."""
        res = self._res_for(obj["kind"], obj.get("apiVersion"))
        ns = (obj.get("metadata") or {}).get("namespace") or ("default" if res.namespaced else "")
        return clone(self._registry.create(res, ns, clone(obj)))

    def get(self, kind: str, namespace: Optional[str], name: str) -> Optional[JSON]:
        """kind: "Pod", "pods" or "events.k8s.io/events"; namespace ignored for cluster kinds."""
        with self._store.lock:
            for res in resolve_kind(kind):
                o = self._store.objects[res.rid].get((self._ns(res, namespace), name))
                if o is not None:
                    return clone(o)
            if not resolve_kind(kind):
                raise KeyError(f"unsupported kind {kind!r}")
            return None

    def list(self, kind: str, namespace: Optional[str] = None) -> List[JSON]:
        out: List[JSON] = []
        with self._store.lock:
            for res in resolve_kind(kind):
                for (ns, _), o in self._store.objects[res.rid].items():
                    if namespace is None or ns == namespace:
                        out.append(o)
            return clone(out)

    def update(self, obj: JSON) -> JSON:
        """Replace an object wholesale (no status/spec split, no RV precondition
        unless metadata.resourceVersion is set)."""
        res = self._res_for(obj["kind"], obj.get("apiVersion"))
        md = obj.get("metadata") or {}
        ns = md.get("namespace") or ("default" if res.namespaced else "")
        return clone(self._registry.update(res, ns, md["name"], clone(obj), mode="all"))

    def modify(self, kind: str, namespace: Optional[str], name: str,
               change: Callable[[JSON], Optional[JSON]]) -> Optional[JSON]:
        """Read-modify-write one object with no other write in between (as a kubelet's status
        update). ``change`` gets a copy of the stored object and returns the object to store
        wholesale, as ``update`` would, or None to leave it unchanged. Returns a copy of the
        object as stored afterwards, or None when there is no such object."""
        res = self._res_for(kind)

        def patch(cur: JSON) -> JSON:
            new = change(cur)
            return cur if new is None else new   # an unchanged object is not written

        try:
            return clone(self._registry.update(res, self._ns(res, namespace), name, {}, "all", patch))
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def delete(self, kind: str, namespace: Optional[str], name: str,
               grace_period_seconds: Optional[int] = None, uid: Optional[str] = None) -> Optional[JSON]:
        """Delete as the API would (a bound pod with a grace period is only marked for deletion).
        ``uid``: only if the object still has this uid, else ApiError 409. None when absent."""
        res = self._res_for(kind)
        opts: JSON = {} if grace_period_seconds is None else {"gracePeriodSeconds": grace_period_seconds}
        if uid is not None:
            opts["preconditions"] = {"uid": uid}
        try:
            return clone(self._registry.delete(res, self._ns(res, namespace), name, opts)[0])
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def bind(self, namespace: Optional[str], name: str, node: str) -> JSON:
        """Bind a pod to ``node`` as POST pods/binding would (recorded in ``bindings``); raises
        ApiError 409 when already bound, being deleted or gated, 404 when absent."""
        return self._binder.bind(self._ns(PODS, namespace), name, {"target": {"name": node}})

    def events(self) -> List[JSON]:
        """All Events, events.k8s.io/v1 and core v1."""
        return self.list("Event")

    # ------------------------------------------------------------------ in-process watching
    def open_watch(self, kind: str) -> LocalWatch:
        """Every object of ``kind`` now (``.objects``) and every change after it (``.get()``),
        with no gap; works while HTTP is stopped. ``close()`` it when done."""
        return self._store.watch_local(self._res_for(kind))

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Hold back every write (HTTP and Python API) until the block ends, so that the reads and
        ``open_watch`` calls inside it all see one resourceVersion."""
        with self._store.lock:
            yield
