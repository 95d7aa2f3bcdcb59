"""A kubelet stand-in for :class:`scheduler.testing.FakeApiServer`.

``NodeAgent(srv, start_delay=0.0)`` watches the server's pods in-process and
does what the kubelets of a real cluster would do:

* a pod that is bound (``spec.nodeName`` set), not being deleted and still
  ``Pending`` is marked ``Running`` ``start_delay`` seconds after it was bound:
  ``status.phase``, ``startTime``, ``hostIP``/``podIP``, ``containerStatuses``
  and the ``Initialized``/``ContainersReady``/``Ready`` conditions;
* a pod that is being deleted gracefully (``metadata.deletionTimestamp``) is
  removed for good ``deletionGracePeriodSeconds`` after the agent saw the
  deletion (``termination_delay`` overrides the grace period when given).

Usage::

    agent = NodeAgent(srv, start_delay=0.0); agent.start()
    ...
    agent.stop()
"""
from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from scheduler.testing.apiserver import (_BY_RID, _STOP, FakeApiServer, _clone, now_rfc3339)

__all__ = ["NodeAgent"]

JSON = Dict[str, Any]


class NodeAgent:
    """Marks bound pods Running and completes graceful deletions, like kubelets."""

    def __init__(self, srv: FakeApiServer, start_delay: float = 0.0,
                 termination_delay: Optional[float] = None) -> None:
        self.srv = srv
        self.start_delay = float(start_delay)
        self.termination_delay = termination_delay
        self._thread: Optional[threading.Thread] = None
        self._watcher: Any = None
        self._timers: List[Tuple[float, int, str, str, str, str]] = []
        self._seq = itertools.count()
        self._scheduled: Dict[Tuple[str, str], str] = {}   # (action, uid) -> pod key marker
        self._stopping = False
        self._ips = itertools.count(2)

    def start(self) -> "NodeAgent":
        res = _BY_RID["pods"]
        with self.srv._lock:   # list + watch from the same resourceVersion, no gap
            pods = list(self.srv._objs["pods"].values())
            self._watcher, _, _, _ = self.srv._register_watch(
                res, None, [], [], str(self.srv.resource_version), False)
        for p in pods:
            self._observe(p)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="fake-node-agent", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._watcher is not None:
            self._watcher.q.put(_STOP)
            self.srv._unregister_watch(self._watcher)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "NodeAgent":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------
    def _observe(self, pod: JSON) -> None:
        md = pod["metadata"]
        uid = md.get("uid", "")
        key = (md.get("namespace", ""), md.get("name", ""))
        if md.get("deletionTimestamp"):
            if ("delete", uid) not in self._scheduled:
                grace = md.get("deletionGracePeriodSeconds", 0) or 0
                if self.termination_delay is not None:
                    grace = min(grace, self.termination_delay)
                self._schedule(time.monotonic() + grace, "delete", key, uid)
            return
        if (pod.get("spec") or {}).get("nodeName") and \
                (pod.get("status") or {}).get("phase", "Pending") == "Pending":
            if ("run", uid) not in self._scheduled:
                self._schedule(time.monotonic() + self.start_delay, "run", key, uid)

    def _schedule(self, due: float, action: str, key: Tuple[str, str], uid: str) -> None:
        self._scheduled[(action, uid)] = key[0]
        heapq.heappush(self._timers, (due, next(self._seq), action, key[0], key[1], uid))

    def _run(self) -> None:
        w = self._watcher
        while not self._stopping:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            try:
                item = w.q.get(timeout=timeout if timeout is not None else 0.5)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if item is not None and hasattr(item, "obj"):
                if item.type == "DELETED":
                    uid = item.obj["metadata"].get("uid", "")
                    self._scheduled.pop(("run", uid), None)
                else:
                    self._observe(item.obj)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, action, ns, name, uid = heapq.heappop(self._timers)
                self._scheduled.pop((action, uid), None)
                try:
                    if action == "run":
                        self._mark_running(ns, name, uid)
                    else:
                        self._finish_delete(ns, name, uid)
                except Exception:  # noqa: BLE001 - the agent must keep going
                    pass

    def _mark_running(self, ns: str, name: str, uid: str) -> None:
        srv = self.srv
        with srv._lock:
            pod = srv._objs["pods"].get((ns, name))
            if pod is None or pod["metadata"].get("uid") != uid or pod["metadata"].get("deletionTimestamp"):
                return
            if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
                return
            node_name = pod["spec"].get("nodeName")
            node = srv._objs["nodes"].get(("", node_name))
            host_ip = "10.0.0.1"
            for a in ((node or {}).get("status") or {}).get("addresses") or []:
                if a.get("type") == "InternalIP":
                    host_ip = a.get("address", host_ip)
                    break
            n = next(self._ips)
            ts = now_rfc3339()
            new = _clone(pod)
            st = new.setdefault("status", {})
            st["phase"] = "Running"
            st["hostIP"] = host_ip
            st["hostIPs"] = [{"ip": host_ip}]
            st["podIP"] = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
            st["podIPs"] = [{"ip": st["podIP"]}]
            st["startTime"] = ts
            conds = [c for c in st.get("conditions") or []
                     if c.get("type") not in ("Initialized", "Ready", "ContainersReady")]
            for t in ("Initialized", "ContainersReady", "Ready"):
                conds.append({"type": t, "status": "True", "lastProbeTime": None,
                              "lastTransitionTime": ts})
            st["conditions"] = conds
            st["containerStatuses"] = [
                {"name": c.get("name", f"c{i}"), "image": c.get("image", ""), "imageID": "",
                 "ready": True, "started": True, "restartCount": 0,
                 "state": {"running": {"startedAt": ts}}}
                for i, c in enumerate(new["spec"].get("containers") or [])]
            srv._store(_BY_RID["pods"], ns, name, new, "MODIFIED", pod)

    def _finish_delete(self, ns: str, name: str, uid: str) -> None:
        srv = self.srv
        with srv._lock:
            pod = srv._objs["pods"].get((ns, name))
            if pod is None or pod["metadata"].get("uid") != uid:
                return
            srv._delete(_BY_RID["pods"], ns, name, {"gracePeriodSeconds": 0})
