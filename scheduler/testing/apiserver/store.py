"""The object store: objects, the global resourceVersion, the watch history and watch fan-out.

Everything that must survive a ``restart()`` lives here (objects and the RV
counter); the watch history deliberately does not, so that clients resuming an
old watch get 410 Expired and relist, as after a real kube-apiserver restart.
Writes go through :meth:`Store.put` only, so every change reaches the history,
every matching watcher and the listeners (PodDisruptionBudget bookkeeping) in
one order.
"""
from __future__ import annotations

import collections
import json
import queue
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from scheduler.testing.apiserver.errors import ApiError, no_such_resource, not_found, status_object
from scheduler.testing.apiserver.objects import JSON
from scheduler.testing.apiserver.resources import PODGROUP_GROUP, RESOURCES, Resource
from scheduler.testing.apiserver.selectors import FieldReq, LabelReq, fields_match, labels_match

Key = Tuple[str, str]   # (namespace or "", name)


class WatchEvent:
    """One change: ``type`` is ADDED, MODIFIED or DELETED; ``obj`` and ``old`` are the stored
    dicts (shared with the store: read them, never modify them)."""

    __slots__ = ("rv", "rid", "type", "obj", "old", "_line")

    def __init__(self, rv: int, rid: str, type_: str, obj: JSON, old: Optional[JSON]) -> None:
        self.rv, self.rid, self.type, self.obj, self.old = rv, rid, type_, obj, old
        self._line: Optional[bytes] = None

    def line(self) -> bytes:
        """The event as one line of a watch stream (encoded once, shared by every watcher)."""
        if self._line is None:
            self._line = json.dumps({"type": self.type, "object": self.obj},
                                    separators=(",", ":")).encode() + b"\n"
        return self._line


STOP = object()   # queued to end a watch: the server stops, or a local watch is closed
DROP = object()   # queued by faults.drop_watches(): end the HTTP stream cleanly


class Watcher:
    """A registered watch: a filter plus the queue the store fans events out to."""

    def __init__(self, res: Resource, namespace: Optional[str],
                 labels: List[LabelReq], fields: List[FieldReq], http: bool = False) -> None:
        self.res, self.namespace, self.labels, self.fields = res, namespace, labels, fields
        self.http = http   # an HTTP watch stream (ends on stop); else in-process (NodeAgent)
        self.q: queue.SimpleQueue[Any] = queue.SimpleQueue()

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

    def translate(self, ev: WatchEvent) -> Optional[bytes]:
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

    def __init__(self, store: Store, watcher: Watcher, objects: List[JSON], rv: int) -> None:
        self.objects = objects            # the stored dicts: read-only
        self.resource_version = rv
        self.closed = False
        self._store, self._w = store, watcher

    def get(self, timeout: Optional[float] = None) -> Optional[WatchEvent]:
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
            if isinstance(item, WatchEvent):
                return item
            if item is STOP:
                return None
            # DROP ends HTTP streams only: carry on waiting

    def empty(self) -> bool:
        """True when every event so far has been taken."""
        return self._w.q.empty()

    def close(self) -> None:
        self.closed = True
        self._w.q.put(STOP)   # wakes a thread blocked in get()
        self._store.unregister_watch(self._w)


