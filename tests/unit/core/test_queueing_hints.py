"""Event-gated requeue: a pod parked by a filter retries when a change could help it, not on every change."""
from __future__ import annotations

from typing import Any, Dict

from scheduler.core.parse import parse_pod

from .builders import Cluster, pod_obj

HOST = "kubernetes.io/hostname"


def add(cluster: Cluster, name: str, node: str = "", scheduler_name: str = "preemptive-scheduler", **spec: Any) -> str:
    raw = pod_obj(name, cpu="100m", node=node, labels=spec.pop("labels", None), scheduler_name=scheduler_name)
    raw["spec"].update(spec)
    pod = parse_pod(raw, cluster.defaults)
    cluster.raw[pod.key] = raw
    cluster.loop.pod_changed(pod)
    return pod.key


def anti(labels: Dict[str, str], key: str = HOST) -> Dict[str, Any]:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": key}]}}


def near(labels: Dict[str, str], key: str = HOST) -> Dict[str, Any]:
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": key}]}}


def settle(cluster: Cluster) -> list:
    cluster.clock.advance(11)  # past any backoff, well before the 600 s flush
    return cluster.run()


def test_a_pod_kept_out_by_anti_affinity_waits_for_the_matching_pod_to_leave():
    cluster = Cluster(unschedulable_timeout=600)
    cluster.node("n1", cpu="8")
    add(cluster, "db", node="n1", scheduler_name="other", labels={"app": "db"})
    add(cluster, "noise", node="n1", scheduler_name="other", labels={"app": "noise"})
    waiting = add(cluster, "web", affinity=anti({"app": "db"}))
    assert cluster.run()[0].node is None
    cluster.delete("noise")  # freed room, but not what kept it out
    assert settle(cluster) == []
    cluster.delete("db")
    assert [v.node for v in settle(cluster) if v.pod.key == waiting] == ["n1"]


def test_a_pod_kept_out_by_anti_affinity_retries_when_topology_changes():
    cluster = Cluster(unschedulable_timeout=600)
    cluster.node("n1", cpu="8")
    add(cluster, "db", node="n1", scheduler_name="other", labels={"app": "db"})
    add(cluster, "web", affinity=anti({"app": "db"}))
    cluster.run()
    cluster.node("n2", cpu="8")
    assert [v.node for v in settle(cluster)] == ["n2"]


def test_a_pod_needing_a_neighbour_retries_when_a_matching_pod_is_placed_not_another():
    cluster = Cluster(unschedulable_timeout=600)
    cluster.node("n1", cpu="8")
    cluster.node("n2", cpu="8")
    waiting = add(cluster, "cache", affinity=near({"app": "db"}))
    assert cluster.run()[0].node is None
    add(cluster, "other", node="n1", scheduler_name="other", labels={"app": "other"})
    assert settle(cluster) == []
    add(cluster, "db", node="n2", scheduler_name="other", labels={"app": "db"})
    assert [v.node for v in settle(cluster) if v.pod.key == waiting] == ["n2"]


def test_a_pod_short_of_room_still_retries_on_any_pod_leaving():
    cluster = Cluster(unschedulable_timeout=600)
    cluster.node("n1", cpu="1")
    add(cluster, "hog", node="n1", scheduler_name="other")  # declares 100m: the big pod does not fit
    cluster.pod("big", cpu="1")
    assert cluster.run()[0].node is None
    cluster.delete("hog")
    assert [v.node for v in settle(cluster)] == ["n1"]


# ---------------------------------------------------------------- members placed together count for each other

def _gang_member(cluster: Cluster, name: str, size: int) -> str:
    raw = pod_obj(name, cpu="100m", gang="ring", min_available=size, labels={"app": "ring"})
    raw["spec"]["affinity"] = anti({"app": "ring"})
    pod = parse_pod(raw, cluster.defaults)
    cluster.raw[pod.key] = raw
    cluster.loop.pod_changed(pod)
    return pod.key


def test_gang_members_with_mutual_anti_affinity_take_distinct_nodes_or_none():
    cluster = Cluster(unschedulable_timeout=600)
    for i in range(3):
        cluster.node(f"n{i}", cpu="8")
    keys = [_gang_member(cluster, f"ring-{i}", 3) for i in range(3)]
    cluster.run()
    assert sorted(cluster.node_of(k) for k in keys) == ["n0", "n1", "n2"]

    small = Cluster(unschedulable_timeout=600)
    for i in range(2):
        small.node(f"n{i}", cpu="8")
    keys = [_gang_member(small, f"ring-{i}", 3) for i in range(3)]
    small.run()
    assert [small.node_of(k) for k in keys] == [None, None, None]  # the third would break the rule: none placed


# ---------------------------------------------------------------- node changes wake only the filters they concern

def test_node_changes_wake_only_pods_rejected_for_what_changed():
    cluster = Cluster(unschedulable_timeout=600)
    taint = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    cluster.node("n1", cpu="1", taints=taint)
    cluster.pod("tainted-out", cpu="100m")
    cluster.run()
    cluster.node("n1", cpu="4", taints=taint, labels={"new": "label"})  # more room and a label: not the taint
    assert settle(cluster) == []
    cluster.node("n1", cpu="4")  # the taint removed
    assert [v.node for v in settle(cluster)] == ["n1"]


def test_a_pod_short_of_room_waits_for_room_not_for_labels_or_load():
    cluster = Cluster(unschedulable_timeout=600)
    cluster.node("n1", cpu="1")
    cluster.pod("big", cpu="2")
    cluster.run()
    cluster.node("n1", cpu="1", labels={"zone": "a"})
    cluster.loop.load_changed({})
    assert settle(cluster) == []
    cluster.node("n1", cpu="2", labels={"zone": "a"})  # allocatable grew
    assert [v.node for v in settle(cluster)] == ["n1"]


def test_a_pod_whose_selector_matched_no_node_wakes_when_labels_change():
    cluster = Cluster(unschedulable_timeout=600)
    cluster.node("n1", cpu="4")
    cluster.pod("picky", cpu="100m", node_selector={"disk": "ssd"})
    cluster.run()
    cluster.node("n1", cpu="8")
    assert settle(cluster) == []
    cluster.node("n1", cpu="8", labels={"disk": "ssd"})
    assert [v.node for v in settle(cluster)] == ["n1"]


def test_the_periodic_flush_still_retries_every_parked_pod():
    cluster = Cluster(unschedulable_timeout=60)
    cluster.node("n1", cpu="1")
    cluster.pod("big", cpu="2")
    cluster.run()
    cluster.clock.advance(61)
    assert [v.pod.name for v in cluster.run()] == ["big"]
