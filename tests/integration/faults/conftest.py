"""The fault suite: the real daemon over HTTP against the stand-in kube-apiserver, with faults injected.

Every scenario ends with ``run.check(...)``, which computes one row of invariants from the
stand-in's store and from what the daemons sent, records the row for the table printed at the
end of the session, then asserts:

- pods lost: pods the scenario expects bound that are not, and pods of ours that vanished
  although neither the test deleted them nor a daemon evicted them;
- double binds: pods the API accepted a binding for more than once (``srv.bindings_count``);
- overcommitted nodes: at *any* moment of the run (a watcher inside the stand-in re-checks the
  node of every pod event), the requests of the pods on a node (bound, not yet gone, not
  terminal) exceeded its allocatable cpu, memory or pods;
- victims: pods a daemon evicted, against the minimum the scenario needs (extra = the rest);
- partial gangs: gangs with 0 < bound members < their minimum;
- stale nominations: a bound pod of ours with ``status.nominatedNodeName``, or a nomination
  naming a node that does not exist;
- daemon alive: the serving thread runs and ``/healthz`` answers ok (the daemons not killed);
- binding attempts per pod, counted on the client side (``KubeApi.bind`` is wrapped), so
  attempts the API never saw (refused connections during an outage) count too.

``run.check`` first waits (up to ``settle`` seconds) for the eventual invariants to hold, so a
nomination cleared by the next housekeeping round is not reported as stale.  ``run.measure(...)``
computes the same row without asserting (the checker's own test uses it).

Counting rules worth knowing: bindings are counted per pod *name* (a test that re-creates a pod
under the same name would see it as bound twice); a victim is any pod an eviction was accepted
for (a gang rollback evicts too); "pods" is every pod of ours seen during the run.

The rows are printed as one table at the end of the session (``pytest_terminal_summary``).
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Tuple

import pytest
from kubernetes.utils import parse_quantity

from scheduler.k8s.api import ApiError, KubeApi
from scheduler.testing.apiserver import FakeApiServer

SCHEDULER = "preemptive-scheduler"
GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
MIN_ANNOTATION = "scheduling.x-k8s.io/min-available"
INT64_MAX = (1 << 63) - 1
RESOURCES = ("cpu", "memory", "pods")

ROWS: List[Dict[str, Any]] = []  # one per scenario run this session, printed at the end


# ------------------------------------------------------------------ quantities
def _quantity(value: Any) -> Optional[Decimal]:
    """A finite quantity that fits int64 (in its base unit, millicores for cpu checked by the caller), else None."""
    try:
        amount = parse_quantity(value)
    except (ValueError, TypeError, ArithmeticError):
        return None
    if not amount.is_finite() or amount < 0 or amount > INT64_MAX:
        return None
    return amount


def pod_requests(pod: Dict[str, Any]) -> Optional[Dict[str, Decimal]]:
    """Summed container requests (cpu in cores, memory in bytes, one pod slot); None when unparseable."""
    total = {"cpu": Decimal(0), "memory": Decimal(0), "pods": Decimal(1)}
    for container in (pod.get("spec") or {}).get("containers") or []:
        requests = ((container.get("resources") or {}).get("requests")) or {}
        for name in ("cpu", "memory"):
            if name in requests:
                amount = _quantity(requests[name])
                if amount is None or (name == "cpu" and amount * 1000 > INT64_MAX):
                    return None
                total[name] += amount
    return total


def node_allocatable(node: Dict[str, Any]) -> Optional[Dict[str, Decimal]]:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    out = {}
    for name in RESOURCES:
        amount = _quantity(allocatable.get(name, "0"))
        if amount is None or (name == "cpu" and amount * 1000 > INT64_MAX):
            return None  # a node the test made invalid on purpose: the scheduler ignores it, so do we
        out[name] = amount
    return out


def _key(obj: Dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def _occupies(pod: Dict[str, Any]) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName")) and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


# ------------------------------------------------------------------ watching the store
class StoreMonitor:
    """Watches the stand-in's pods and nodes in-process (like the NodeAgent) and checks, after every
    pod event, that the pod's node is not overcommitted.  Also remembers deleted pods and the history
    of every pod's nominatedNodeName."""

    def __init__(self, srv: FakeApiServer) -> None:
        self.srv = srv
        self.pods: Dict[str, Dict[str, Any]] = {}
        self.allocatable: Dict[str, Optional[Dict[str, Decimal]]] = {}
        self.on_node: Dict[str, Dict[str, Optional[Dict[str, Decimal]]]] = defaultdict(dict)
        self.overcommits: Dict[str, str] = {}  # node -> first violation seen
        self.deleted: Set[str] = set()
        self.ours: Set[str] = set()  # every pod of ours ever seen
        self.nominations: Dict[str, List[Optional[str]]] = defaultdict(list)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        with srv.atomic():  # list + watch pods and nodes from the same resourceVersion, no gap
            self._pod_watch = srv.open_watch("pods")
            self._node_watch = srv.open_watch("nodes")
        for node in self._node_watch.objects:
            self._node_event("ADDED", node)
        for pod in self._pod_watch.objects:
            self._pod_event("ADDED", pod)
        self._thread = threading.Thread(target=self._run, name="fault-suite-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pod_watch.close()
        self._node_watch.close()

    def idle(self, timeout: float = 5.0) -> None:
        """Wait until every event emitted so far has been looked at."""
        deadline = time.monotonic() + timeout
        while (not self._pod_watch.empty() or not self._node_watch.empty()) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.05)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._drain_nodes()
            event = self._pod_watch.get(timeout=0.05)
            if event is not None:
                self._drain_nodes()  # node events emitted before this pod event
                with self.lock:
                    self._pod_event(event.type, event.obj)

    def _drain_nodes(self) -> None:
        while True:
            event = self._node_watch.get(timeout=0)
            if event is None:
                return
            with self.lock:
                self._node_event(event.type, event.obj)

    def _node_event(self, kind: str, node: Dict[str, Any]) -> None:
        name = (node.get("metadata") or {}).get("name") or ""
        if kind == "DELETED":
            self.allocatable.pop(name, None)
            return
        self.allocatable[name] = node_allocatable(node)
        self._check(name)

    def _pod_event(self, kind: str, pod: Dict[str, Any]) -> None:
        key = _key(pod)
        old = self.pods.pop(key, None)
        if old is not None:
            self.on_node[(old.get("spec") or {}).get("nodeName") or ""].pop(key, None)
        if kind == "DELETED":
            self.deleted.add(key)
            return
        self.pods[key] = pod
        if (pod.get("spec") or {}).get("schedulerName") == SCHEDULER:
            self.ours.add(key)
        nominated = (pod.get("status") or {}).get("nominatedNodeName") or None
        history = self.nominations[key]
        if (history[-1] if history else None) != nominated:
            history.append(nominated)
        if _occupies(pod):
            node = pod["spec"]["nodeName"]
            self.on_node[node][key] = pod_requests(pod)
            self._check(node)

    def _check(self, node: str) -> None:
        allocatable = self.allocatable.get(node)
        if allocatable is None or node in self.overcommits:
            return
        pods = self.on_node.get(node) or {}
        for name in RESOURCES:
            used = sum((r[name] for r in pods.values() if r is not None), Decimal(0))
            if used > allocatable[name]:
                self.overcommits[node] = f"{name} {used} > {allocatable[name]} ({', '.join(sorted(pods))})"
                return


