"""Executes the core's effects against the API on a bounded worker pool.

The scheduling loop never waits here: it assumes the pod and moves on.  Each
answer comes back through `report` (into the daemon's inbox), so the
single-threaded loop updates its own state.  Effects about one pod run in
order on one worker (a condition and a nomination become one status PATCH).  Bindings: a 409 or 404 re-reads
the pod (409 "already assigned" means it *is* bound: the API is right, we never
place it again); transient failures (5xx, 429, connection errors) go back to
the queue with a per-pod backoff that honours Retry-After.  A preemption's
evictions run in order and stop at the first refusal, so a plan is never
executed in part beyond what the API already accepted.  Nothing is sent
unless `may_act()` (leadership) holds at that moment.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from scheduler.core.effects import (
    NORMAL,
    Bind,
    BindResult,
    ClearNomination,
    Effect,
    Event,
    Evict,
    EvictionResult,
    Nominate,
    PodRef,
    SetCondition,
    UpdatePodGroupStatus,
    evict_in_order,
    subject,
)
from scheduler.k8s.api import ApiError, KubeApi
from scheduler.k8s.events import EventRecorder, micro_time
from scheduler.logs import RepeatedFailures
from scheduler.metrics.exporter import SchedulerMetrics

log = logging.getLogger(__name__)

REREAD_ON = (404, 409)  # the API's view of the pod differs from ours: read it before deciding anything


def _bound_to(current: Optional[Dict[str, Any]], pod: PodRef, node: str) -> bool:
    """The re-read pod (same uid) is on `node`: the binding we sent is the one that took effect."""
    if not current:
        return False
    meta, spec = current.get("metadata") or {}, current.get("spec") or {}
    return spec.get("nodeName") == node and (not pod.uid or meta.get("uid") == pod.uid)


def fate_unknown(status: int) -> bool:
    """No answer, or a server error: the binding may have been applied anyway."""
    return status == 0 or status >= 500


@dataclass
class Answer:
    """What the API said to one effect, for the scheduling loop: a BindResult or an EvictionResult.

    For a failed binding, `reread` says `current` holds the pod as the API has it now (None: it no
    longer exists), so the loop learns where the pod is before it decides about a retry."""

    result: Union[BindResult, EvictionResult]
    reread: bool = False
    current: Optional[Dict[str, Any]] = None


class Actuator:
    """Executes the core's effects against the API (the in-memory cluster is the other executor)."""

    def __init__(self, api: KubeApi, recorder: EventRecorder, metrics: SchedulerMetrics, workers: int,
                 report: Callable[[Answer], None], may_act: Callable[[], bool] = lambda: True,
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

    def execute(self, effects: Sequence[Effect]) -> None:
        """Run effects: those about one pod in order on one worker, different pods concurrently."""
        by_pod: Dict[str, List[Effect]] = {}
        for effect in effects:
            by_pod.setdefault(subject(effect), []).append(effect)
        for group in by_pod.values():
            self._submit(self._run_group, group)

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

    def _run_group(self, effects: List[Effect]) -> None:
        status: Dict[str, Any] = {}  # one status PATCH for a condition and a nomination together
        for effect in effects:
            if isinstance(effect, UpdatePodGroupStatus):
                self._patch_podgroup(effect)
            elif isinstance(effect, SetCondition):
                status["conditions"] = [_condition(effect)]
            elif isinstance(effect, Nominate):
                status["nominatedNodeName"] = effect.node
            elif isinstance(effect, ClearNomination):
                status["nominatedNodeName"] = None
            else:
                if status:
                    self._patch_status(effect.pod, status)
                    status = {}
                self._run_one(effect)
        last = effects[-1]
        if status and not isinstance(last, UpdatePodGroupStatus):
            self._patch_status(last.pod, status)

    def _run_one(self, effect: Effect) -> None:
        if isinstance(effect, Bind):
            self._bind(effect.pod, effect.node)
        elif isinstance(effect, Evict):
            self._evict_all(effect)
        elif isinstance(effect, Event):
            if self.may_act():
                self.recorder.record(effect.pod, effect.type, effect.reason, effect.action, effect.message)
        else:  # pragma: no cover - a new effect type without an executor is a programming error
            raise TypeError(f"no executor for {effect!r}")

    # ------------------------------------------------------------ workers
    def _bind(self, pod: PodRef, node: str) -> None:
        if not self.may_act():
            self.report(Answer(BindResult(pod, node, False, message="not the leader")))
            return
        try:
            self.api.bind(pod.namespace, pod.name, node, pod.uid)
        except ApiError as exc:
            self.metrics.bind_errors.labels(code=str(exc.status)).inc()
            failed = BindResult(pod, node, False, exc.status, str(exc), exc.retry_after)
            answer = Answer(failed)
            if exc.status in REREAD_ON or fate_unknown(exc.status):
                answer = self._reread(failed)
                if fate_unknown(exc.status) and not answer.reread:
                    answer = Answer(dataclasses.replace(failed, uncertain=True))
            if _bound_to(answer.current, pod, node):
                # our binding was applied, its answer lost (or this is the 409 of a retry): not a failure
                log.info("binding %s to %s was applied (the API answered: %s)", pod.key, node, exc)
                self.report(answer)
                self._scheduled(pod, node)
                return
            self.failures.failed("binding", f"{exc.status} {exc.reason}", "binding %s to %s failed: %s", pod.key, node, exc)
            self.report(answer)
            return
        self.failures.succeeded("binding")
        self.report(Answer(BindResult(pod, node, True)))
        self._scheduled(pod, node)

    def _scheduled(self, pod: PodRef, node: str) -> None:
        self.recorder.record(pod, NORMAL, "Scheduled", "Binding", f"Successfully assigned {pod.key} to {node}")

    def _reread(self, failed: BindResult) -> Answer:
        """The failed binding with the pod as the API has it now (best effort: on failure the loop just backs off)."""
        pod = failed.pod
        try:
            current = self.api.get_pod(pod.namespace, pod.name)
        except ApiError as exc:
            log.debug("could not re-read %s after a failed binding: %s", pod.key, exc)
            return Answer(failed)
        return Answer(failed, reread=True, current=current)

    def _evict_all(self, effect: Evict) -> None:
        """Evict in order; the first eviction that fails ends the plan (the rest are reported as not attempted)."""
        for result in evict_in_order(effect, partial(self._evict, effect=effect)):
            self.report(Answer(result))

    def _evict(self, victim: PodRef, effect: Evict) -> EvictionResult:
        """Evict one pod and report the answer (ok: it is gone or going)."""
        result = self._eviction(victim, effect)
        self.report(Answer(result))
        if result.ok and result.status != 404:
            log.info("evicted %s: %s", victim.key, effect.note(victim))
            self.recorder.record(victim, NORMAL, "Preempted" if effect.preemptor is not None else "Evicted",
                                 "Preempting", effect.note(victim))
        return result

    def _eviction(self, victim: PodRef, effect: Evict) -> EvictionResult:
        who = effect.preemptor.key if effect.preemptor is not None else "a gang rollback"
        if not self.may_act():
            return EvictionResult(victim, effect.preemptor, False, message="not the leader")
        try:
            self.api.evict(victim.namespace, victim.name, self.eviction_version)
        except ApiError as exc:
            if exc.status == 404:  # already gone: that is what we wanted
                self.metrics.evictions.labels(result="gone").inc()
                return EvictionResult(victim, effect.preemptor, True, 404)
            self.metrics.evictions.labels(result="blocked_by_pdb" if exc.status == 429 else "error").inc()
            self.failures.failed("eviction", f"{exc.status} {exc.reason}", "evicting %s for %s failed: %s",
                                 victim.key, who, exc)
            return EvictionResult(victim, effect.preemptor, False, exc.status, str(exc))
        self.failures.succeeded("eviction")
        self.metrics.evictions.labels(result="evicted").inc()
        return EvictionResult(victim, effect.preemptor, True)

    def _patch_podgroup(self, effect: UpdatePodGroupStatus) -> None:
        if not self.may_act():
            return
        status = {"phase": effect.phase, "scheduled": effect.scheduled, "running": effect.running,
                  "succeeded": effect.succeeded}
        try:
            self.api.patch_podgroup_status(effect.namespace, effect.name, status)
        except ApiError as exc:
            if exc.status != 404:  # gone meanwhile: nothing to tell
                self.failures.failed("PodGroup status", f"{exc.status} {exc.reason}",
                                     "could not update status of PodGroup %s: %s", effect.key, exc)
            return
        self.failures.succeeded("PodGroup status")

    def _patch_status(self, pod: PodRef, status: Dict[str, Any]) -> None:
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


def _condition(effect: SetCondition) -> Dict[str, Any]:
    return {"type": "PodScheduled", "status": "False", "reason": effect.reason, "message": effect.message,
            "lastTransitionTime": micro_time()[:19] + "Z", "lastProbeTime": None}
