"""Carries decisions out against the API on a bounded worker pool.

The scheduling loop never waits here: it assumes the pod and moves on.  Each
outcome comes back through `report` (into the daemon's inbox), so the
single-threaded loop updates its own state: a 409/404 on bind drops the
assumption (the API is right), a 5xx/429/connection error retries with
backoff.  Nothing is sent unless `may_act()` (leadership) holds at that
moment.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from scheduler.core.model import Pod
from scheduler.k8s.api import ApiError, KubeApi
from scheduler.k8s.events import NORMAL, WARNING, EventRecorder, micro_time
from scheduler.metrics.exporter import SchedulerMetrics

log = logging.getLogger(__name__)

# 404: the pod is gone. Anything else (409 already bound / being deleted, 422, 5xx, 429) drops the
# assumption and retries with backoff, like kube-scheduler; the watch removes the pod from the queue
# if it turns out to be bound or deleted.
PERMANENT_BIND_FAILURES = (404,)


@dataclass
class Outcome:
    """What happened to one API action, reported back to the scheduling loop."""

    kind: str  # "bind", "evict"
    pod: Pod
    ok: bool
    status: int = 0
    message: str = ""
    retry: bool = False
    preemptor: Optional[Pod] = None


class Actuator:
    def __init__(self, api: KubeApi, recorder: EventRecorder, metrics: SchedulerMetrics, workers: int,
                 report: Callable[[Outcome], None], may_act: Callable[[], bool] = lambda: True,
                 eviction_version: str = "v1") -> None:
        self.api = api
        self.recorder = recorder
        self.metrics = metrics
        self.report = report
        self.may_act = may_act
        self.eviction_version = eviction_version
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="actuator")
        self._inflight = 0
        self._lock = threading.Condition()

    # ------------------------------------------------------------ submission
    def _submit(self, func: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._inflight += 1

        def run() -> None:
            try:
                func(*args)
            except Exception:  # noqa: BLE001 - a worker must never die silently
                log.exception("actuator task %s failed", getattr(func, "__name__", func))
            finally:
                with self._lock:
                    self._inflight -= 1
                    self._lock.notify_all()

        self.pool.submit(run)

    def bind(self, pod: Pod, node: str) -> None:
        self._submit(self._bind, pod, node)

    def evict(self, victim: Pod, preemptor: Pod, node: str) -> None:
        self._submit(self._evict, victim, preemptor, node)

    def preempt(self, pod: Pod, message: str, node: str, victims: List[Pod]) -> None:
        """Nominate the preemptor first (status patch), then evict its victims, as kube-scheduler does."""
        def run() -> None:
            self._unschedulable(pod, message, node)
            if self.may_act():
                names = ", ".join(v.key for v in victims)
                self.recorder.record(pod, NORMAL, "Preempting", "Preempting",
                                     f"Nominated to {node}; evicting {len(victims)} lower-priority pod(s): {names}")
            for victim in victims:
                self.evict(victim, pod, node)

        self._submit(run)

    def unschedulable(self, pod: Pod, message: str, nominated_node: str = "") -> None:
        self._submit(self._unschedulable, pod, message, nominated_node)

    def clear_nomination(self, pod: Pod) -> None:
        self._submit(self._patch_status, pod, {"nominatedNodeName": None})

    def event(self, pod: Pod, event_type: str, reason: str, action: str, note: str) -> None:
        self._submit(self.recorder.record, pod, event_type, reason, action, note)

    @property
    def inflight(self) -> int:
        return self._inflight

    def drain(self, timeout: float) -> bool:
        """Wait (bounded) for in-flight calls; True when all finished."""
        with self._lock:
            return self._lock.wait_for(lambda: self._inflight == 0, timeout)

    def shutdown(self, timeout: float) -> bool:
        finished = self.drain(timeout)
        self.pool.shutdown(wait=finished)
        return finished

    # ------------------------------------------------------------ workers
    def _bind(self, pod: Pod, node: str) -> None:
        if not self.may_act():
            self.report(Outcome("bind", pod, False, message="not the leader", retry=True))
            return
        try:
            self.api.bind(pod.namespace, pod.name, node, pod.uid)
        except ApiError as exc:
            self.metrics.bind_errors.labels(code=str(exc.status)).inc()
            permanent = exc.status in PERMANENT_BIND_FAILURES
            log.log(logging.INFO if permanent else logging.WARNING, "binding %s to %s failed: %s", pod.key, node, exc)
            self.report(Outcome("bind", pod, False, exc.status, str(exc), retry=not permanent))
            return
        self.report(Outcome("bind", pod, True))
        self.recorder.record(pod, NORMAL, "Scheduled", "Binding", f"Successfully assigned {pod.key} to {node}")

    def _evict(self, victim: Pod, preemptor: Pod, node: str) -> None:
        if not self.may_act():
            self.report(Outcome("evict", victim, False, message="not the leader", preemptor=preemptor))
            return
        try:
            self.api.evict(victim.namespace, victim.name, self.eviction_version)
        except ApiError as exc:
            if exc.status == 404:  # already gone: that is what we wanted
                self.metrics.evictions.labels(result="gone").inc()
                self.report(Outcome("evict", victim, True, 404, preemptor=preemptor))
                return
            result = "blocked_by_pdb" if exc.status == 429 else "error"
            self.metrics.evictions.labels(result=result).inc()
            log.info("evicting %s for %s failed: %s", victim.key, preemptor.key, exc)
            self.report(Outcome("evict", victim, False, exc.status, str(exc), preemptor=preemptor))
            return
        self.metrics.evictions.labels(result="evicted").inc()
        self.report(Outcome("evict", victim, True, preemptor=preemptor))
        self.recorder.record(victim, NORMAL, "Preempted", "Preempting",
                             f"Preempted by pod {preemptor.key} (uid {preemptor.uid}) on node {node}")

    def _unschedulable(self, pod: Pod, message: str, nominated_node: str) -> None:
        if not self.may_act():
            return
        status: Dict[str, Any] = {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastTransitionTime": micro_time()[:19] + "Z", "lastProbeTime": None,
        }]}
        if nominated_node:
            status["nominatedNodeName"] = nominated_node
        self._patch_status(pod, status)
        self.recorder.record(pod, WARNING, "FailedScheduling", "Scheduling", message)

    def _patch_status(self, pod: Pod, status: Dict[str, Any]) -> None:
        if not self.may_act():
            return
        try:
            self.api.patch_pod_status(pod.namespace, pod.name, status)
        except ApiError as exc:
            if exc.status != 404:
                log.warning("could not update status of %s: %s", pod.key, exc)
