"""Fixtures for integration tests that run the daemon over HTTP against the stand-in kube-apiserver.

- ``cluster``: a started ``FakeApiServer`` + ``NodeAgent`` and a kubeconfig in tmp_path;
- ``start_daemon(cluster, **config)``: a ``Daemon`` running ``serve()`` in a background thread,
  talking to the server through the real ``kubernetes`` transport; stopped at teardown;
- ``wait_until(predicate, timeout)`` (fixture; the function is ``poll_until``): poll until the
  predicate holds and return its value, failing the test on timeout.

Test modules use these only through fixtures (no ``import conftest``: several conftest modules
exist under tests/).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from scheduler.config import load_config
from scheduler.daemon import Daemon
from scheduler.k8s.api import KubeApi, pool_size_for
from scheduler.testing import FakeApiServer, NodeAgent, make_node

SCHEDULER = "preemptive-scheduler"
PRIORITY_ANNOTATION = "scheduler.alpha.kubernetes.io/priority"


def poll_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
               message: str = "") -> Any:
    """Poll `predicate` until it returns a truthy value; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {message or getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    return poll_until


@dataclass
class Cluster:
    srv: FakeApiServer
    agent: NodeAgent
    kubeconfig: str
    daemons: List[Daemon] = field(default_factory=list)  # started on this cluster (their Events are posted async)

    # ---- object builders / shortcuts
    def add_nodes(self, count: int, cpu: str = "4", memory: str = "16Gi", prefix: str = "node") -> List[str]:
        names = [f"{prefix}-{i}" for i in range(count)]
        for name in names:
            self.srv.create(make_node(name, cpu=cpu, memory=memory))
        return names

    def add_pod(self, name: str, cpu: str = "1", memory: str = "1Gi", scheduler: str = SCHEDULER,
                priority: Optional[Any] = None, node: str = "", labels: Optional[Dict[str, str]] = None,
                grace: int = 0, namespace: str = "default") -> Dict[str, Any]:
        self.srv.create(pod_object(name, cpu, memory, scheduler, priority, node, labels, grace, namespace))
        return self.pod(name, namespace)

    def pod(self, name: str, namespace: str = "default") -> Optional[Dict[str, Any]]:
        return self.srv.get("Pod", namespace, name)

    def node_of(self, name: str, namespace: str = "default") -> str:
        pod = self.pod(name, namespace)
        return ((pod or {}).get("spec") or {}).get("nodeName") or ""

    def bound(self, names: List[str]) -> List[str]:
        return [n for n in names if self.node_of(n)]

    def events_for(self, name: str, reason: Optional[str] = None, namespace: str = "default") -> List[Dict[str, Any]]:
        """events.k8s.io/v1 Events about pod `name` (optionally with `reason`), once every running daemon's
        API calls in flight have finished and its queued Events are posted (they are posted off the bind path,
        like kube's event broadcaster; a binding is visible in the API before its worker records the Event)."""
        for daemon in self.daemons:
            daemon.actuator.drain(5.0)
            daemon.recorder.flush(5.0)
        out = []
        for ev in self.srv.events():
            regarding = ev.get("regarding") or {}
            if ev.get("apiVersion") != "events.k8s.io/v1":
                continue
            if regarding.get("name") == name and regarding.get("namespace", namespace) == namespace and \
                    (reason is None or ev.get("reason") == reason):
                out.append(ev)
        return out

    def scheduled_condition(self, name: str) -> Dict[str, Any]:
        pod = self.pod(name) or {}
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled":
                return cond
        return {}

    def lease(self, namespace: str = "default", name: str = SCHEDULER) -> Optional[Dict[str, Any]]:
        return self.srv.get("Lease", namespace, name)


def pod_object(name: str, cpu: str = "1", memory: str = "1Gi", scheduler: str = SCHEDULER,
               priority: Optional[Any] = None, node: str = "", labels: Optional[Dict[str, str]] = None,
               grace: int = 0, namespace: str = "default") -> Dict[str, Any]:
    annotations = {} if priority is None else {PRIORITY_ANNOTATION: str(priority)}
    spec: Dict[str, Any] = {
        "schedulerName": scheduler,
        "terminationGracePeriodSeconds": grace,
        "containers": [{"name": "c", "image": "pause",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
    }
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {"app": "test"}),
                         "annotations": annotations},
            "spec": spec, "status": {"phase": "Pending"}}


@pytest.fixture
def cluster(tmp_path: Any) -> Iterator[Cluster]:
    srv = FakeApiServer(bookmark_interval=1.0).start()
    kubeconfig = srv.write_kubeconfig(str(tmp_path / "kubeconfig"))
    agent = NodeAgent(srv).start()
    try:
        yield Cluster(srv, agent, kubeconfig)
    finally:
        agent.stop()
        srv.stop()


@dataclass
class RunningDaemon:
    daemon: Daemon
    thread: threading.Thread
    stopped: bool = field(default=False)

    @property
    def metrics(self) -> Any:
        return self.daemon.metrics

    def sample(self, name: str, **labels: str) -> float:
        """Current value of one of this daemon's metrics (0 when never set)."""
        value = self.daemon.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    def stop(self) -> None:
        """Clean shutdown: finish in-flight calls, release the Lease."""
        if self.stopped:
            return
        self.stopped = True
        self.daemon.shutdown()
        self.thread.join(5)

    def kill(self) -> None:
        """Like a SIGKILL: stop acting at once and do NOT release the Lease."""
        if self.stopped:
            return
        self.stopped = True
        self.daemon.stop.set()
        if self.daemon.elector is not None:
            self.daemon.elector.stop(release=False)
        self.daemon.actuator.shutdown(2.0)
        self.thread.join(5)


def daemon_config(cluster: Cluster, **overrides: Any) -> Any:
    flags: Dict[str, Any] = {
        "kubeconfig": cluster.kubeconfig,
        "metrics_port": 0,
        "leader_elect": False,
        "leader_elect_namespace": "default",
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
        "bind_workers": 4,
    }
    flags.update(overrides)
    return load_config(flags, env={})


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., RunningDaemon]]:
    running: List[RunningDaemon] = []

    def start(cluster: Cluster, wait_synced: bool = True, **overrides: Any) -> RunningDaemon:
        config = daemon_config(cluster, **overrides)
        daemon = Daemon(config, KubeApi.from_kubeconfig(cluster.kubeconfig, pool_size=pool_size_for(config.bind_workers)))
        daemon.start()
        thread = threading.Thread(target=daemon.serve, name="daemon-serve", daemon=True)
        thread.start()
        handle = RunningDaemon(daemon, thread)
        running.append(handle)
        cluster.daemons.append(daemon)
        if wait_synced:
            poll_until(lambda: daemon.synced, 10, message="daemon caches to sync")
        return handle

    yield start
    for handle in running:
        handle.stop()
