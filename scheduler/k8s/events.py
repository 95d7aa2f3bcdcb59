"""Events as kube-scheduler posts them (events.k8s.io/v1), with repeats folded into a series.

Like client-go's events broadcaster: an identical event (same pod, reason and
note) seen again while its series is alive (a repeat within `series_window` of
the last one) is not posted anew.  The Event is patched with the count when it
becomes a series (the second occurrence), then at most once per
`patch_interval`, and a last time when the series ends; so 10,000 pods that stay
unschedulable cost the API a write per pod per half hour, not one per retry.
`record` only queues: worker threads of its own post them, so binds never wait
on Events, and a full queue drops the newest (counted in `dropped`) rather
than block.
"""
from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from scheduler.core.effects import PodRef
from scheduler.k8s.api import ApiError, KubeApi
from scheduler.logs import RepeatedFailures

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"


def micro_time(epoch: Optional[float] = None) -> str:
    """MicroTime: RFC 3339 with exactly six fractional digits, as the API server requires."""
    seconds, micros = divmod(round((time.time() if epoch is None else epoch) * 1_000_000), 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


SERIES_WINDOW = 360.0
"""A repeat later than this after the last one starts a new Event (client-go's finishTime, 6 min)."""
PATCH_INTERVAL = 1800.0
"""A live series' count is written at most this often (client-go's refreshTime, 30 min)."""
SWEEP_EVERY = 30.0
"""How often ended and due series are looked for."""
MAX_SERIES = 50000
"""Series remembered at most (least recently seen forgotten first: a repeat then starts a new Event)."""


@dataclass
class _Series:
    name: str  # "" until the create call answered
    namespace: str
    count: int
    last_seen: float
    last_patch: float
    written: int  # the count the API shows
    observed_at: float = 0.0  # wall-clock time of the last occurrence (lastObservedTime)

    def patch(self, now: float) -> Tuple[str, str, Dict[str, Any]]:
        self.last_patch, self.written = now, self.count
        return self.namespace, self.name, {"series": {"count": self.count,
                                                      "lastObservedTime": micro_time(self.observed_at)}}


class EventRecorder:
    def __init__(self, api: KubeApi, controller: str, series_window: float = SERIES_WINDOW,
                 patch_interval: float = PATCH_INTERVAL, clock: Callable[[], float] = time.monotonic,
                 queue_size: int = 10000, on_drop: Callable[[], None] = lambda: None, workers: int = 2,
                 sweep_every: float = SWEEP_EVERY) -> None:
        self.api = api
        self.controller = controller
        self.instance = f"{controller}-{socket.gethostname()}"
        self.series_window = series_window
        self.patch_interval = patch_interval
        self.clock = clock
        self.sweep_every = sweep_every
        self._next_sweep = clock() + sweep_every
        self._series: OrderedDict[Tuple[str, str, str], _Series] = OrderedDict()
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
            "metadata": {"name": f"{pod.name}.{os.urandom(8).hex()}", "namespace": pod.namespace},
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
            try:
                item = self._queue.get(timeout=self.sweep_every)
            except queue.Empty:
                self._sweep()
                continue
            if item is None:
                return
            try:
                if self._closed:
                    self.dropped += 1
                    continue
                self.post(*item)
                self._sweep()
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
        patch = None
        with self._lock:
            series = self._series.get(key)
            creating = series is None or now - series.last_seen >= self.series_window
            if series is None or creating:
                series = self._series[key] = _Series("", pod.namespace, 1, now, now, 1)
                self._series.move_to_end(key)
                if len(self._series) > MAX_SERIES:
                    self._series.popitem(last=False)
            else:
                self._series.move_to_end(key)
                series.count += 1
                series.observed_at = time.time()
                series.last_seen = now
                if series.name and (series.written < 2 or now - series.last_patch >= self.patch_interval):
                    patch = series.patch(now)  # it just became a series, or its count is due
        try:
            if creating:
                body = self.body(pod, event_type, reason, action, note)
                self.api.create_event(pod.namespace, body)
                with self._lock:
                    series.name = body["metadata"]["name"]
            elif patch is not None:
                self.api.patch_event(*patch)
        except ApiError as exc:
            if creating or exc.status == 404:  # not posted, or gone (the API server's event TTL, 1 h by default)
                self._forget(key, series)  # the next repeat is created anew
            self.failures.failed("event", str(exc.status), "could not post %s event for %s: %s", reason, pod.key, exc)
            return
        self.failures.succeeded("event")

    def _forget(self, key: Tuple[str, str, str], series: _Series) -> None:
        with self._lock:
            if self._series.get(key) is series:
                del self._series[key]

    def _sweep(self) -> None:
        """At most every `sweep_every`: write the count of series that ended or are due, forget ended ones."""
        now = self.clock()
        patches = []
        with self._lock:
            if now < self._next_sweep or self._closed:
                return
            self._next_sweep = now + self.sweep_every
            for key, series in list(self._series.items()):
                ended = now - series.last_seen >= self.series_window
                unwritten = series.name and series.count > series.written
                if unwritten and (ended or now - series.last_patch >= self.patch_interval):
                    patches.append((key, series, series.patch(now)))
                if ended:
                    del self._series[key]
        for key, series, patch in patches:
            try:
                self.api.patch_event(*patch)
            except ApiError as exc:
                if exc.status == 404:
                    self._forget(key, series)  # expired: the next repeat is created anew
                self.failures.failed("event", str(exc.status), "could not update event %s/%s: %s", patch[0], patch[1], exc)
