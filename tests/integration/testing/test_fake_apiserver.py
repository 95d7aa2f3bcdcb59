"""The stand-in kube-apiserver, exercised through the real ``kubernetes`` client."""
from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any, Dict, List

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from scheduler.testing import FakeApiServer, NodeAgent, make_node


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def pod(name: str, labels: Dict[str, str] = None, grace: int = 1) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
            "spec": {"schedulerName": "preemptive-scheduler",
                     "terminationGracePeriodSeconds": grace,
                     "containers": [{"name": "c", "image": "busybox"}]}}


def binding(name: str, node: str) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


def raw(resp: Any) -> Any:
    return json.loads(resp.data)


def stream_events(core: client.CoreV1Api, stop_after: int, timeout: float = 5.0,
                  **kw: Any) -> List[Dict[str, Any]]:
    resp = core.list_namespaced_pod("default", watch=True, _preload_content=False,
                                    timeout_seconds=int(timeout), **kw)
    out: List[Dict[str, Any]] = []
    buf = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                out.append(json.loads(line))
        if len(out) >= stop_after:
            break
    resp.release_conn()
    return out


def wait_for(pred: Any, timeout: float = 5.0) -> Any:
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_discovery_and_version(core: client.CoreV1Api, api_client: client.ApiClient) -> None:
    ver = client.VersionApi(api_client).get_code()
    assert ver.major == "1"
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"policy", "coordination.k8s.io", "events.k8s.io", "scheduling.x-k8s.io"} <= groups
    names = {r.name for r in core.get_api_resources().resources}
    assert {"pods", "pods/binding", "pods/eviction", "pods/status", "nodes"} <= names


def test_list_then_watch_from_rv_sees_later_changes(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("a"))
    lst = raw(core.list_namespaced_pod("default", _preload_content=False))
    assert lst["kind"] == "PodList" and [p["metadata"]["name"] for p in lst["items"]] == ["a"]
    rv = lst["metadata"]["resourceVersion"]

    def later() -> None:
        time.sleep(0.1)
        srv.create(pod("b"))
        srv.delete("Pod", "default", "a")

    threading.Thread(target=later).start()
    evs = stream_events(core, 2, resource_version=rv)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [("ADDED", "b"), ("DELETED", "a")]
    assert int(evs[1]["object"]["metadata"]["resourceVersion"]) > int(rv)


def test_watch_from_zero_gets_synthetic_added_and_field_selector(srv: FakeApiServer,
                                                                 core: client.CoreV1Api) -> None:
    srv.create(pod("x"))
    srv.create(make_node("n1"))
    evs = stream_events(core, 1, resource_version="0")
    assert evs[0]["type"] == "ADDED" and evs[0]["object"]["metadata"]["name"] == "x"
    # a pod leaving the selector is seen as DELETED by that watch
    threading.Thread(target=lambda: (time.sleep(0.1), core.create_namespaced_pod_binding(
        "x", "default", binding("x", "n1"), _preload_content=False))).start()
    evs = stream_events(core, 2, resource_version="0", field_selector="spec.nodeName=")
    assert [e["type"] for e in evs] == ["ADDED", "DELETED"]
    lst = raw(core.list_namespaced_pod("default", field_selector="spec.nodeName=n1",
                                       _preload_content=False))
    assert [p["metadata"]["name"] for p in lst["items"]] == ["x"]


def test_bookmarks_arrive(core: client.CoreV1Api) -> None:
    evs = stream_events(core, 2, resource_version="0", allow_watch_bookmarks=True)
    assert [e["type"] for e in evs] == ["BOOKMARK", "BOOKMARK"]
    assert set(evs[0]["object"]["metadata"]) == {"resourceVersion"}


