"""Preemption: who may preempt, which nodes are candidates, which victims, which node wins."""
from __future__ import annotations

import pytest

from .builders import Cluster, victim_names


def full_node(cluster: Cluster, node: str = "n1", victim_priority: int = 1, **node_kwargs) -> None:
    """A 4-cpu node filled by one 4-cpu running pod."""
    cluster.node(node, **node_kwargs)
    cluster.pod(f"low-{node}", cpu="4", priority=victim_priority, node=node)


# ---------------------------------------------------------------- eligibility

def test_preemption_is_off_unless_enabled():
    cluster = Cluster()
    full_node(cluster)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.node is None and decision.victims == [] and not decision.nominated_node
    assert "Insufficient cpu" in decision.message
    assert "evicting" not in decision.message
    assert not cluster.state.victims.evicting


def test_preemption_enabled_evicts_the_lower_priority_pod():
    cluster = Cluster(preemption=True)
    full_node(cluster)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert victim_names(decision) == ["low-n1"]
    assert decision.nominated_node == "n1"
    assert "evicting 1 lower-priority pod(s) on n1: default/low-n1" in decision.message
    assert cluster.loop.nominations.get("default/high").node == "n1"


def test_preemption_policy_never_does_not_preempt_and_says_so():
    cluster = Cluster(preemption=True)
    full_node(cluster)
    cluster.pod("polite", cpu="2", priority=100, preemption_policy="Never")
    cluster.run()
    decision = cluster.last("polite")
    assert decision.victims == [] and not decision.nominated_node
    assert "preemptionPolicy is Never" in decision.message
    assert not cluster.state.victims.evicting


@pytest.mark.parametrize("victim_priority, preempts", [(95, False), (90, True), (80, True)])
def test_min_priority_gap(victim_priority, preempts):
    cluster = Cluster(preemption=True, preemption_min_priority_gap=10)
    full_node(cluster, victim_priority=victim_priority)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    if preempts:
        assert victim_names(decision) == ["low-n1"]
    else:
        assert decision.victims == []
        assert "no node can make room by evicting lower-priority pods" in decision.message


def test_nominated_pod_waits_for_terminating_victims_instead_of_a_second_round():
    cluster = Cluster(preemption=True)
    full_node(cluster, "n1")
    full_node(cluster, "n2", victim_priority=2)
    cluster.pod("high", cpu="4", priority=100)
    cluster.run()
    assert victim_names(cluster.last("high")) == ["low-n1"]
    cluster.terminating("low-n1")  # eviction accepted, graceful termination under way
    cluster.clock.advance(5)
    cluster.run()
    decision = cluster.last("high")
    assert decision.victims == []
    assert decision.nominated_node == "n1"
    assert "waiting for 1 preempted pod(s) to terminate on n1" in decision.message
    assert "default/low-n2" not in cluster.state.victims.evicting


def test_nominated_pod_replans_elsewhere_when_its_node_is_cordoned():
    cluster = Cluster(preemption=True)
    full_node(cluster, "n1")
    full_node(cluster, "n2", victim_priority=2)
    cluster.pod("high", cpu="4", priority=100)
    cluster.run()
    assert cluster.last("high").nominated_node == "n1"
    cluster.terminating("low-n1")
    cluster.node("n1", unschedulable=True)
    cluster.clock.advance(5)
    cluster.run()
    decision = cluster.last("high")
    assert victim_names(decision) == ["low-n2"]
    assert decision.nominated_node == "n2"
    assert cluster.loop.nominations.get("default/high").node == "n2"


# ---------------------------------------------------------------- candidates

