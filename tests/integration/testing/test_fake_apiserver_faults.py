"""Fault injection in the stand-in kube-apiserver: restarts and binds whose answer is lost."""
from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any, Dict, Iterator, List, Optional

import pytest
import urllib3
from kubernetes import client, config

from scheduler.k8s.api import ApiError, KubeApi
from scheduler.testing import FakeApiServer, NodeAgent, make_node

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def srv() -> Iterator[FakeApiServer]:
    s = FakeApiServer(bookmark_interval=0.2).start()
    s.create(make_node("n1"))
    yield s
    s.stop()


@pytest.fixture
def kubeconfig(srv: FakeApiServer, tmp_path: Any) -> str:
    return srv.write_kubeconfig(str(tmp_path / "kubeconfig"))


@pytest.fixture
def core(kubeconfig: str) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(kubeconfig))


@pytest.fixture
def kube(kubeconfig: str) -> KubeApi:
    return KubeApi.from_kubeconfig(kubeconfig)


def pod(name: str) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "c", "image": "pause"}]}}


def binding(name: str, node: str = "n1") -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


def node_of(srv: FakeApiServer, name: str) -> str:
    return ((srv.get("Pod", "default", name) or {}).get("spec") or {}).get("nodeName") or ""


def wait_for(pred: Any, timeout: float = 5.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def list_rv(kube: KubeApi) -> int:
    return int(kube.request("GET", PODS)["metadata"]["resourceVersion"])


class WatchRecorder:
    """Runs KubeApi.watch (the informer's path) in a thread; records events and how it ended."""

    def __init__(self, kube: KubeApi, rv: int) -> None:
        self.events: queue.Queue[Dict[str, Any]] = queue.Queue()
        self.ended = threading.Event()
        self.error: Optional[ApiError] = None
        threading.Thread(target=self._run, args=(kube, rv), daemon=True).start()

    def _run(self, kube: KubeApi, rv: int) -> None:
        try:
            for ev in kube.watch(PODS, str(rv), timeout_seconds=30):
                self.events.put(ev)
        except ApiError as exc:
            self.error = exc
        finally:
            self.ended.set()

    def next(self) -> Dict[str, Any]:
        return self.events.get(timeout=5)


# --------------------------------------------------------------------------- restart

def test_restart_keeps_store_and_resource_version_monotonic(srv: FakeApiServer, kube: KubeApi) -> None:
    srv.create(pod("a"))
    kube.bind("default", "a", "n1")
    port, rv_before, counts = srv.port, list_rv(kube), dict(srv.request_counts)

    srv.restart()

    assert srv.serving and srv.port == port
    listed = kube.request("GET", PODS)
    assert [p["metadata"]["name"] for p in listed["items"]] == ["a"]
    assert int(listed["metadata"]["resourceVersion"]) >= rv_before
    assert node_of(srv, "a") == "n1" and srv.bindings_count("default/a") == 1
    assert srv.request_counts[("POST", "pods/binding")] == counts[("POST", "pods/binding")]
    created = kube.request("POST", PODS, body=pod("b"))
    assert int(created["metadata"]["resourceVersion"]) > int(listed["metadata"]["resourceVersion"])
    with pytest.raises(RuntimeError):
        srv.start()   # already running


def test_watch_breaks_on_restart_and_resuming_gets_410(srv: FakeApiServer, kube: KubeApi) -> None:
    rv = list_rv(kube)
    watch = WatchRecorder(kube, rv)
    wait_for(lambda: srv.watcher_count("pods") == 1)
    srv.create(pod("a"))
    last_rv = int(watch.next()["object"]["metadata"]["resourceVersion"])

    srv.restart()

    assert watch.ended.wait(5), "the watch stream of the old instance must end"
    assert srv.watcher_count("pods") == 0
    resumed = list(kube.watch(PODS, str(last_rv), timeout_seconds=5))
    assert [e["type"] for e in resumed] == ["ERROR"]
    status = resumed[0]["object"]
    assert (status["code"], status["reason"]) == (410, "Expired")
    assert status["message"].startswith("too old resource version")
    # relist, then watch from the list's RV: works again and sees new changes
    watch = WatchRecorder(kube, list_rv(kube))
    wait_for(lambda: srv.watcher_count("pods") == 1)
    srv.create(pod("b"))
    ev = watch.next()
    assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "b")


