"""`preemptive-scheduler run`: the long-running scheduler.

Threads and who owns what:

- reflectors (one per resource) list+watch and put raw objects in the inbox;
- the Prometheus refresher puts load readings in the inbox;
- the actuator's workers call the API and put outcomes in the inbox;
- the main thread alone owns the core (state, queue, engine): it drains the
  inbox, runs one scheduling cycle at a time and hands decisions to the
  actuator.  No locks around the core, and a cycle always sees a consistent
  cluster.
"""
from __future__ import annotations

import argparse
import gc
import logging
import queue as queue_module
import signal
import threading
import time
from collections import deque
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from scheduler.config import Config, listen_address
from scheduler.core.effects import (
    WARNING,
    Bind,
    ClearNomination,
    Effect,
    Event,
    Evict,
    EvictionResult,
    PodRef,
    SetCondition,
    UpdatePodGroupStatus,
    is_unschedulable_verdict,
)
from scheduler.core.gang import INVALID, ROLLED_BACK, RUNNING, SCHEDULED, WAITING
from scheduler.core.loop import CycleError, SchedulingLoop
from scheduler.core.model import ModelError
from scheduler.core.parse import parse_namespace, parse_node, parse_pdb, parse_pod
from scheduler.core.volumes import CLAIM, STORAGE_CLASS, VOLUME, VolumeObject, parse_claim, parse_storage_class, parse_volume
from scheduler.decision_log import DecisionLog
from scheduler.k8s.actuator import Actuator, Answer
from scheduler.k8s.api import WATCHED, ApiError, KubeApi, pool_size_for
from scheduler.k8s.events import EventRecorder
from scheduler.k8s.informer import LISTED, RESYNC, Reflector
from scheduler.k8s.leader import LeaderElector
from scheduler.logs import log_decision
from scheduler.metrics.exporter import HealthServer, SchedulerMetrics
from scheduler.stack import build_loop, defaults_from, load_source_from

log = logging.getLogger(__name__)

GANG_STATES = (WAITING, SCHEDULED, RUNNING, INVALID, ROLLED_BACK)
ASSUME_TTL = 60.0  # an assumed pod the watch never confirms is dropped after this long
SHUTDOWN_GRACE = 10.0
WATCH_STALE_AFTER = 600.0  # healthz fails when a watch has been silent (no events, no bookmarks) this long
WATCH_FAILING_AFTER = 60.0  # healthz fails when a watch has failed to (re)connect for this long
ERRORS_PERSIST_AFTER = 60.0  # healthz fails when nothing but internal errors happened for this long
OPTIONAL_WATCHES = ("podgroups", "poddisruptionbudgets", "storageclasses", "namespaces")
"""Watches the scheduler runs without when the API does not serve them (404)."""
FORBIDDEN_OK = ("storageclasses", "namespaces")
"""... and when our RBAC does not allow them (403: warned about, not fatal; only messages and namespaceSelector need them)."""
GC_YOUNG_THRESHOLD = 20_000
"""Allocations between collections of CPython's youngest generation (700 by default).  The daemon keeps
tens of thousands of long-lived objects per 10,000 pods and builds many more while it lists and parses; with
the default, collections rescanning them took a quarter of the initial list's CPU (5,000 nodes, 10,000 pods:
820 -> 670 ms).  Reference counting frees everything that is not in a cycle either way."""


