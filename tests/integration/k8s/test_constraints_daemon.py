"""Inter-pod anti-affinity and topology spread end to end: pods created through the real `kubernetes`
client, the daemon over HTTP, the stand-in API server validating the fields as the real one does."""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Callable, Dict

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from scheduler.testing import make_node

Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py
ZONE = "topology.kubernetes.io/zone"


def _pod(name: str, labels: Dict[str, str], **spec: Any) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"schedulerName": "preemptive-scheduler", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": "100m"}}}],
                     **spec}}


def _zoned_nodes(cluster: Cluster, count: int) -> None:
    for i in range(count):
        cluster.srv.create(make_node(f"node-{i}", cpu="4", memory="16Gi", labels={ZONE: f"zone-{i % 3}"}))


WEB = {"app": "web"}
ANTI = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"labelSelector": {"matchLabels": WEB}, "topologyKey": "kubernetes.io/hostname"}]}}


def test_anti_affinity_replicas_take_distinct_nodes_and_the_extra_one_waits_for_a_leaver(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    _zoned_nodes(cluster, 3)
    start_daemon(cluster)
    core = client.CoreV1Api(config.new_client_from_config(cluster.kubeconfig))
    for i in range(4):
        core.create_namespaced_pod("default", _pod(f"web-{i}", WEB, affinity=ANTI), _preload_content=False)
    wait_until(lambda: len(cluster.bound([f"web-{i}" for i in range(4)])) == 3, 15, message="three replicas bound")
    nodes = [cluster.node_of(f"web-{i}") for i in range(4)]
    waiting = next(f"web-{i}" for i, node in enumerate(nodes) if not node)
    assert len({n for n in nodes if n}) == 3
    events = wait_until(lambda: cluster.events_for(waiting, "FailedScheduling"), 10, message="FailedScheduling")
    assert "3 node(s) didn't match pod anti-affinity rules" in events[-1]["note"]

    leaver = next(f"web-{i}" for i, node in enumerate(nodes) if node)
    freed = cluster.node_of(leaver)
    core.delete_namespaced_pod(leaver, "default", grace_period_seconds=0)
    wait_until(lambda: cluster.node_of(waiting), 15, message="the waiting replica bound once a replica left")
    assert cluster.node_of(waiting) == freed


def test_six_replicas_spread_evenly_over_three_zones(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    _zoned_nodes(cluster, 6)
    start_daemon(cluster)
    spread = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "api"}}}]
    names = [f"api-{i}" for i in range(6)]
    for name in names:
        cluster.srv.create(_pod(name, {"app": "api"}, topologySpreadConstraints=spread))
    wait_until(lambda: len(cluster.bound(names)) == 6, 15, message="six replicas bound")
    zones = Counter(f"zone-{int(cluster.node_of(n).split('-')[1]) % 3}" for n in names)
    assert zones == {"zone-0": 2, "zone-1": 2, "zone-2": 2}


@pytest.mark.parametrize("spec, field, message", [
    ({"topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}]},
     "spec.topologySpreadConstraints[0].maxSkew", "must be greater than zero"),
    ({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "Sometimes"}]},
     "spec.topologySpreadConstraints[0].whenUnsatisfiable", 'supported values: "DoNotSchedule", "ScheduleAnyway"'),
    ({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}, "topologyKey": ""}]}}},
     "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "can not be empty"),
])
def test_the_stand_in_refuses_what_the_real_server_refuses(cluster: Cluster, spec: Dict[str, Any], field: str,
                                                           message: str) -> None:
    core = client.CoreV1Api(config.new_client_from_config(cluster.kubeconfig))
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod("default", _pod("bad", WEB, **spec), _preload_content=False)
    assert refused.value.status == 422
    causes = json.loads(refused.value.body)["details"]["causes"]
    assert any(c["field"] == field and message in c["message"] for c in causes)