def test_clients_bind_after_restart_and_node_agent_keeps_working(
        srv: FakeApiServer, core: client.CoreV1Api, kube: KubeApi) -> None:
    agent = NodeAgent(srv).start()
    try:
        for name in ("a", "b"):
            srv.create(pod(name))
        # both clients hold pooled keep-alive connections to the old instance
        assert core.list_node(_preload_content=False).status == 200
        kube.request("GET", "/api/v1/nodes")

        srv.restart()

        r = core.create_namespaced_pod_binding("a", "default", binding("a"), _preload_content=False)
        assert r.status == 201 and json.loads(r.data)["status"] == "Success"
        kube.bind("default", "b", "n1")
        assert [b["pod"] for b in srv.bindings] == ["default/a", "default/b"]
        wait_for(lambda: all(srv.get("Pod", "default", n)["status"]["phase"] == "Running" for n in "ab"))
    finally:
        agent.stop()


def test_restart_down_for_refuses_connections_while_down(srv: FakeApiServer, kube: KubeApi,
                                                         core: client.CoreV1Api) -> None:
    restarter = threading.Thread(target=srv.restart, kwargs={"down_for": 0.5})
    restarter.start()
    wait_for(lambda: not srv.serving)
    with pytest.raises(ApiError) as err:
        kube.request("GET", PODS)
    assert err.value.status == 0 and "refused" in err.value.message
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.list_node(_preload_content=False)
    restarter.join(5)
    assert srv.serving and kube.request("GET", PODS)["kind"] == "PodList"


def test_stop_then_start_later_serves_changes_made_while_down(srv: FakeApiServer, kube: KubeApi) -> None:
    srv.stop()
    with pytest.raises(ApiError):
        kube.request("GET", PODS)
    srv.create(pod("made-while-down"))   # the Python API works while HTTP is down
    srv.start()
    assert [p["metadata"]["name"] for p in kube.request("GET", PODS)["items"]] == ["made-while-down"]


# --------------------------------------------------------------------------- hang_after_apply

def test_bind_applied_but_answer_times_out(srv: FakeApiServer, kube: KubeApi) -> None:
    for name in ("a", "b"):
        srv.create(pod(name))
    rv = list_rv(kube)
    srv.faults.hang_after_apply(r"/pods/[^/]+/binding$", seconds=10)

    with pytest.raises(ApiError) as err:
        kube.request("POST", f"{PODS}/a/binding", body=binding("a"), read_timeout=0.3)

    assert err.value.status == 0 and "timed out" in err.value.message.lower()
    assert node_of(srv, "a") == "n1" and srv.bindings_count("default/a") == 1
    events: List[Dict[str, Any]] = []
    for ev in kube.watch(PODS, str(rv), timeout_seconds=1):   # watchers saw the bind
        events.append(ev)
        if ev["type"] != "BOOKMARK":
            break
    assert events[-1]["type"] == "MODIFIED" and events[-1]["object"]["spec"]["nodeName"] == "n1"
    # the retry the caller would make learns the truth; count=1 so it is answered
    with pytest.raises(ApiError) as err:
        kube.bind("default", "a", "n1")
    assert err.value.status == 409 and 'already assigned to node "n1"' in err.value.message
    kube.bind("default", "b", "n1")
    assert srv.bindings_count("default/a") == srv.bindings_count("default/b") == 1


def test_hang_after_apply_zero_closes_at_once_for_count_requests(srv: FakeApiServer,
                                                                 core: client.CoreV1Api) -> None:
    for name in ("a", "b", "c"):
        srv.create(pod(name))
    srv.faults.hang_after_apply(r"^/api/v1/namespaces/default/pods", seconds=0, count=2, method="POST")

    assert core.list_namespaced_pod("default", _preload_content=False).status == 200   # GET unaffected
    for name in ("a", "b"):
        with pytest.raises(urllib3.exceptions.ProtocolError):
            core.create_namespaced_pod_binding(name, "default", binding(name), _preload_content=False)
    r = core.create_namespaced_pod_binding("c", "default", binding("c"), _preload_content=False)

    assert r.status == 201
    assert [node_of(srv, n) for n in "abc"] == ["n1", "n1", "n1"]
    assert [b["pod"] for b in srv.bindings] == ["default/a", "default/b", "default/c"]


def test_stop_releases_a_held_answer(srv: FakeApiServer, kube: KubeApi) -> None:
    srv.create(pod("a"))
    srv.faults.hang_after_apply(r"/binding$", seconds=60)
    errors: queue.Queue[ApiError] = queue.Queue()

    def bind() -> None:
        try:
            kube.bind("default", "a", "n1")
        except ApiError as exc:
            errors.put(exc)

    threading.Thread(target=bind, daemon=True).start()
    wait_for(lambda: srv.bindings_count("default/a") == 1)
    srv.stop()
    assert errors.get(timeout=5).status == 0   # a connection error, not a 60 s wait