class Daemon:
    def __init__(self, config: Config, api: KubeApi, metrics: Optional[SchedulerMetrics] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.api = api
        self.clock = clock
        self.metrics = metrics or SchedulerMetrics()
        if not config.prometheus_url:
            self.metrics.drop_load_metrics()
        self.defaults = defaults_from(config)
        self.stop = threading.Event()
        self.inbox: queue_module.Queue[Tuple[str, Any]] = queue_module.Queue()
        self.loop: SchedulingLoop = build_loop(config, clock, load_enabled=bool(config.prometheus_url))
        self.decisions = DecisionLog(log, self.loop)  # the decision log's per-node tables and gang admissions
        self.known: Dict[str, Dict[str, Seen]] = {kind: {} for kind in WATCHED}
        self.bad_pods: Dict[str, str] = {}  # key -> resourceVersion of an object we could not parse
        self.elector: Optional[LeaderElector] = None
        self.reflectors: List[Reflector] = []
        self.recorder = EventRecorder(api, config.scheduler_name, on_drop=self.metrics.events_dropped.inc)
        self.actuator = Actuator(api, self.recorder, self.metrics, config.bind_workers, self._report,
                                 may_act=self.is_leader, eviction_version=self._eviction_version())
        self.refresher: Any = None
        self.health: Optional[HealthServer] = None
        self._last_housekeeping = 0.0
        self.watch_failing_after = WATCH_FAILING_AFTER
        self._to_clear: Dict[str, PodRef] = {}  # pods whose nominatedNodeName must be cleared (sent while leading)
        self._errors: deque[float] = deque(maxlen=64)  # times of recent internal errors
        self._last_success = clock()
        self._acting = False  # synced and leading as of the last round of serve()

    # ------------------------------------------------------------ wiring
    def _eviction_version(self) -> str:
        try:
            major, minor = self.api.server_version()
        except ApiError:
            return "v1"
        return "v1" if (major, minor) >= (1, 22) else "v1beta1"

    def is_leader(self) -> bool:
        return self.elector is None or self.elector.is_leader()

    def _sink(self, resource: str, kind: str, obj: Any) -> None:
        self.inbox.put((resource, (kind, obj)))

    def _report(self, answer: Answer) -> None:
        self.inbox.put(("answer", answer))

    def _on_restart(self, resource: str, cause: str) -> None:
        self.metrics.watch_restarts.labels(resource=resource, cause=cause).inc()

    def start(self) -> None:
        for resource, (path, _) in WATCHED.items():
            reflector = Reflector(self.api, resource, path, self._sink, self.stop, self._on_restart,
                                  optional=resource in OPTIONAL_WATCHES, may_be_forbidden=resource in FORBIDDEN_OK)
            self.reflectors.append(reflector.start())
        if self.config.leader_elect:
            self.elector = LeaderElector(self.api, self.config.leader_elect_namespace, self.config.leader_elect_lease_name,
                                         on_change=lambda leading: self.metrics.is_leader.set(1 if leading else 0)).start()
        else:
            self.metrics.is_leader.set(1)
        if self.config.prometheus_url:
            self._start_load_refresher()
        host, port = listen_address(self.config)
        if port:
            self.health = HealthServer(self.metrics, self.healthz, self.readyz, port, host=host).start()

    def _start_load_refresher(self) -> None:
        from scheduler.metrics.prometheus_source import LoadRefresher

        source = load_source_from(self.config)
        nodes = self.loop.nodes
        self.refresher = LoadRefresher(source, nodes, lambda reading: self.inbox.put(("load", reading)),
                                       interval=self.config.metrics_refresh)
        self.refresher.start()

    # ------------------------------------------------------------ health
    @property
    def synced(self) -> bool:
        return all(r.synced.is_set() for r in self.reflectors)

    def healthz(self) -> Tuple[bool, str]:
        now = time.monotonic()
        dead = [r.resource for r in self.reflectors if not r.alive]
        stale = [r.resource for r in self.reflectors if r.available and now - r.last_contact > WATCH_STALE_AFTER]
        failing = [r.resource for r in self.reflectors if r.failing_for(now) > self.watch_failing_after]
        if dead or stale or failing:
            return False, f"watches not alive: {', '.join(dead + stale + failing)}"
        if self._errors_persist():
            return False, f"internal errors persist: {len(self._errors)} recent, nothing succeeded for " \
                          f"{self.clock() - self._last_success:.0f}s"
        return True, "ok"

    def _errors_persist(self) -> bool:
        now = self.clock()
        recent = [t for t in self._errors if now - t <= ERRORS_PERSIST_AFTER]
        return len(recent) >= 10 and now - self._last_success > ERRORS_PERSIST_AFTER

    def _pods_watch_healthy(self) -> bool:
        """The pod watch is connected and delivering: what we do not see confirmed is really not there."""
        now = time.monotonic()
        pods = [r for r in self.reflectors if r.resource == "pods"]
        return all(r.synced.is_set() and r.failing_for(now) == 0.0 for r in pods)

    def _internal_error(self, where: str, what: str) -> None:
        """Last resort: log the traceback, count it, keep running."""
        log.exception("internal error while %s; continuing with everything else", what)
        self.metrics.internal_errors.labels(where=where).inc()
        self._errors.append(self.clock())

    def readyz(self) -> Tuple[bool, str]:
        if not self.synced:
            return False, "caches not synced"
        return True, "ok (leader)" if self.is_leader() else "ok (standby)"

    # ------------------------------------------------------------ inbox
    def drain_inbox(self, timeout: float) -> int:
        """Apply everything waiting (waiting up to `timeout` for the first item)."""
        handled = 0
        try:
            item = self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
        except queue_module.Empty:
            return 0
        while True:
            self._apply(*item)
            handled += 1
            try:
                item = self.inbox.get_nowait()
            except queue_module.Empty:
                return handled

    def _apply(self, source: str, payload: Any) -> None:
        try:
            self._dispatch(source, payload)
            self._last_success = self.clock()
        except Exception:  # noqa: BLE001 - no object may stop the scheduler
            self._internal_error("event", f"applying a {source} event")
            if source == "pods" and payload[0] not in (LISTED, RESYNC):
                self._quarantine_pod(payload[1])

    def _quarantine_pod(self, obj: Any) -> None:
        """A pod whose event broke the core: forget it and report it, like an unparsable one."""
        try:
            key = _key(obj)
            self.loop.pod_deleted(key)
            self._bad_pod(key, obj, "internal error while handling this pod (see the scheduler's log)")
        except Exception:  # noqa: BLE001
            log.exception("could not quarantine a pod")

    def _dispatch(self, source: str, payload: Any) -> None:
        if source == "answer":
            self._answer(payload)
        elif source == "load":
            self._load(payload)
        else:
            kind, obj = payload
            if kind == LISTED:
                self._listed(source, obj)
            elif kind == RESYNC:
                self._resync(source, obj)
            else:
                self._object(source, kind, obj)

    def _listed(self, resource: str, items: List[Dict[str, Any]]) -> None:
        """A page of a fresh list: apply every object (one bad object must not stop the rest)."""
        for obj in items:
            try:
                self._object(resource, "MODIFIED", obj, relist=True)
            except Exception:  # noqa: BLE001 - one bad object must not stop the rest of the list
                self._internal_error("event", f"applying a listed {resource} object")
                if resource == "pods":
                    self._quarantine_pod(obj)

    def _resync(self, resource: str, items: List[Dict[str, Any]]) -> None:
        """A list is complete (its pages were applied as they came): delete what vanished while we were not
        watching."""
        current = {_key(obj) for obj in items}
        for key in [k for k in self.known[resource] if k not in current]:
            self._gone(resource, key)

    def _object(self, resource: str, kind: str, obj: Dict[str, Any], relist: bool = False) -> None:
        key = _key(obj)
        if kind == "DELETED":
            self._gone(resource, key)
            return
        seen = _seen(obj)
        if not relist and _older(seen, self.known[resource].get(key)):
            return  # e.g. a watch event that lags behind a re-read after a failed binding
        self.known[resource][key] = seen
        getattr(self, f"_on_{resource}")(kind, key, obj)

    def _gone(self, resource: str, key: str) -> None:
        """The object was deleted (handlers of a deletion read only its key)."""
        self.known[resource].pop(key, None)
        getattr(self, f"_on_{resource}")("DELETED", key, {})

    def _on_pods(self, kind: str, key: str, obj: Dict[str, Any]) -> None:
        if kind == "DELETED":
            self.bad_pods.pop(key, None)
            self.loop.pod_deleted(key)
            self.decisions.pod_gone(key)
            return
        try:
            pod = parse_pod(obj, self.defaults)
        except ModelError as exc:
            self._bad_pod(key, obj, str(exc))
            return
        if self.bad_pods.pop(key, None) is not None:
            log.info("pod %s is valid again; scheduling it", key)
        self.loop.pod_changed(pod)
        self.decisions.pod_seen(pod)

    def _bad_pod(self, key: str, obj: Dict[str, Any], error: str) -> None:
        """Unparsable: report once per version, forget any old state, retry when the object changes."""
        meta, spec = _section(obj, "metadata"), _section(obj, "spec")
        version = str(meta.get("resourceVersion") or "")
        if self.bad_pods.get(key) == version:
            return
        self.bad_pods[key] = version
        self.metrics.parse_errors.labels(resource="pods").inc()
        log.warning("cannot schedule pod %s: %s (will retry when it changes)", key, error)
        self.loop.pod_deleted(key)
        self.decisions.pod_gone(key)
        if spec.get("schedulerName") == self.config.scheduler_name and not spec.get("nodeName"):
            namespace, name, uid = (meta.get(k) for k in ("namespace", "name", "uid"))
            ref = PodRef(namespace if isinstance(namespace, str) else "default", name if isinstance(name, str) else "",
                         uid if isinstance(uid, str) else "")
            self.actuator.execute([Event(ref, WARNING, "FailedScheduling", "Scheduling", f"pod cannot be scheduled: {error}")])

    def _on_nodes(self, kind: str, key: str, obj: Dict[str, Any]) -> None:
        if kind == "DELETED":
            self.loop.node_deleted(key)
            return
        try:
            self.loop.node_changed(parse_node(obj, self.defaults.quantities))
        except ModelError as exc:
            self.metrics.parse_errors.labels(resource="nodes").inc()
            log.warning("ignoring node %s until it changes: %s", key, exc)
            self.loop.node_deleted(key)

    def _on_poddisruptionbudgets(self, kind: str, key: str, obj: Dict[str, Any]) -> None:
        if kind == "DELETED":
            self.loop.pdb_deleted(key)
            return
        try:
            self.loop.pdb_changed(parse_pdb(obj))
        except ModelError as exc:
            self.metrics.parse_errors.labels(resource="poddisruptionbudgets").inc()
            log.warning("ignoring this version of PodDisruptionBudget %s: %s", key, exc)

    def _on_podgroups(self, kind: str, key: str, obj: Dict[str, Any]) -> None:
        self.loop.podgroup_changed(kind, key, obj)

    def _on_persistentvolumeclaims(self, kind: str, key: str, obj: Dict[str, Any]) -> None:
        self._volume_object("persistentvolumeclaims", CLAIM, parse_claim, kind, key, obj)

    def _on_persistentvolumes(self, kind: str, key: str, obj: Dict[str, Any]) -> None:
        self._volume_object("persistentvolumes", VOLUME, parse_volume, kind, key, obj)

    def _on_storageclasses(self, kind: str, key: str, obj: Dict[str, Any]) -> None:
        self._volume_object("storageclasses", STORAGE_CLASS, parse_storage_class, kind, key, obj)

    def _volume_object(self, resource: str, object_kind: str, parse: Callable[[Any], VolumeObject], kind: str, key: str,
                       obj: Dict[str, Any]) -> None:
        if kind == "DELETED":
            self.loop.volume_object_deleted(object_kind, key)
            return
        try:
            self.loop.volume_object_changed(parse(obj))
        except ModelError as exc:
            self.metrics.parse_errors.labels(resource=resource).inc()
            log.warning("ignoring %s %s until it changes: %s", object_kind, key, exc)
            self.loop.volume_object_deleted(object_kind, key)  # pods using it wait, with a reason, rather than use an old version

    def _on_namespaces(self, kind: str, key: str, obj: Dict[str, Any]) -> None:
        if kind == "DELETED":
            self.loop.namespace_deleted(key)
            return
        try:
            self.loop.namespace_changed(*parse_namespace(obj))
        except ModelError as exc:
            self.metrics.parse_errors.labels(resource="namespaces").inc()
            log.warning("ignoring this version of namespace %s: %s", key, exc)

    def _load(self, reading: Any) -> None:
        self.metrics.load_metrics_up.set(1 if reading.up else 0)
        if not reading.up:
            self.loop.load_unavailable()  # outage: schedule on requests alone until it ends
            return
        from scheduler.metrics.prometheus_source import on_clock

        self.loop.load_changed(on_clock(reading.values, self.clock))
        self.metrics.load_nodes_unknown.set(len(reading.missing))

    def _answer(self, answer: Answer) -> None:
        result = answer.result
        if isinstance(result, EvictionResult):
            # a victim that stays (PDB said no, or an error): the preemptor re-plans on its next attempt
            # instead of evicting more elsewhere blindly; a PDB-refused victim sits out a cool-down
            self.loop.eviction_result(result)
            return
        self.metrics.schedule_attempts.labels(result="scheduled" if result.ok else "error").inc()
        if result.ok:
            log_decision(log, "bound", "bound %s to %s", result.pod.key, result.node, pod=result.pod.key, node=result.node)
        if answer.reread:  # the API's answer first: a 409 "already assigned" shows where the pod is
            if answer.current is None:
                self._gone("pods", result.pod.key)
            else:
                self._object("pods", "MODIFIED", answer.current, relist=True)
        self.loop.bind_result(result)
        if result.ok:
            self.decisions.bound(result.pod.key)

    # ------------------------------------------------------------ acting
    def act(self, effects: List[Effect]) -> None:
        """Hand effects to the actuator; a nomination to clear waits until we lead (only the leader writes)."""
        to_run: List[Effect] = []
        for effect in effects:
            self._count(effect)
            self._log(effect)
            if isinstance(effect, ClearNomination):
                self._to_clear[effect.pod.key] = effect.pod
            else:
                to_run.append(effect)
        self.actuator.execute(to_run)

    def _log(self, effect: Effect) -> None:
        """The decision log: unschedulable (when its reason changes), preemptions, gang rollbacks, gang phases."""
        if isinstance(effect, UpdatePodGroupStatus):
            log_decision(log, "gang", "gang %s is %s (%d scheduled, %d running)", effect.key, effect.phase,
                         effect.scheduled, effect.running, gang=effect.key, phase=effect.phase)
            return
        pod = effect.pod.key
        if isinstance(effect, SetCondition):
            log_decision(log, "unschedulable", "unschedulable %s: %s", pod, effect.message, pod=pod, reason=effect.message)
            self.decisions.unschedulable(pod)
        elif isinstance(effect, Evict) and effect.preemptor is not None:
            victims = [v.key for v in effect.victims]
            log_decision(log, "preempt", "preempting for %s on %s: evicting %s", pod, effect.node, ", ".join(victims),
                         pod=pod, node=effect.node, victims=victims)
        elif isinstance(effect, Evict):
            log_decision(log, "rollback", "rolling back %s on %s: %s", pod, effect.node, effect.notes[0],
                         pod=pod, node=effect.node)

    def _count(self, effect: Effect) -> None:
        if is_unschedulable_verdict(effect):
            self.metrics.schedule_attempts.labels(result="unschedulable").inc()
        elif isinstance(effect, Evict) and effect.preemptor is not None:
            self.metrics.preemption_attempts.inc()
            self.metrics.preemption_victims.observe(len(effect.victims))

    def housekeeping(self) -> None:
        now = self.clock()
        if now - self._last_housekeeping < 1.0:
            return
        self._last_housekeeping = now
        if self._pods_watch_healthy():  # blind, we cannot tell a lost binding from an unseen one: keep the room
            for key in self.loop.expire_assumptions(ASSUME_TTL):
                log.warning("binding of %s was never answered; forgot the assumption", key)
        self.act(self.loop.housekeeping())
        self.decisions.housekeeping()
        if self.is_leader():
            self._clear_nominations()
        stats = self.loop.stats()
        for name in ("active", "backoff", "unschedulable", "gated"):
            self.metrics.pending_pods.labels(queue=name).set(stats["queue"].get(name, 0))
        for state in GANG_STATES:
            self.metrics.gangs.labels(state=state).set(stats["gangs"].get(state, 0))

    def _clear_nominations(self) -> None:
        """Clear nominatedNodeName where the API still shows one we no longer hold."""
        clear: List[Effect] = []
        for key, pod in list(self._to_clear.items()):
            del self._to_clear[key]
            seen = self.known["pods"].get(key)
            if seen is None or not seen.nominated_node:
                continue  # gone, or already cleared
            if self.loop.is_nominated(key):
                continue  # nominated again since
            clear.append(ClearNomination(pod))
        self.actuator.execute(clear)

    def run_cycle(self) -> bool:
        """One scheduling attempt; False when nothing was ready."""
        start = time.perf_counter()
        try:
            effects = self.loop.cycle()
        except CycleError as exc:
            self._internal_error("cycle", str(exc))
            return True
        except Exception:  # noqa: BLE001 - housekeeping inside the cycle failed: keep scheduling
            self._internal_error("cycle", "running a scheduling cycle")
            return True
        if effects is None:
            return False
        self._last_success = self.clock()
        elapsed = time.perf_counter() - start
        decided = [e for e in effects if isinstance(e, Bind) or is_unschedulable_verdict(e)]
        for effect in decided:
            self.metrics.attempt_duration.labels(result="scheduled" if isinstance(effect, Bind) else "unschedulable") \
                .observe(elapsed / len(decided))
        self.act(effects)
        return True

    def serve(self) -> None:
        """The main loop, until `stop` is set."""
        while not self.stop.is_set():
            self.drain_inbox(0)
            self.housekeeping()
            acting = self.synced and self.is_leader()
            if acting and not self._acting:  # started, or took over: carry on the old leader's nominations
                self.loop.recover_nominations()
            self._acting = acting
            if not acting:
                self.drain_inbox(0.2)
                continue
            if not self.run_cycle():
                wait = self.loop.next_ready_in()
                self.drain_inbox(min(0.5, wait) if wait is not None else 0.5)

    def shutdown(self) -> None:
        """Stop taking pods, finish in-flight calls (bounded), release the Lease."""
        self.stop.set()
        finished = self.actuator.shutdown(SHUTDOWN_GRACE)
        if not finished:
            log.warning("shutting down with %d API calls still in flight", self.actuator.inflight)
        if not self.recorder.close(2.0):
            log.warning("shutting down with Events not yet posted")
        if self.refresher is not None:
            self.refresher.stop(2.0)
        if self.elector is not None:
            self.elector.stop(release=True)
        if self.health is not None:
            self.health.stop()
        deadline = time.monotonic() + 0.5  # one short wait for all watches, not one per watch
        for reflector in self.reflectors:
            reflector.join(max(0.0, deadline - time.monotonic()))
        log.info("stopped")


class Seen(NamedTuple):
    """What is remembered of an object between events: not its JSON, which at 10k pods would be tens of MB
    kept for nothing."""

    resource_version: str
    nominated_node: str  # pods: status.nominatedNodeName as the API has it (a stale one is cleared)


def _seen(obj: Dict[str, Any]) -> Seen:
    version = _section(obj, "metadata").get("resourceVersion")
    nominated = _section(obj, "status").get("nominatedNodeName")
    return Seen(version if isinstance(version, str) else str(version or ""),
                nominated if isinstance(nominated, str) else "")


def _older(new: Seen, known: Optional[Seen]) -> bool:
    """True when `new` is an older version than `known` (resourceVersions compared when both are integers)."""
    if known is None:
        return False
    a, b = new.resource_version, known.resource_version
    return a.isdigit() and b.isdigit() and int(a) < int(b)


def _section(obj: Any, name: str) -> Dict[str, Any]:
    """obj[name] when it is a mapping, else empty: untrusted objects may carry anything there."""
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def _key(obj: Dict[str, Any]) -> str:
    meta = _section(obj, "metadata")
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def main(args: argparse.Namespace, config: Config) -> int:
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), older, oldest)
    try:
        api = KubeApi.from_kubeconfig(config.kubeconfig, pool_size=pool_size_for(config.bind_workers))
    except ApiError as exc:
        from scheduler.cli import UsageError

        raise UsageError(exc.message or str(exc)) from None
    daemon = Daemon(config, api)

    def on_signal(signum: int, frame: Any) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        daemon.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("starting %s (preemption=%s, alpha=%s, leader election=%s)", config.scheduler_name,
             config.preemption, config.alpha, config.leader_elect)
    try:
        daemon.start()
    except OSError as exc:  # e.g. the metrics port is taken
        daemon.shutdown()
        from scheduler.cli import UsageError

        host, port = listen_address(config)
        raise UsageError(f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    try:
        daemon.serve()
    finally:
        daemon.shutdown()
    return 0