class Store:
    """Objects by resource, the resourceVersion counter, watch history and watchers.

    ``lock`` (re-entrant) guards all of it; hold it to read several objects consistently."""

    def __init__(self, history_size: int = 100_000) -> None:
        self.lock = threading.RLock()
        self.rv = 0
        self.objects: Dict[str, Dict[Key, JSON]] = {r.rid: {} for r in RESOURCES}
        self.podgroup_crd_installed = True
        # called under the lock after each write, e.g. to keep PDB status current
        self.listeners: List[Callable[[Resource, WatchEvent], None]] = []
        self._history: Deque[WatchEvent] = collections.deque(maxlen=history_size)
        self._history_floor = 0               # a watch may resume from any RV >= this
        self._watchers: Dict[str, Set[Watcher]] = {r.rid: set() for r in RESOURCES}

    # ------------------------------------------------------------------ objects
    def check_served(self, res: Resource) -> None:
        """404 for podgroups while the PodGroup CRD is not installed."""
        if res.group == PODGROUP_GROUP and not self.podgroup_crd_installed:
            raise no_such_resource()

    def get(self, res: Resource, ns: str, name: str) -> JSON:
        """The stored object (not a copy); 404 when absent."""
        self.check_served(res)
        o = self.objects[res.rid].get((ns, name))
        if o is None:
            raise not_found(res, name)
        return o

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, res: Resource, ns: str, name: str, obj: JSON, type_: str,
            old: Optional[JSON]) -> JSON:
        """Store (or, for DELETED, drop) ``obj`` at a new resourceVersion and tell the watchers."""
        with self.lock:
            rv = self.next_rv()
            obj["metadata"]["resourceVersion"] = str(rv)
            if type_ == "DELETED":
                self.objects[res.rid].pop((ns, name), None)
            else:
                self.objects[res.rid][(ns, name)] = obj
            ev = WatchEvent(self.rv, res.rid, type_, obj, old)
            h = self._history
            if h.maxlen is not None and len(h) == h.maxlen:
                self._history_floor = max(self._history_floor, h[0].rv)
            h.append(ev)
            for w in self._watchers[res.rid]:
                w.q.put(ev)
            for listener in self.listeners:
                listener(res, ev)
            return obj

    # ------------------------------------------------------------------ watches
    def register_watch(self, res: Resource, ns: Optional[str], labels: List[LabelReq],
                       fields: List[FieldReq], rv: str, initial: bool, http: bool = False
                       ) -> Tuple[Watcher, List[bytes], Optional[JSON], int]:
        """Returns (watcher, lines to send first, error status or None, start rv)."""
        w = Watcher(res, ns, labels, fields, http)
        first: List[bytes] = []
        with self.lock:
            self.check_served(res)
            if rv in ("", "0") or initial:
                for o in self.objects[res.rid].values():
                    if w.matches(o):
                        first.append(json.dumps({"type": "ADDED", "object": o},
                                                separators=(",", ":")).encode() + b"\n")
                start = self.rv
            else:
                try:
                    start = int(rv)
                except ValueError:
                    raise ApiError(400, f'invalid resource version "{rv}"') from None
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

    def watch_local(self, res: Resource) -> LocalWatch:
        """Snapshot every object of ``res`` and watch from that very resourceVersion."""
        with self.lock:
            objects = list(self.objects[res.rid].values())
            w, _, _, start = self.register_watch(res, None, [], [], str(self.rv), False)
        return LocalWatch(self, w, objects, start)

    def unregister_watch(self, w: Watcher) -> None:
        with self.lock:
            self._watchers[w.res.rid].discard(w)

    def watcher_count(self, resources: Optional[List[Resource]] = None) -> int:
        with self.lock:
            if resources is None:
                return sum(len(s) for s in self._watchers.values())
            return sum(len(self._watchers[r.rid]) for r in resources)

    def drop_watches(self) -> int:
        """Queue DROP to every watcher; returns how many there were."""
        with self.lock:
            n = 0
            for ws in self._watchers.values():
                for w in ws:
                    w.q.put(DROP)
                    n += 1
            return n

    def end_http_watches(self) -> None:
        """End HTTP watch streams; in-process watchers (the NodeAgent) live on. They are
        unregistered here, not when their threads get round to it, so ``watcher_count``
        is right as soon as ``stop()`` returns."""
        with self.lock:
            for ws in self._watchers.values():
                for w in [w for w in ws if w.http]:
                    w.q.put(STOP)
                    ws.discard(w)

    def expire_history(self) -> None:
        with self.lock:
            self._history.clear()
            self._history_floor = self.rv

    def forget_history(self) -> None:
        """What a restart does: no watch history. The RV is bumped once so that every RV a
        client saw before the restart, even the latest, is too old (410), while one from a
        fresh list is not."""
        with self.lock:
            self.next_rv()
            self.expire_history()