def test_nodes_rejected_by_taints_selector_or_cordon_are_never_candidates():
    cluster = Cluster(preemption=True)
    # the unsuitable nodes hold the cheapest victims (priority 1): they would win if they were candidates
    full_node(cluster, "a-tainted", labels={"zone": "a"}, taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
    full_node(cluster, "b-other-zone", labels={"zone": "b"})
    full_node(cluster, "c-cordoned", labels={"zone": "a"}, unschedulable=True)
    full_node(cluster, "d-good", victim_priority=50, labels={"zone": "a"})
    cluster.pod("high", cpu="2", priority=100, node_selector={"zone": "a"})
    cluster.run()
    decision = cluster.last("high")
    assert decision.nominated_node == "d-good"
    assert victim_names(decision) == ["low-d-good"]


def test_no_candidate_at_all_when_only_unsuitable_nodes_hold_low_priority_pods():
    cluster = Cluster(preemption=True)
    full_node(cluster, "tainted", taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
    full_node(cluster, "cordoned", unschedulable=True)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.victims == [] and not decision.nominated_node
    assert not cluster.state.victims.evicting


# ---------------------------------------------------------------- victims on a node

def test_reprieve_keeps_more_important_pods_and_evicts_one_when_one_suffices():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.pod("p10", cpu="1", priority=10, node="n1")
    cluster.pod("p20", cpu="1", priority=20, node="n1")
    cluster.pod("p30", cpu="2", priority=30, node="n1")
    cluster.pod("high", cpu="1", priority=100)
    cluster.run()
    assert victim_names(cluster.last("high")) == ["p10"]


def test_reprieve_keeps_the_earlier_started_pod_at_equal_priority():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.pod("old", cpu="2", priority=5, node="n1", started=100.0)
    cluster.pod("young", cpu="2", priority=5, node="n1", started=200.0)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    assert victim_names(cluster.last("high")) == ["young"]


def test_victims_are_only_as_many_as_needed():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    for i in range(4):
        cluster.pod(f"small-{i}", cpu="1", priority=1, node="n1", started=float(i))
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert len(decision.victims) == 2
    # the two most recently started go, the two oldest are reprieved
    assert victim_names(decision) == ["small-2", "small-3"]


@pytest.mark.parametrize("kwargs", [
    {"priority": 100},  # equal
    {"priority": 200},  # higher
    {"priority": 1, "annotations": {"kubernetes.io/config.mirror": "abc"}},
    {"priority": 1, "deleting": True},
    {"priority": 1, "owner_kind": "DaemonSet"},
], ids=["equal-priority", "higher-priority", "mirror", "terminating", "daemonset"])
def test_pods_that_are_never_victims(kwargs):
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.pod("occupant", cpu="4", node="n1", **kwargs)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.victims == []
    if kwargs.get("deleting"):  # it is leaving anyway: its room is on the way, wait for it (evict nothing)
        assert decision.nominated_node == "n1" and "already leaving free enough room" in decision.message
        return
    assert not decision.nominated_node
    assert cluster.node_of("occupant") == "n1"


def test_a_running_gang_is_evicted_whole_or_not_at_all():
    cluster = Cluster(preemption=True)
    cluster.node("n0")
    cluster.node("n1")
    cluster.pod("g-0", cpu="3", node="n0", priority=1, gang="g", min_available=2)
    cluster.pod("g-1", cpu="3", node="n1", priority=1, gang="g", min_available=2)
    cluster.pod("solo", cpu="1", node="n0", priority=1)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    # one node's room needs a gang member, so the whole gang goes: never one member alone
    assert sorted(victim_names(decision)) == ["g-0", "g-1"]


def test_a_gang_with_any_member_too_important_is_not_a_victim():
    cluster = Cluster(preemption=True)
    cluster.node("n0")
    cluster.node("n1")
    cluster.pod("g-0", cpu="4", node="n0", priority=1, gang="g", min_available=2)
    cluster.pod("g-1", cpu="4", node="n1", priority=100, gang="g", min_available=2)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.victims == []
    assert cluster.node_of("g-0") == "n0"


def test_daemonset_pods_are_victims_when_allowed():
    cluster = Cluster(preemption=True, preempt_daemonset_pods=True)
    cluster.node("n1")
    cluster.pod("ds", cpu="4", node="n1", priority=1, owner_kind="DaemonSet")
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    assert victim_names(cluster.last("high")) == ["ds"]


@pytest.mark.parametrize("max_victims, preempts", [(3, False), (4, True), (0, True)])
def test_max_victims_caps_one_decision(max_victims, preempts):
    cluster = Cluster(preemption=True, max_victims=max_victims)
    cluster.node("n1")
    for i in range(4):
        cluster.pod(f"small-{i}", cpu="1", priority=1, node="n1")
    cluster.pod("high", cpu="4", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert len(decision.victims) == (4 if preempts else 0)


def test_pdb_protected_pods_are_reprieved_first():
    def run(with_pdb: bool):
        cluster = Cluster(preemption=True)
        cluster.node("n1")
        cluster.pod("protected", cpu="2", priority=1, node="n1", labels={"app": "db"})
        cluster.pod("plain", cpu="2", priority=5, node="n1")
        if with_pdb:
            cluster.pdb("db-pdb", {"app": "db"}, allowed=0)
        cluster.pod("high", cpu="2", priority=100)
        cluster.run()
        return victim_names(cluster.last("high"))

    assert run(with_pdb=False) == ["protected"]  # least important goes
    assert run(with_pdb=True) == ["plain"]  # the budget keeps it


# ---------------------------------------------------------------- choosing the node

def test_node_choice_fewest_pdb_violations_first():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.pod("guarded", cpu="4", priority=1, node="n1", labels={"app": "db"})
    cluster.node("n2")
    cluster.pod("free", cpu="4", priority=5, node="n2")
    cluster.pdb("db-pdb", {"app": "db"}, allowed=0)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.nominated_node == "n2" and victim_names(decision) == ["free"]


def test_node_choice_pdb_with_allowance_is_no_violation():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.pod("guarded", cpu="4", priority=1, node="n1", labels={"app": "db"})
    cluster.node("n2")
    cluster.pod("free", cpu="4", priority=5, node="n2")
    cluster.pdb("db-pdb", {"app": "db"}, allowed=1)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    assert cluster.last("high").nominated_node == "n1"


def test_node_choice_lowest_highest_victim_priority():
    cluster = Cluster(preemption=True)
    full_node(cluster, "n1", victim_priority=5)
    full_node(cluster, "n2", victim_priority=3)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    assert cluster.last("high").nominated_node == "n2"


def test_node_choice_smallest_priority_sum():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.pod("a1", cpu="2", priority=3, node="n1")
    cluster.pod("a2", cpu="2", priority=3, node="n1")
    cluster.node("n2")
    cluster.pod("b1", cpu="2", priority=3, node="n2")
    cluster.pod("b2", cpu="2", priority=1, node="n2")
    cluster.pod("high", cpu="4", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.nominated_node == "n2" and victim_names(decision) == ["b1", "b2"]


def test_node_choice_fewest_victims():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.pod("a1", cpu="2", priority=1, node="n1")
    cluster.pod("a2", cpu="2", priority=1, node="n1")
    cluster.node("n2")
    cluster.pod("b1", cpu="4", priority=1, node="n2")
    cluster.pod("high", cpu="4", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.nominated_node == "n2" and victim_names(decision) == ["b1"]


def test_node_choice_latest_start_among_top_victims():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.pod("early", cpu="4", priority=1, node="n1", started=100.0)
    cluster.node("n2")
    cluster.pod("late", cpu="4", priority=1, node="n2", started=200.0)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    assert cluster.last("high").nominated_node == "n2"


def test_full_ties_go_to_the_first_node_from_the_seeded_offset_so_runs_repeat():
    def choice(order):
        cluster = Cluster(preemption=True)
        for name in order:
            cluster.node(name)
            cluster.pod(f"low-{name}", cpu="4", priority=1, node=name, started=50.0)
        cluster.pod("high", cpu="2", priority=100)
        cluster.run()
        return cluster.last("high").nominated_node

    assert choice(["n1", "n2", "n3"]) == choice(["n1", "n2", "n3"])  # seeded: the same run, the same node
    assert choice(["n1", "n2", "n3"]) in {"n1", "n2", "n3"}


def test_max_victims_moves_preemption_to_a_node_needing_fewer_victims():
    cluster = Cluster(preemption=True, max_victims=3)
    cluster.node("n0")
    cluster.node("n1")
    for i in range(4):
        cluster.pod(f"a{i}", cpu="1", priority=1, node="n0")  # cheapest, but four victims
    cluster.pod("b0", cpu="2", priority=5, node="n1")
    cluster.pod("b1", cpu="2", priority=5, node="n1")
    cluster.pod("high", cpu="4", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.nominated_node == "n1"
    assert sorted(v.name for v in decision.victims) == ["b0", "b1"]


def test_a_victim_whose_eviction_a_pdb_refused_sits_out_a_cool_down():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.node("n2")
    cluster.pod("cheap", cpu="4", node="n1", priority=1)
    cluster.pod("dearer", cpu="4", node="n2", priority=5)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    assert victim_names(cluster.last("high")) == ["cheap"]
    # the API answered 429 for "cheap" (its budget changed after we read it)
    cluster.eviction_failed("cheap", "high", refused=True)
    assert cluster.loop.nominations.get("default/high") is None
    assert cluster.cleared() == ["default/high"]
    cluster.clock.advance(15)
    cluster.run()
    assert victim_names(cluster.last("high")) == ["dearer"]  # re-planned elsewhere, not the same refusal again


def test_a_refused_victim_is_eligible_again_after_the_cool_down():
    cluster = Cluster(preemption=True)
    cluster.node("n1")
    cluster.pod("only", cpu="4", node="n1", priority=1)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    cluster.eviction_failed("only", "high", refused=True)
    cluster.clock.advance(11)
    cluster.run()
    assert cluster.last("high").victims == []
    cluster.clock.advance(50)
    cluster.loop.queue.move_to_active(lambda unit: True)
    cluster.run()
    assert victim_names(cluster.last("high")) == ["only"]
