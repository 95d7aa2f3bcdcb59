"""Pods mounting PersistentVolumeClaims, and namespace labels, through the daemon against the stand-in kube-apiserver."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict

from scheduler.testing import make_node

Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py
ZONE = "topology.kubernetes.io/zone"


def zonal_nodes(cluster: Cluster) -> Dict[str, str]:
    zones = {}
    for zone in ("zone-a", "zone-b", "zone-c"):
        for i in range(2):
            name = f"{zone}-{i}"
            cluster.srv.create(make_node(name, cpu="4", memory="16Gi", labels={ZONE: zone}))
            zones[name] = zone
    return zones


def claim(name: str, volume: str = "", storage_class: str = "") -> Dict[str, Any]:
    spec: Dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if volume:
        spec["volumeName"] = volume
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": spec, "status": {"phase": "Bound" if volume else "Pending"}}


def pod_with_claim(cluster: Cluster, name: str, claim_name: str) -> None:
    cluster.srv.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                        "spec": {"schedulerName": "preemptive-scheduler", "terminationGracePeriodSeconds": 0,
                                 "containers": [{"name": "c", "image": "pause",
                                                 "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
                                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]}})


def test_a_pod_with_a_claim_bound_to_a_zonal_volume_lands_in_that_zone(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    zones = zonal_nodes(cluster)
    cluster.srv.create({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-b"},
                        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                 "claimRef": {"namespace": "default", "name": "data"},
                                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                                     {"key": ZONE, "operator": "In", "values": ["zone-b"]}]}]}}},
                        "status": {"phase": "Bound"}})
    cluster.srv.create(claim("data", volume="pv-b"))
    start_daemon(cluster)
    for i in range(4):
        pod_with_claim(cluster, f"db-{i}", "data")

    wait_until(lambda: len(cluster.bound([f"db-{i}" for i in range(4)])) == 4, 15, message="the pods bound")
    assert {zones[cluster.node_of(f"db-{i}")] for i in range(4)} == {"zone-b"}


def test_a_pod_with_an_unbound_wait_for_first_consumer_claim_waits_and_is_told_why(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    zonal_nodes(cluster)
    cluster.srv.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "local"},
                        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"})
    cluster.srv.create(claim("scratch", storage_class="local"))
    start_daemon(cluster)
    pod_with_claim(cluster, "waiter", "scratch")

    events = wait_until(lambda: cluster.events_for("waiter", "FailedScheduling"), 10, message="FailedScheduling")
    note = events[0]["note"]
    assert note.startswith('0/6 nodes are available: 6 pod has unbound PersistentVolumeClaim "scratch"'), note
    assert "does not bind or provision volumes" in note
    time.sleep(0.5)
    assert cluster.node_of("waiter") == ""
    assert cluster.srv.bindings_count("default/waiter") == 0
    assert cluster.scheduled_condition("waiter").get("status") == "False"


def test_the_loop_sees_namespace_labels(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.srv.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {"env": "prod"}}})
    handle = start_daemon(cluster)
    namespaces = handle.daemon.loop.state.namespaces
    wait_until(lambda: namespaces.get("team") == {"env": "prod"}, 10, message="the listed namespace's labels")
    cluster.srv.modify("Namespace", "", "team", lambda ns: {**ns, "metadata": {**ns["metadata"], "labels": {"env": "dev"}}})
    wait_until(lambda: namespaces.get("team") == {"env": "dev"}, 10, message="the changed labels")
    cluster.srv.delete("Namespace", "", "team")
    wait_until(lambda: "team" not in namespaces, 10, message="the namespace gone")


def test_without_rights_to_namespaces_the_daemon_still_schedules(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1)
    cluster.srv.faults.fail_next("GET", r"^/api/v1/namespaces$", 403, count=1, message="namespaces is forbidden")
    handle = start_daemon(cluster)  # synced although the namespaces list was refused
    cluster.add_pod("web")
    wait_until(lambda: cluster.node_of("web"), 10, message="the pod bound")
    (namespaces,) = [r for r in handle.daemon.reflectors if r.resource == "namespaces"]
    assert not namespaces.available
    assert handle.daemon.healthz() == (True, "ok")


def test_an_unparsable_volume_is_reported_and_its_pods_wait(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    zonal_nodes(cluster)
    cluster.srv.create({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-odd"},
                        "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                            {"key": ZONE, "operator": "Near", "values": ["zone-b"]}]}]}}}})
    cluster.srv.create(claim("data", volume="pv-odd"))
    handle = start_daemon(cluster)
    pod_with_claim(cluster, "db", "data")
    events = wait_until(lambda: cluster.events_for("db", "FailedScheduling"), 10, message="FailedScheduling")
    assert "bound to non-existent pv(s)" in events[0]["note"]
    assert handle.sample("scheduler_object_parse_errors_total", resource="persistentvolumes") == 1
    assert cluster.node_of("db") == ""
