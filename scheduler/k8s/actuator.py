"""Carries decisions out against the API on a bounded worker pool.

The scheduling loop never waits here: it assumes the pod and moves on.  Each
outcome comes back through `report` (into the daemon's inbox), so the
single-threaded loop updates its own state.  Bindings: a 409 or 404 re-reads
the pod (409 "already assigned" means it *is* bound: the API is right, we never
place it again); transient failures (5xx, 429, connection errors) go back to
the queue with a per-pod backoff that honours Retry-After.  A preemption's
evictions run in order and stop at the first refusal, so a plan is never
executed in part beyond what the API already accepted.  Nothing is sent
unless `may_act()` (leadership) holds at that moment.
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
from scheduler.logs import RepeatedFailures
from scheduler.metrics.exporter import SchedulerMetrics

log = logging.getLogger(__name__)

REREAD_ON = (404, 409)  # the API's view of the pod differs from ours: read it before deciding anything


def _bound_to(current: Optional[Dict[str, Any]], pod: Pod, node: str) -> bool:
    """The re-read pod (same uid) is on `node`: the binding we sent is the one that took effect."""
    if not current:
        return False
    meta, spec = current.get("metadata") or {}, current.get("spec") or {}
    return spec.get("nodeName") == node and (not pod.uid or meta.get("uid") == pod.uid)


def fate_unknown(status: int) -> bool:
    """No answer, or a server error: the binding may have been applied anyway."""
    return status == 0 or status >= 500


@dataclass
class Outcome:
    """What happened to one API action, reported back to the scheduling loop."""

    kind: str  # "bind", "evict"
    pod: Pod
    ok: bool
    status: int = 0
    message: str = ""
    retry_after: float = 0.0
    preemptor: Optional[Pod] = None
    reread: bool = False  # `current` holds the pod as the API has it now (None: it no longer exists)
    current: Optional[Dict[str, Any]] = None
    uncertain: bool = False  # the binding may have been applied and the pod could not be re-read
    aborted: bool = False  # an eviction not attempted because an earlier one of the same plan failed


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
        self.failures = RepeatedFailures(log)
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
        """Nominate the preemptor first (status patch), then evict its victims one by one, as kube-scheduler
        does; the first refused eviction ends the plan (the rest are reported as not attempted)."""
        def run() -> None:
            self._unschedulable(pod, message, node)
            if self.may_act():
                names = ", ".join(v.key for v in victims)
                self.recorder.record(pod, NORMAL, "Preempting", "Preempting",
                                     f"Nominated to {node}; evicting {len(victims)} lower-priority pod(s): {names}")
            for i, victim in enumerate(victims):
                if not self._evict(victim, pod, node):
                    for rest in victims[i + 1:]:
                        self.report(Outcome("evict", rest, False, message="not attempted: an earlier eviction of "
                                            "this plan was refused", preemptor=pod, aborted=True))
                    return

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
            self.report(Outcome("bind", pod, False, message="not the leader"))
            return
        try:
            self.api.bind(pod.namespace, pod.name, node, pod.uid)
        except ApiError as exc:
            self.metrics.bind_errors.labels(code=str(exc.status)).inc()
            outcome = Outcome("bind", pod, False, exc.status, str(exc), exc.retry_after)
            if exc.status in REREAD_ON or fate_unknown(exc.status):
                self._reread(outcome)
                outcome.uncertain = fate_unknown(exc.status) and not outcome.reread
            if _bound_to(outcome.current, pod, node):
                # our binding was applied, its answer lost (or this is the 409 of a retry): not a failure
                log.info("binding %s to %s was applied (the API answered: %s)", pod.key, node, exc)
                self.report(outcome)
                self._scheduled(pod, node)
                return
            self.failures.failed("binding", f"{exc.status} {exc.reason}", "binding %s to %s failed: %s", pod.key, node, exc)
            self.report(outcome)
            return
        self.failures.succeeded("binding")
        self.report(Outcome("bind", pod, True))
        self._scheduled(pod, node)

    def _scheduled(self, pod: Pod, node: str) -> None:
        self.recorder.record(pod, NORMAL, "Scheduled", "Binding", f"Successfully assigned {pod.key} to {node}")

    def _reread(self, outcome: Outcome) -> None:
        """Fill in the pod as the API has it now (best effort: on failure the loop just backs off)."""
        pod = outcome.pod
        try:
            outcome.current = self.api.get_pod(pod.namespace, pod.name)
        except ApiError as exc:
            log.debug("could not re-read %s after a failed binding: %s", pod.key, exc)
            return
        outcome.reread = True

    def _evict(self, victim: Pod, preemptor: Pod, node: str) -> bool:
        """Evict one pod; True when it is gone or going."""
        if not self.may_act():
            self.report(Outcome("evict", victim, False, message="not the leader", preemptor=preemptor))
            return False
        try:
            self.api.evict(victim.namespace, victim.name, self.eviction_version)
        except ApiError as exc:
            if exc.status == 404:  # already gone: that is what we wanted
                self.metrics.evictions.labels(result="gone").inc()
                self.report(Outcome("evict", victim, True, 404, preemptor=preemptor))
                return True
            result = "blocked_by_pdb" if exc.status == 429 else "error"
            self.metrics.evictions.labels(result=result).inc()
            self.failures.failed("eviction", f"{exc.status} {exc.reason}", "evicting %s for %s failed: %s",
                                 victim.key, preemptor.key, exc)
            self.report(Outcome("evict", victim, False, exc.status, str(exc), exc.retry_after, preemptor=preemptor))
            return False
        self.failures.succeeded("eviction")
        self.metrics.evictions.labels(result="evicted").inc()
        self.report(Outcome("evict", victim, True, preemptor=preemptor))
        self.recorder.record(victim, NORMAL, "Preempted", "Preempting",
                             f"Preempted by pod {preemptor.key} (uid {preemptor.uid}) on node {node}")
        return True

    def _unschedulable(self, pod: Pod, message: str, nominated_node: str) -> None:
        if not self.may_act():
            return
        status: Dict[str, Any] = {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastTransitionTime": micro_time()[:19] + "Z", "lastProbeTime": None,
        }]}
        if nominated_node:
            status["nominatedNodeName"] = nominated_node
        elif pod.nominated_node:
            status["nominatedNodeName"] = None  # the nomination ended (e.g. re-planned without a new one)
        self._patch_status(pod, status)
        self.recorder.record(pod, WARNING, "FailedScheduling", "Scheduling", message)

    def _patch_status(self, pod: Pod, status: Dict[str, Any]) -> None:
        if not self.may_act():
            return
        try:
            self.api.patch_pod_status(pod.namespace, pod.name, status)
        except ApiError as exc:
            if exc.status != 404:
                self.failures.failed("status update", f"{exc.status} {exc.reason}",
                                     "could not update status of %s: %s", pod.key, exc)
            return
        self.failures.succeeded("status update")
