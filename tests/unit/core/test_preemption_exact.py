"""Preemption in an asynchronous world: victims that take time to leave, sampling, safety limits, one filter chain."""
from __future__ import annotations

from collections import Counter

from .builders import Cluster, victim_names


def full_nodes(cluster: Cluster, count: int, per_node: int = 4, priority: int = 1, namespace: str = "default") -> None:
    """`count` 4-cpu nodes, each full of `per_node` low-priority pods (started one after another)."""
    for n in range(count):
        cluster.node(f"n{n}", cpu="4")
        for i in range(per_node):
            cluster.pod(f"low-{n}-{i}", cpu=str(4 // per_node), priority=priority, node=f"n{n}",
                        started=float(n * per_node + i), namespace=namespace)


def test_a_second_preemptor_on_a_node_whose_victim_terminates_takes_one_victim_not_two():
    cluster = Cluster(preemption=True)
    full_nodes(cluster, 1)
    cluster.pod("high-a", cpu="1", priority=100)
    cluster.run()
    first = victim_names(cluster.last("high-a"))
    assert len(first) == 1
    cluster.terminating(first[0])  # graceful termination under way: its core is held for high-a
    cluster.pod("high-b", cpu="1", priority=100)
    cluster.run()
    second = victim_names(cluster.last("high-b"))
    assert len(second) == 1 and second != first  # exactly one more: the leaving pod is not counted twice


def test_room_already_leaving_gives_a_nomination_that_evicts_nothing():
    cluster = Cluster(preemption=True)
    full_nodes(cluster, 2)
    cluster.terminating("low-1-3")  # e.g. deleted by its owner: a core on n1 is on its way
    cluster.pod("high", cpu="1", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.victims == [] and decision.nominated_node == "n1"
    assert "already leaving free enough room" in decision.message
    cluster.delete("low-1-3")
    cluster.clock.advance(2)
    cluster.run()
    assert cluster.node_of("high") == "n1"  # and it takes the room it waited for


def test_a_leaving_pod_is_never_chosen_again():
    cluster = Cluster(preemption=True)
    full_nodes(cluster, 1, per_node=1)
    cluster.pod("high-a", cpu="4", priority=100)
    cluster.run()
    assert victim_names(cluster.last("high-a")) == ["low-0-0"]
    cluster.pod("high-b", cpu="4", priority=200)  # more important, same node: it may not evict the leaving pod
    cluster.run()
    assert "low-0-0" not in victim_names(cluster.last("high-b"))


def test_candidates_are_sampled_from_a_random_offset_so_preemptors_spread():
    cluster = Cluster(preemption=True)
    for n in range(40):  # identical nodes and victims: only the sampling offset tells them apart
        cluster.node(f"n{n:02d}", cpu="4")
        for i in range(4):
            cluster.pod(f"low-{n:02d}-{i}", cpu="1", priority=1, node=f"n{n:02d}", started=1.0)
    for i in range(20):
        cluster.pod(f"high-{i:02d}", cpu="1", priority=100)
    cluster.run()
    nodes = Counter(cluster.last(f"high-{i:02d}").nominated_node for i in range(20))
    assert len(nodes) >= 10, nodes  # not piled onto the first nodes


def test_same_seed_same_choices():
    def choices() -> list:
        cluster = Cluster(preemption=True)
        full_nodes(cluster, 30)
        for i in range(10):
            cluster.pod(f"high-{i}", cpu="1", priority=100)
        cluster.run()
        return [victim_names(cluster.last(f"high-{i}")) for i in range(10)]

    assert choices() == choices()


def test_pods_in_protected_namespaces_and_system_critical_pods_are_never_victims():
    cluster = Cluster(preemption=True)
    cluster.node("n1", cpu="4")
    cluster.pod("coredns", cpu="2", priority=1, node="n1", namespace="kube-system")
    cluster.pod("critical", cpu="2", priority=2_000_000_000, node="n1", namespace="monitoring")
    cluster.pod("tenant", cpu="2", priority=1_000_000_000)  # as high as an annotation may claim
    cluster.run()
    decision = cluster.last("tenant")
    assert decision.victims == [] and not decision.nominated_node
    assert "no node can make room" in decision.message


def test_an_annotation_claiming_more_than_allowed_is_clamped_and_says_so():
    cluster = Cluster(preemption=True)
    cluster.node("n1", cpu="4")
    cluster.pod("system", cpu="4", priority=1_500_000_000, node="n1", namespace="ops")
    cluster.pod("greedy", cpu="4", priority=99999999999 % (2**31))  # 1215752191: above the cap
    cluster.run()
    assert cluster.last("greedy").victims == []  # clamped to 1e9: below the pod it wanted to evict
    warnings = [e.message for e in cluster.events("InvalidPriority") if e.pod.name == "greedy"]
    assert len(warnings) == 1 and "--max-annotation-priority" in warnings[0]


def test_protected_namespaces_are_configurable():
    cluster = Cluster(preemption=True, protected_namespaces="")
    cluster.node("n1", cpu="4")
    cluster.pod("coredns", cpu="4", priority=1, node="n1", namespace="kube-system")
    cluster.pod("high", cpu="4", priority=100)
    cluster.run()
    assert victim_names(cluster.last("high")) == ["coredns"]


def test_reordered_filters_never_evict_from_a_node_the_preemptor_cannot_use():
    filters = "NodeResourcesFit,NodePorts,NodeUnschedulable,NodeReady,NodeName,NodeAffinity,TaintToleration"
    cluster = Cluster(preemption=True, filters=filters)
    cluster.node("tainted", cpu="4", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    cluster.pod("gpu-job", cpu="4", priority=1, node="tainted")
    cluster.pod("high", cpu="4", priority=100)  # does not tolerate the taint
    cluster.run()
    decision = cluster.last("high")
    assert decision.victims == [] and not decision.nominated_node