# ------------------------------------------------------------------ what the daemons sent
@dataclass
class Call:
    pod: str
    target: str  # node (bind) or "" (evict)
    started: float
    ended: float
    status: Optional[int]  # 201 on success, the ApiError status otherwise (0: no answer), None in flight


class ApiCalls:
    """Every binding and eviction any daemon of the test attempted, per pod, in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.binds: Dict[str, List[Call]] = defaultdict(list)
        self.evictions: Dict[str, List[Call]] = defaultdict(list)

    def install(self, monkeypatch: Any) -> None:
        original_bind, original_evict = KubeApi.bind, KubeApi.evict
        calls = self

        def bind(api: KubeApi, namespace: str, name: str, node: str, uid: str = "") -> None:
            calls._call(calls.binds, f"{namespace}/{name}", node, original_bind, api, namespace, name, node, uid)

        def evict(api: KubeApi, namespace: str, name: str, *args: Any, **kwargs: Any) -> None:
            calls._call(calls.evictions, f"{namespace}/{name}", "", original_evict, api, namespace, name,
                        *args, **kwargs)

        monkeypatch.setattr(KubeApi, "bind", bind)
        monkeypatch.setattr(KubeApi, "evict", evict)

    def _call(self, into: Dict[str, List[Call]], key: str, target: str, func: Any, *args: Any, **kwargs: Any) -> None:
        call = Call(key, target, time.monotonic(), 0.0, None)  # recorded at once: in-flight attempts count too
        with self.lock:
            into[key].append(call)
        try:
            func(*args, **kwargs)
            call.status = 201
        except ApiError as exc:
            call.status = exc.status
            raise
        finally:
            call.ended = time.monotonic()

    def bind_attempts(self, key: str) -> List[Call]:
        with self.lock:
            return list(self.binds.get(key, []))

    def eviction_attempts(self, key: str) -> List[Call]:
        with self.lock:
            return list(self.evictions.get(key, []))

    def evicted(self) -> Set[str]:
        """Pods an eviction was accepted for (201)."""
        with self.lock:
            return {key for key, calls in self.evictions.items() if any(c.status == 201 for c in calls)}


def backoff_attempt_bound(outage: float, initial: float, maximum: float) -> int:
    """Most binding attempts one pod can make when its bindings fail for `outage` seconds, with the
    per-pod backoff initial*2^(n-1) capped at maximum: the failed ones inside the outage, plus the one
    that succeeds."""
    t, attempts, n = 0.0, 0, 1
    while t < outage:
        attempts += 1
        t += min(maximum, initial * 2 ** (n - 1))
        n += 1
    return attempts + 1


# ------------------------------------------------------------------ the run and its check
@dataclass
class FaultRun:
    cluster: Any
    monitor: StoreMonitor
    calls: ApiCalls
    deleted_by_test: Set[str] = field(default_factory=set)

    @property
    def srv(self) -> FakeApiServer:
        return self.cluster.srv

    def delete(self, name: str, namespace: str = "default", grace: Optional[int] = None) -> None:
        """Delete a pod on behalf of the user (so it is not counted as lost)."""
        self.deleted_by_test.add(f"{namespace}/{name}")
        self.srv.delete("Pod", namespace, name, grace_period_seconds=grace)

    @staticmethod
    def backoff_bound(outage: float, initial: float, maximum: float) -> int:
        return backoff_attempt_bound(outage, initial, maximum)

    # ---- the invariants, each computed from the store
    def _ours(self) -> Dict[str, Dict[str, Any]]:
        return {_key(p): p for p in self.srv.list("Pod")
                if (p.get("spec") or {}).get("schedulerName") == SCHEDULER}

    def _lost(self, must_bind: Set[str], pods: Dict[str, Dict[str, Any]]) -> List[str]:
        """Expected bound but not bound, or vanished without the test deleting or a daemon evicting it."""
        unbound = {k for k in must_bind if not ((pods.get(k) or {}).get("spec") or {}).get("nodeName")}
        with self.monitor.lock:
            vanished = (self.monitor.deleted & self.monitor.ours) - set(pods)
        unexplained = vanished - self.deleted_by_test - self.calls.evicted()
        return sorted(unbound | unexplained)

    def _stale_nominations(self, pods: Dict[str, Dict[str, Any]]) -> List[str]:
        nodes = {(n.get("metadata") or {}).get("name") for n in self.srv.list("Node")}
        stale = []
        for key, pod in pods.items():
            nominated = (pod.get("status") or {}).get("nominatedNodeName")
            if nominated and ((pod.get("spec") or {}).get("nodeName") or nominated not in nodes):
                stale.append(key)
        return sorted(stale)

    def _partial_gangs(self) -> List[str]:
        gangs: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
        for pod in self.srv.list("Pod"):
            meta = pod.get("metadata") or {}
            group = (meta.get("labels") or {}).get(GROUP_LABEL)
            if group and (pod.get("spec") or {}).get("schedulerName") == SCHEDULER:
                gangs[f"{meta.get('namespace')}/{group}"].append(pod)
        partial = []
        for name, members in gangs.items():
            minimum = max((int((m["metadata"].get("annotations") or {}).get(MIN_ANNOTATION, 0) or 0)
                           for m in members), default=0)
            bound = sum(1 for m in members if _occupies(m))
            if 0 < bound < minimum:
                partial.append(f"{name} ({bound}/{minimum})")
        return sorted(partial)

    @staticmethod
    def _alive(daemons: Iterable[Any]) -> Tuple[bool, str]:
        for handle in daemons:
            if not handle.thread.is_alive():
                return False, "serving thread ended"
            ok, why = handle.daemon.healthz()
            if not ok:
                return False, why
        return True, "ok"

    def measure(self, scenario: str, faults: str, must_bind: Iterable[str], daemons: Iterable[Any],
                min_victims: int = 0, max_attempts: Optional[int] = None, settle: float = 15.0,
                namespace: str = "default") -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """The scenario's row (figures) and the details behind it (which pods, nodes, calls)."""
        must = {n if "/" in n else f"{namespace}/{n}" for n in must_bind}
        daemons = list(daemons)
        deadline = time.monotonic() + settle
        while True:  # the eventual invariants: give the last housekeeping rounds a chance
            pods = self._ours()
            if (not self._lost(must, pods) and not self._stale_nominations(pods) and not self._partial_gangs()
                    and self._alive(daemons)[0]) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.monitor.idle()
        pods = self._ours()
        with self.monitor.lock:
            overcommits = dict(self.monitor.overcommits)
        attempts = {k: len(self.calls.bind_attempts(k)) for k in set(pods) | must | set(self.calls.binds)}
        attempts = {k: n for k, n in attempts.items() if n}
        alive, health = self._alive(daemons)
        details: Dict[str, Any] = {
            "lost": self._lost(must, pods),
            "double-bound": sorted(k for k in self.srv.bound_pods() if self.srv.bindings_count(k) > 1),
            "overcommitted": overcommits,
            "victims": sorted(self.calls.evicted()),
            "partial gangs": self._partial_gangs(),
            "stale nominations": self._stale_nominations(pods),
            "health": health,
            "attempts": attempts,
        }
        row = {
            "scenario": scenario, "faults": faults, "pods": len(self.monitor.ours),
            "lost": len(details["lost"]), "double-bound": len(details["double-bound"]),
            "overcommitted": len(overcommits), "victims": len(details["victims"]), "min victims": min_victims,
            "extra victims": len(details["victims"]) - min_victims, "partial gangs": len(details["partial gangs"]),
            "stale nominations": len(details["stale nominations"]), "alive": alive,
            "attempts max": max(attempts.values(), default=0),
            "attempts mean": round(sum(attempts.values()) / len(attempts), 2) if attempts else 0.0,
            "attempts limit": max_attempts,
        }
        return row, details

    def check(self, scenario: str, faults: str, must_bind: Iterable[str], daemons: Iterable[Any],
              min_victims: int = 0, max_attempts: Optional[int] = None, settle: float = 15.0,
              namespace: str = "default") -> Dict[str, Any]:
        """Compute the scenario's row, record it for the table, and assert every invariant."""
        row, details = self.measure(scenario, faults, must_bind, daemons, min_victims, max_attempts, settle, namespace)
        ROWS.append(row)
        assert not details["lost"], f"pods lost: {details['lost']}"
        assert not details["double-bound"], f"pods bound more than once: {details['double-bound']}"
        assert not details["overcommitted"], f"nodes overcommitted: {details['overcommitted']}"
        assert row["extra victims"] == 0, f"victims {details['victims']}, expected {min_victims}"
        assert not details["partial gangs"], f"partial gangs: {details['partial gangs']}"
        assert not details["stale nominations"], f"stale nominations: {details['stale nominations']}"
        assert row["alive"], f"daemon not healthy: {details['health']}"
        if max_attempts is not None:
            worst = {k: n for k, n in details["attempts"].items() if n > max_attempts}
            assert not worst, f"more than {max_attempts} binding attempts: {worst}"
        return row


@pytest.fixture
def run(cluster: Any, monkeypatch: Any) -> Iterator[FaultRun]:
    calls = ApiCalls()
    calls.install(monkeypatch)
    monitor = StoreMonitor(cluster.srv)
    try:
        yield FaultRun(cluster, monitor, calls)
    finally:
        monitor.stop()


# ------------------------------------------------------------------ the table
COLUMNS = ("scenario", "faults", "pods", "lost", "double-bound", "overcommitted", "victims", "extra victims",
           "partial gangs", "stale nominations", "alive", "attempts max", "attempts mean", "attempts limit")


def format_table(rows: List[Dict[str, Any]]) -> List[str]:
    header = list(COLUMNS)
    body = [[str(row.get(c, "")) if row.get(c) is not None else "-" for c in COLUMNS] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in body]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    terminalreporter.write_sep("=", "fault suite: invariants per scenario")
    for line in format_table(ROWS):
        terminalreporter.write_line(line)
