"""Events as kube-scheduler posts them (events.k8s.io/v1), with repeats folded into a series.

An identical event (same pod, reason and note) seen again within the
series window is not posted anew: its count grows and the existing Event is
patched at most once per `patch_interval`, so a pod that stays unschedulable
does not flood the API.  Like kube's event broadcaster, `record` only queues:
a worker thread of its own posts them, so binds never wait on Events, and a
full queue drops the newest (counted in `dropped`) rather than block.
"""
from __future__ import annotations

import logging
import queue
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

from scheduler.core.effects import PodRef
from scheduler.k8s.api import ApiError, KubeApi
from scheduler.logs import RepeatedFailures

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"


def micro_time(epoch: Optional[float] = None) -> str:
    """MicroTime: RFC 3339 with exactly six fractional digits, as the API server requires."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Series:
    name: str
    namespace: str
    count: int
    first: float
    last_patch: float


class EventRecorder:
    def __init__(self, api: KubeApi, controller: str, series_window: float = 300.0, patch_interval: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, queue_size: int = 10000,
                 on_drop: Callable[[], None] = lambda: None, workers: int = 2) -> None:
        self.api = api
        self.controller = controller
        self.instance = f"{controller}-{socket.gethostname()}"
        self.series_window = series_window
        self.patch_interval = patch_interval
        self.clock = clock
        self._series: Dict[Tuple[str, str, str], _Series] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Optional[Tuple[PodRef, str, str, str, str]]] = queue.Queue(maxsize=queue_size)
        self.dropped = 0  # events not posted because the queue was full
        self.on_drop = on_drop
        self.worker_count = max(1, workers)
        self._workers: List[threading.Thread] = []
        self._idle = threading.Condition()
        self._pending = 0
        self._closed = False
        self.failures = RepeatedFailures(log)

    def body(self, pod: PodRef, event_type: str, reason: str, action: str, note: str) -> Dict[str, Any]:
        return {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{pod.name}.{uuid.uuid4().hex[:16]}", "namespace": pod.namespace},
            "eventTime": micro_time(),
            "reportingController": self.controller,
            "reportingInstance": self.instance[:128],
            "action": action,
            "reason": reason,
            "note": note[:1024],
            "type": event_type,
            "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid},
        }

    def record(self, pod: PodRef, event_type: str, reason: str, action: str, note: str) -> None:
        """Queue the event for the recorder's worker (started on first use); never blocks."""
        with self._idle:
            if self._closed:
                return
            if not self._workers:
                self._workers = [threading.Thread(target=self._run, name=f"event-recorder-{i}", daemon=True)
                                 for i in range(self.worker_count)]
                for worker in self._workers:
                    worker.start()
            try:
                self._queue.put_nowait((pod, event_type, reason, action, note))
            except queue.Full:
                self.dropped += 1
                self.on_drop()
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("event queue full: %d event(s) dropped so far (the API is slow to take them)",
                                self.dropped)
                return
            self._pending += 1

    def flush(self, timeout: float) -> bool:
        """Wait (bounded) until every queued event was posted; True when none is left."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float) -> bool:
        """Post what is queued (bounded by `timeout`); what is still queued then is dropped, not posted
        after shutdown; the workers stop."""
        finished = self.flush(timeout)
        with self._idle:
            self._closed = True
        for _ in self._workers:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break  # the workers see `_closed` and drain the queue without posting
        return finished

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                if self._closed:
                    self.dropped += 1
                    continue
                self.post(*item)
            except Exception:  # noqa: BLE001 - the recorder must outlive any one event
                log.exception("posting an event failed")
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def post(self, pod: PodRef, event_type: str, reason: str, action: str, note: str) -> None:
        """Post (or fold into a series) now; API errors are logged, never raised: events are best effort.
        The series is claimed before the create call, so a repeat posted meanwhile by another worker folds."""
        key = (pod.uid or pod.key, reason, note)
        now = self.clock()
        with self._lock:
            known = self._series.get(key)
            creating = known is None or now - known.first >= self.series_window
            if known is None or creating:
                series = self._series[key] = _Series("", pod.namespace, 1, now, now)
                self._prune(now)
            else:
                series = known
                series.count += 1
                due = bool(series.name) and now - series.last_patch >= self.patch_interval
                if due:
                    series.last_patch = now
                count, name, namespace = series.count, series.name, series.namespace
        try:
            if creating:
                created = self.api.create_event(pod.namespace, self.body(pod, event_type, reason, action, note))
                with self._lock:
                    series.name = (created.get("metadata") or {}).get("name") or ""
            elif due:
                self.api.patch_event(namespace, name, {"series": {"count": count, "lastObservedTime": micro_time()}})
        except ApiError as exc:
            if creating:
                with self._lock:
                    if self._series.get(key) is series:
                        del self._series[key]  # not posted: the next one is created anew
            self.failures.failed("event", str(exc.status), "could not post %s event for %s: %s", reason, pod.key, exc)
            return
        self.failures.succeeded("event")

    def _prune(self, now: float) -> None:
        if len(self._series) > 10000:
            for key in [k for k, s in self._series.items() if now - s.first >= self.series_window]:
                del self._series[key]
