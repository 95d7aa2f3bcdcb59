"""spec.schedulingGates end to end: the daemon leaves a gated pod alone until a `kubectl patch` removes its gates."""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py


def _gated_pod(cluster: Cluster, name: str, *gates: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default", "labels": {"app": "test"}},
           "spec": {"schedulerName": "preemptive-scheduler", "terminationGracePeriodSeconds": 0,
                    "schedulingGates": [{"name": g} for g in gates],
                    "containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": "1"}}}]}}
    cluster.srv.create(pod)


def test_a_gated_pod_is_untouched_until_its_gates_are_patched_away(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="4")
    _gated_pod(cluster, "held", "example.com/quota")
    handle = start_daemon(cluster)
    core = client.CoreV1Api(config.new_client_from_config(cluster.kubeconfig))

    wait_until(lambda: handle.sample("scheduler_pending_pods", queue="gated") == 1, 10,
               message='scheduler_pending_pods{queue="gated"} 1')
    cluster.add_pod("canary", cpu="1")  # the loop is running: later pods are scheduled meanwhile
    wait_until(lambda: cluster.node_of("canary"), 10, message="the canary bound")
    time.sleep(1.5)  # several cycles and housekeeping rounds (backoff 0.2 s .. 1 s)
    assert cluster.node_of("held") == "" and cluster.srv.bindings_count("default/held") == 0
    assert cluster.events_for("held") == []  # no FailedScheduling, nothing at all
    condition = cluster.scheduled_condition("held")
    assert (condition["status"], condition["reason"]) == ("False", "SchedulingGated")  # the API server's, not ours
    assert handle.sample("scheduler_pending_pods", queue="gated") == 1

    with pytest.raises(ApiException) as refused:  # gates may only be removed
        core.patch_namespaced_pod("held", "default", [{"op": "add", "path": "/spec/schedulingGates/-",
                                                       "value": {"name": "example.com/late"}}])
    assert refused.value.status == 422
    assert "only deletion is allowed, but found new scheduling gate 'example.com/late'" in \
        json.loads(refused.value.body)["message"]

    with pytest.raises(ApiException) as conflict:  # nor can anyone else bind it while gated
        core.create_namespaced_binding("default", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "held"},
                                                   "target": {"kind": "Node", "name": "node-0"}}, _preload_content=False)
    assert conflict.value.status == 409
    assert "pod held has non-empty .spec.schedulingGates" in json.loads(conflict.value.body)["message"]

    resp = core.patch_namespaced_pod("held", "default", [{"op": "remove", "path": "/spec/schedulingGates"}],
                                     _preload_content=False)
    assert "schedulingGates" not in json.loads(resp.data)["spec"]
    wait_until(lambda: cluster.node_of("held"), 10, message="the ungated pod bound")
    assert cluster.srv.bindings_count("default/held") == 1
    assert cluster.scheduled_condition("held")["status"] == "True"
    wait_until(lambda: handle.sample("scheduler_pending_pods", queue="gated") == 0, 5,
               message="no gated pod reported any more")


def test_a_merge_patch_to_null_ungates_too(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="4")
    _gated_pod(cluster, "held", "example.com/a", "example.com/b")
    handle = start_daemon(cluster)
    core = client.CoreV1Api(config.new_client_from_config(cluster.kubeconfig))
    wait_until(lambda: handle.sample("scheduler_pending_pods", queue="gated") == 1, 10, message="held is gated")
    # what `kubectl patch pod held --type merge -p '{"spec":{"schedulingGates":null}}'` sends
    # (through the client's connection pool and credentials: `_content_type` is not accepted by every client version)
    api = core.api_client
    headers = {s["key"]: s["value"] for s in api.configuration.auth_settings().values() if s.get("in") == "header"}
    headers["Content-Type"] = "application/merge-patch+json"
    resp = api.rest_client.pool_manager.request("PATCH", f"{api.configuration.host}/api/v1/namespaces/default/pods/held",
                                                body=json.dumps({"spec": {"schedulingGates": None}}), headers=headers)
    assert "schedulingGates" not in json.loads(resp.data)["spec"]
    wait_until(lambda: cluster.node_of("held"), 10, message="the ungated pod bound")