def test_expired_history_gives_410_error_event(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    rv = raw(core.list_namespaced_pod("default", _preload_content=False))["metadata"]["resourceVersion"]
    srv.create(pod("a"))
    srv.faults.expire_history()
    resp = core.list_namespaced_pod("default", watch=True, resource_version=rv,
                                    _preload_content=False, timeout_seconds=5)
    assert resp.status == 200
    ev = json.loads(resp.data.strip())
    assert ev["type"] == "ERROR"
    assert ev["object"]["code"] == 410 and ev["object"]["reason"] == "Expired"
    assert ev["object"]["message"].startswith("too old resource version")


def test_drop_watches_ends_stream(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    resp = core.list_namespaced_pod("default", watch=True, _preload_content=False, timeout_seconds=10)
    wait_for(lambda: srv.watcher_count("pods") == 1)
    t0 = time.time()
    srv.faults.drop_watches()
    assert resp.data == b""
    assert time.time() - t0 < 2


def test_binding(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("p"))
    r = core.create_namespaced_pod_binding("p", "default", binding("p", "n1"), _preload_content=False)
    assert r.status == 201
    assert raw(r) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    p = srv.get("Pod", "default", "p")
    assert p["spec"]["nodeName"] == "n1"
    assert {"type": "PodScheduled", "status": "True"}.items() <= p["status"]["conditions"][0].items()
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod_binding("p", "default", binding("p", "n2"), _preload_content=False)
    assert e.value.status == 409
    st = json.loads(e.value.body)
    assert st["kind"] == "Status" and st["reason"] == "Conflict"
    assert 'pod p is already assigned to node "n1"' in st["message"]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod_binding("nope", "default", binding("nope", "n1"), _preload_content=False)
    assert e.value.status == 404 and json.loads(e.value.body)["reason"] == "NotFound"
    assert srv.bindings_count("default/p") == 1
    assert [b["node"] for b in srv.bindings] == ["n1"]


def test_post_without_content_type(srv: FakeApiServer) -> None:
    srv.create(pod("p"))
    conn = http.client.HTTPConnection("127.0.0.1", srv.port)
    body = json.dumps(binding("p", "n1")).encode()
    conn.putrequest("POST", "/api/v1/namespaces/default/pods/p/binding", skip_accept_encoding=True)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    assert r.status == 201 and json.loads(r.read())["status"] == "Success"
    # keep-alive: the same connection serves the next request; bad JSON is a 400 Status
    conn.request("POST", "/api/v1/namespaces/default/pods", body=b"{nope")
    r = conn.getresponse()
    st = json.loads(r.read())
    assert r.status == 400 and st["kind"] == "Status" and st["status"] == "Failure"
    # valid JSON that is not an object is a 400 too, as on a real kube-apiserver (not a 500)
    for not_an_object in (b"[1, 2]", b'"pod"', b"null"):
        conn.request("POST", "/api/v1/namespaces/default/pods", body=not_an_object)
        r = conn.getresponse()
        assert r.status == 400 and json.loads(r.read())["status"] == "Failure"
    conn.request("GET", "/api/v1/nothing-here")
    r = conn.getresponse()
    assert r.status == 404 and json.loads(r.read())["code"] == 404
    conn.close()


def _eviction(name: str) -> Dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": name, "namespace": "default"},
            "deleteOptions": {"gracePeriodSeconds": 1}}


def test_eviction_pdb_and_node_agent(srv: FakeApiServer, core: client.CoreV1Api,
                                     api_client: client.ApiClient) -> None:
    agent = NodeAgent(srv).start()
    try:
        srv.create(make_node("n1"))
        for n in ("a", "b"):
            core.create_namespaced_pod("default", pod(n, {"app": "web"}))
            core.create_namespaced_pod_binding(n, "default", binding(n, "n1"), _preload_content=False)
        wait_for(lambda: all(srv.get("Pod", "default", n)["status"]["phase"] == "Running" for n in "ab"))
        p = srv.get("Pod", "default", "a")
        assert p["status"]["startTime"] and p["status"]["hostIP"]
        assert {"type": "Ready", "status": "True"}.items() <= \
            [c for c in p["status"]["conditions"] if c["type"] == "Ready"][0].items()

        policy = client.PolicyV1Api(api_client)
        policy.create_namespaced_pod_disruption_budget("default", {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
        pdb = raw(policy.read_namespaced_pod_disruption_budget("web", "default", _preload_content=False))
        assert pdb["status"]["disruptionsAllowed"] == 1 and pdb["status"]["currentHealthy"] == 2

        r = core.create_namespaced_pod_eviction("a", "default", _eviction("a"), _preload_content=False)
        assert r.status == 201 and raw(r)["status"] == "Success"
        assert srv.get("Pod", "default", "a")["metadata"]["deletionTimestamp"]
        assert srv.get("PodDisruptionBudget", "default", "web")["status"]["disruptionsAllowed"] == 0

        with pytest.raises(ApiException) as e:
            core.create_namespaced_pod_eviction("b", "default", _eviction("b"), _preload_content=False)
        st = json.loads(e.value.body)
        assert e.value.status == 429 and st["reason"] == "TooManyRequests"
        assert "disruption budget" in st["message"]

        # the agent completes the graceful deletion after the grace period
        wait_for(lambda: srv.get("Pod", "default", "a") is None, timeout=4)
        with pytest.raises(ApiException) as e:
            core.create_namespaced_pod_eviction("a", "default", _eviction("a"), _preload_content=False)
        assert e.value.status == 404
    finally:
        agent.stop()


def test_delete_unbound_pod_is_immediate(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    srv.create(pod("p", grace=30))
    core.delete_namespaced_pod("p", "default", _preload_content=False)
    assert srv.get("Pod", "default", "p") is None


def test_status_strategic_merge_patch(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    srv.create(pod("p"))
    core.create_namespaced_pod_binding("p", "default", binding("p", "n1"), _preload_content=False)
    before = srv.get("Pod", "default", "p")
    patch = {"status": {"nominatedNodeName": "n2",
                        "conditions": [{"type": "PodScheduled", "status": "False",
                                        "reason": "Unschedulable", "message": "0/1 nodes"},
                                       {"type": "DisruptionTarget", "status": "True"}]}}
    core.patch_namespaced_pod_status("p", "default", patch, _preload_content=False)
    p = srv.get("Pod", "default", "p")
    conds = {c["type"]: c for c in p["status"]["conditions"]}
    assert len(p["status"]["conditions"]) == 2
    assert conds["PodScheduled"]["status"] == "False" and conds["PodScheduled"]["reason"] == "Unschedulable"
    assert "lastTransitionTime" in conds["PodScheduled"]       # merged, not replaced
    assert p["status"]["nominatedNodeName"] == "n2"
    assert int(p["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    core.patch_namespaced_pod_status("p", "default", {"status": {"nominatedNodeName": None}},
                                     _preload_content=False)
    assert "nominatedNodeName" not in srv.get("Pod", "default", "p")["status"]
    core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"x": "y"}}}, _preload_content=False)
    assert srv.get("Pod", "default", "p")["metadata"]["labels"] == {"x": "y"}


def _lease(name: str, renew: str) -> Dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                     "acquireTime": renew, "renewTime": renew}}


