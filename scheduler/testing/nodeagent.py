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
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from scheduler.testing.apiserver import ApiError, FakeApiServer, LocalWatch, now_rfc3339

__all__ = ["NodeAgent"]

JSON = Dict[str, Any]


class NodeAgent:
    """Marks bound pods Running and completes graceful deletions, like kubelets.

    Uses only the server's public Python API (``open_watch``, ``modify``, ``get``, ``delete``)."""

    def __init__(self, srv: FakeApiServer, start_delay: float = 0.0,
                 termination_delay: Optional[float] = None) -> None:
        self.srv = srv
        self.start_delay = float(start_delay)
        self.termination_delay = termination_delay
        self._thread: Optional[threading.Thread] = None
        self._watch: Optional[LocalWatch] = None
        self._timers: List[Tuple[float, int, str, str, str, str]] = []
        self._seq = itertools.count()
        self._scheduled: Dict[Tuple[str, str], str] = {}   # (action, uid) -> pod key marker
        self._stopping = False
        self._ips = itertools.count(2)

    def start(self) -> NodeAgent:
        self._watch = self.srv.open_watch("pods")   # the pods now + every change after, no gap
        for p in self._watch.objects:
            self._observe(p)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="fake-node-agent", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> NodeAgent:
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
        w = self._watch
        assert w is not None
        while not self._stopping:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            ev = w.get(timeout=timeout if timeout is not None else 0.5)
            if w.closed:
                return
            if ev is not None:
                if ev.type == "DELETED":
                    uid = ev.obj["metadata"].get("uid", "")
                    self._scheduled.pop(("run", uid), None)
                else:
                    self._observe(ev.obj)
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

        def run(pod: JSON) -> Optional[JSON]:
            if pod["metadata"].get("uid") != uid or pod["metadata"].get("deletionTimestamp"):
                return None
            if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
                return None
            node = srv.get("Node", None, pod["spec"].get("nodeName"))
            host_ip = "10.0.0.1"
            for a in ((node or {}).get("status") or {}).get("addresses") or []:
                if a.get("type") == "InternalIP":
                    host_ip = a.get("address", host_ip)
                    break
            n = next(self._ips)
            ts = now_rfc3339()
            st = pod.setdefault("status", {})
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
                for i, c in enumerate(pod["spec"].get("containers") or [])]
            return pod

        srv.modify("Pod", ns, name, run)   # under the store lock: no write slips in between

    def _finish_delete(self, ns: str, name: str, uid: str) -> None:
        try:
            self.srv.delete("Pod", ns, name, grace_period_seconds=0, uid=uid)
        except ApiError as e:
            if e.code != 409:   # 409: a new pod of the same name; not ours to remove
                raise