def test_lease_optimistic_concurrency_and_microtime(api_client: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(api_client)
    good = "2026-01-02T03:04:05.123456Z"
    created = raw(coord.create_namespaced_lease("kube-system", _lease("l", good), _preload_content=False))
    rv = created["metadata"]["resourceVersion"]
    # (the client re-serialises datetime-looking strings with isoformat(), which drops
    # an all-zero fraction: ".000000" would reach the server as "...:06+00:00" -> 422)
    upd = dict(_lease("l", "2026-01-02T03:04:06.000001Z"))
    upd["metadata"] = dict(upd["metadata"], resourceVersion=rv)
    coord.replace_namespaced_lease("l", "kube-system", upd, _preload_content=False)
    with pytest.raises(ApiException) as e:     # rv is now stale
        coord.replace_namespaced_lease("l", "kube-system", upd, _preload_content=False)
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "Conflict"
    with pytest.raises(ApiException) as e:
        coord.create_namespaced_lease("kube-system", _lease("m", "2026-01-02T03:04:05Z"),
                                      _preload_content=False)
    assert e.value.status == 422 and json.loads(e.value.body)["reason"] == "Invalid"


def test_events_and_podgroups(srv: FakeApiServer, api_client: client.ApiClient) -> None:
    ev = client.EventsV1Api(api_client)
    ev.create_namespaced_event("default", {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
        "eventTime": "2026-01-02T03:04:05.123456Z", "reportingController": "preemptive-scheduler",
        "reportingInstance": "x", "action": "Scheduling", "reason": "Scheduled", "type": "Normal",
        "note": "bound", "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}},
        _preload_content=False)
    ev.patch_namespaced_event("e1", "default", {"series": {"count": 2,
                                                           "lastObservedTime": "2026-01-02T03:04:06.123456Z"}},
                              _preload_content=False)
    assert [e["series"]["count"] for e in srv.events()] == [2]

    custom = client.CustomObjectsApi(api_client)
    body = {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
            "metadata": {"name": "g"}, "spec": {"minMember": 3}}
    custom.create_namespaced_custom_object("scheduling.x-k8s.io", "v1alpha1", "default", "podgroups", body)
    got = custom.get_namespaced_custom_object("scheduling.x-k8s.io", "v1alpha1", "default", "podgroups", "g")
    assert got["spec"]["minMember"] == 3
    srv.podgroup_crd_installed = False
    with pytest.raises(ApiException) as e:
        custom.list_namespaced_custom_object("scheduling.x-k8s.io", "v1alpha1", "default", "podgroups")
    assert e.value.status == 404


def test_fail_next_injects_500(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    srv.create(pod("p"))
    srv.faults.fail_next("POST", r"/pods/[^/]+/binding$", 500)
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod_binding("p", "default", binding("p", "n1"), _preload_content=False)
    assert e.value.status == 500 and json.loads(e.value.body)["kind"] == "Status"
    r = core.create_namespaced_pod_binding("p", "default", binding("p", "n1"), _preload_content=False)
    assert r.status == 201


def test_concurrent_binds_of_one_pod_bind_once(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    srv.create(pod("p"))
    codes: List[int] = []

    def bind(i: int) -> None:
        try:
            codes.append(core.create_namespaced_pod_binding(
                "p", "default", binding("p", f"n{i}"), _preload_content=False).status)
        except ApiException as e:
            codes.append(e.status)

    ts = [threading.Thread(target=bind, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(codes) == [201] + [409] * 7
    assert srv.bindings_count("default/p") == 1


def test_crud_semantics(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    created = raw(core.create_namespaced_pod("default", pod("p"), _preload_content=False))
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    assert created["status"]["phase"] == "Pending"
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod("default", pod("p"), _preload_content=False)
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "AlreadyExists"
    gen = dict(pod(""), metadata={"generateName": "web-"})
    assert raw(core.create_namespaced_pod("default", gen, _preload_content=False))["metadata"]["name"].startswith("web-")
    # the pod spec is immutable apart from a few fields, like the real server
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_pod("p", "default", {"spec": {"nodeName": "n1"}}, _preload_content=False)
    assert e.value.status == 422
    # stale resourceVersion on PUT
    stale = dict(created)
    core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"a": "b"}}}, _preload_content=False)
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_pod("p", "default", stale, _preload_content=False)
    assert e.value.status == 409
    # JSON patch
    core.patch_namespaced_pod("p", "default", [{"op": "add", "path": "/metadata/annotations",
                                                "value": {"k": "v"}}], _preload_content=False)
    assert srv.get("Pod", "default", "p")["metadata"]["annotations"] == {"k": "v"}
    # python API
    n = srv.create(make_node("n1"))
    n["metadata"]["labels"]["zone"] = "z1"
    srv.update(n)
    assert srv.get("Node", None, "n1")["metadata"]["labels"]["zone"] == "z1"
    assert [x["metadata"]["name"] for x in srv.list("Node")] == ["n1"]
    srv.delete("Node", None, "n1")
    assert srv.get("Node", None, "n1") is None


def test_selectors_and_paging(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    for i in range(5):
        srv.create(pod(f"p{i}", {"tier": "a" if i < 3 else "b", "i": str(i)}))
    names = lambda r: [p["metadata"]["name"] for p in raw(r)["items"]]  # noqa: E731
    assert names(core.list_namespaced_pod("default", label_selector="tier=a,i!=1",
                                          _preload_content=False)) == ["p0", "p2"]
    assert names(core.list_namespaced_pod("default", label_selector="i in (3, 4)",
                                          _preload_content=False)) == ["p3", "p4"]
    assert names(core.list_pod_for_all_namespaces(field_selector="metadata.name=p1",
                                                  _preload_content=False)) == ["p1"]
    got: List[str] = []
    cont = None
    while True:
        page = raw(core.list_namespaced_pod("default", limit=2, _continue=cont, _preload_content=False))
        got += [p["metadata"]["name"] for p in page["items"]]
        cont = page["metadata"].get("continue")
        if not cont:
            break
    assert got == [f"p{i}" for i in range(5)]


def test_pdb_percent_and_unhealthy_pods(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    agent = NodeAgent(srv, start_delay=0.0).start()
    try:
        for i in range(4):
            srv.create(pod(f"w{i}", {"app": "w"}))
        for i in range(3):
            core.create_namespaced_pod_binding(f"w{i}", "default", binding(f"w{i}", "n1"),
                                               _preload_content=False)
        srv.create({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "w"},
                    "spec": {"maxUnavailable": "50%",
                             "selector": {"matchExpressions": [{"key": "app", "operator": "In",
                                                                "values": ["w"]}]}}})
        wait_for(lambda: srv.get("PodDisruptionBudget", "default", "w")["status"]["currentHealthy"] == 3)
        st = srv.get("PodDisruptionBudget", "default", "w")["status"]
        assert (st["expectedPods"], st["desiredHealthy"], st["disruptionsAllowed"]) == (4, 2, 1)
        # a Pending (unbound) pod is not protected by the budget
        assert core.create_namespaced_pod_eviction("w3", "default", _eviction("w3"),
                                                   _preload_content=False).status == 201
        assert srv.get("Pod", "default", "w3") is None
    finally:
        agent.stop()


def test_watch_sees_binding_and_send_initial_events(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    srv.create(pod("p"))
    resp = core.list_namespaced_pod("default", watch=True, send_initial_events=True,
                                    resource_version_match="NotOlderThan", allow_watch_bookmarks=True,
                                    _preload_content=False, timeout_seconds=5)
    lines = iter(resp)
    first = json.loads(next(lines))
    assert first["type"] == "ADDED"
    bm = json.loads(next(lines))
    assert bm["type"] == "BOOKMARK"
    assert bm["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    core.create_namespaced_binding("default", binding("p", "n1"), _preload_content=False)
    ev = json.loads(next(lines))
    assert ev["type"] == "MODIFIED" and ev["object"]["spec"]["nodeName"] == "n1"
    resp.close()


def test_delay_fault(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    srv.faults.delay(0.3, r"^/api/v1/nodes$")
    t0 = time.time()
    assert core.list_node(_preload_content=False).data
    assert time.time() - t0 >= 0.3
    srv.faults.clear()
    srv.faults.fail_next(None, r"/nodes", 429, count=2)
    for _ in range(2):
        with pytest.raises(ApiException) as e:
            core.list_node(_preload_content=False)
        assert e.value.status == 429
    assert core.list_node(_preload_content=False).status == 200


def test_closed_watch_is_unregistered(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    resp = core.list_namespaced_pod("default", watch=True, _preload_content=False, timeout_seconds=30)
    wait_for(lambda: srv.watcher_count("pods") == 1)
    resp.close()
    wait_for(lambda: srv.watcher_count("pods") == 0, timeout=3)


def test_delete_collection(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    for i in range(3):
        srv.create(pod(f"p{i}", {"x": "1" if i else "0"}))
    core.delete_collection_namespaced_pod("default", label_selector="x=1", _preload_content=False)
    assert [p["metadata"]["name"] for p in srv.list("Pod")] == ["p0"]


def test_cli_runs_out_of_process(tmp_path: Any) -> None:
    import signal
    import subprocess
    import sys

    kc = str(tmp_path / "kc")
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.testing.apiserver", "--port", "0",
                             "--kubeconfig-out", kc, "--node-agent", "--nodes", "2",
                             "--node-cpu", "8", "--node-memory", "16Gi"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        core = client.CoreV1Api(config.new_client_from_config(kc))
        nodes = raw(core.list_node(_preload_content=False))["items"]
        assert [n["status"]["allocatable"]["cpu"] for n in nodes] == ["8", "8"]
        core.create_namespaced_pod("default", pod("p"), _preload_content=False)
        core.create_namespaced_pod_binding("p", "default", binding("p", "node-0"), _preload_content=False)
        wait_for(lambda: raw(core.read_namespaced_pod("p", "default", _preload_content=False))
                 ["status"]["phase"] == "Running")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""


def test_pdb_status_tracks_pod_churn(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    srv.create({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "b"},
                "spec": {"minAvailable": "60%", "selector": {"matchLabels": {"app": "b"}}}})
    agent = NodeAgent(srv).start()
    try:
        for i in range(6):
            srv.create(pod(f"b{i}", {"app": "b"}))
            core.create_namespaced_pod_binding(f"b{i}", "default", binding(f"b{i}", "n1"),
                                               _preload_content=False)
        wait_for(lambda: srv.get("PodDisruptionBudget", "default", "b")["status"]["currentHealthy"] == 6)
        core.patch_namespaced_pod("b0", "default", {"metadata": {"labels": {"app": "other"}}},
                                  _preload_content=False)
        core.delete_namespaced_pod("b1", "default", grace_period_seconds=0, _preload_content=False)
        core.delete_namespaced_pod("b2", "default", grace_period_seconds=1, _preload_content=False)
        st = srv.get("PodDisruptionBudget", "default", "b")["status"]
        assert (st["expectedPods"], st["currentHealthy"], st["desiredHealthy"],
                st["disruptionsAllowed"]) == (4, 3, 3, 0)
        wait_for(lambda: srv.get("Pod", "default", "b2") is None)
        st = srv.get("PodDisruptionBudget", "default", "b")["status"]
        assert (st["expectedPods"], st["currentHealthy"], st["desiredHealthy"]) == (3, 3, 2)
    finally:
        agent.stop()
