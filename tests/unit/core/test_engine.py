"""Engine: choosing a node, assume-then-bind accounting, forget, deterministic ties."""
from __future__ import annotations

import pytest

from scheduler.config import Config
from scheduler.core.framework import build_profile, diagnose

from ..helpers import make_engine, make_node, make_pod, place


def free_cpu(engine, node):
    return int(engine.state.free("cpu")[engine.state.row_of[node]])


def test_schedule_does_not_change_the_state():
    engine = make_engine([make_node("n1", cpu="2")])
    pod = make_pod(cpu="2")
    assert engine.schedule(pod).node == "n1"
    assert engine.schedule(pod).node == "n1"
    assert free_cpu(engine, "n1") == 2000


def test_assume_accounts_the_pod_so_the_next_one_goes_elsewhere():
    engine = make_engine([make_node("n1", cpu="2"), make_node("n2", cpu="2")])
    first = make_pod("a", cpu="2")
    decision = engine.schedule(first)
    assert engine.assume(first, decision.node)
    assert free_cpu(engine, decision.node) == 0
    assert engine.state.placed[first.key].assumed
    other = "n2" if decision.node == "n1" else "n1"
    assert engine.schedule(make_pod("b", cpu="2")).node == other


def test_assume_until_full_then_insufficient():
    engine = make_engine([make_node("n1", cpu="2")])
    for i in range(2):
        pod = make_pod(f"p{i}", cpu="1")
        assert engine.assume(pod, engine.schedule(pod).node)
    decision = engine.schedule(make_pod("p2", cpu="1"))
    assert decision.message == "0/1 nodes are available: 1 Insufficient cpu."


def test_assume_is_idempotent_per_pod():
    engine = make_engine([make_node("n1", cpu="4")])
    pod = make_pod(cpu="1")
    engine.assume(pod, "n1")
    engine.assume(pod, "n1")
    assert free_cpu(engine, "n1") == 3000


def test_assume_on_unknown_node_fails_and_accounts_nothing():
    engine = make_engine([make_node("n1")])
    assert not engine.assume(make_pod(), "ghost")
    assert engine.state.placed == {}


def test_forget_returns_the_room():
    engine = make_engine([make_node("n1", cpu="2")])
    pod = make_pod("a", cpu="2")
    engine.assume(pod, "n1")
    assert engine.state.forget(pod.key) is pod
    assert free_cpu(engine, "n1") == 2000
    assert engine.schedule(make_pod("b", cpu="2")).node == "n1"
    assert engine.state.forget(pod.key) is None  # second forget is a no-op


def test_bind_confirmation_turns_assumption_into_bound_pod():
    engine = make_engine([make_node("n1", cpu="4")])
    pod = make_pod(cpu="1")
    engine.assume(pod, "n1")
    engine.state.place(pod, "n1", assumed=False)
    assert not engine.state.placed[pod.key].assumed
    assert free_cpu(engine, "n1") == 3000


def test_assumed_pod_moving_to_another_node_frees_the_first():
    engine = make_engine([make_node("n1", cpu="4"), make_node("n2", cpu="4")])
    pod = make_pod(cpu="1")
    engine.assume(pod, "n1")
    engine.state.place(pod, "n2", assumed=False)
    assert (free_cpu(engine, "n1"), free_cpu(engine, "n2")) == (4000, 3000)


def test_expired_assumptions_are_listed():
    engine = make_engine([make_node("n1")])
    engine.clock.now = 100.0
    engine.assume(make_pod("a"), "n1")
    place(engine, make_pod("bound"), "n1")
    assert engine.state.expired_assumptions(now=200.0, ttl=30.0) == ["default/a"]
    assert engine.state.expired_assumptions(now=110.0, ttl=30.0) == []


def test_ties_go_to_the_first_node_deterministically():
    engine = make_engine([make_node(f"n{i}") for i in range(5)])
    assert {engine.schedule(make_pod()).node for _ in range(3)} == {"n0"}


def test_diagnosis_attributes_each_node_to_the_first_rejecting_filter():
    nodes = [make_node("cordoned-small", cpu="2", unschedulable=True), make_node("small", cpu="2")]
    engine = make_engine(nodes)
    engine.state.place(make_pod("running", cpu="1"), "small")
    pod = make_pod(cpu="2")
    diagnosis = diagnose(engine.profile, pod, engine.state)
    assert diagnosis.total_nodes == 2
    assert dict(diagnosis.reasons) == {"node(s) were unschedulable": 1, "Insufficient cpu": 1}
    assert [engine.state.nodes[r].name for r in diagnosis.resolvable_rows] == ["small"]


def test_configured_filters_only():
    config = Config(filters=("NodeResourcesFit",))
    engine = make_engine([make_node("cordoned", unschedulable=True)], config)
    assert engine.schedule(make_pod()).node == "cordoned"


def test_unknown_plugin_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="NodeResourcesFit"):
        build_profile(["NoSuchFilter"], {})


def test_large_clusters_score_a_rotating_sample_of_feasible_nodes():
    from scheduler.config import Config

    from ..helpers import make_engine, make_node, make_pod

    engine = make_engine([make_node(f"n{i:03d}") for i in range(300)], Config(percentage_of_nodes_to_score=10))
    assert engine.nodes_to_score() == 100  # never fewer than 100
    chosen = [engine.schedule(make_pod(f"p{i}")).node for i in range(3)]
    # every node is as good as any other: each pod takes the first of its sample, and the samples move on
    assert chosen == ["n000", "n100", "n200"]
    everything = make_engine([make_node(f"n{i:03d}") for i in range(300)], Config(percentage_of_nodes_to_score=100))
    assert everything.nodes_to_score() == 300
    assert [everything.schedule(make_pod(f"p{i}")).node for i in range(2)] == ["n000", "n000"]
    adaptive = make_engine([make_node(f"n{i}") for i in range(6000)], Config())
    assert adaptive.nodes_to_score() == 300  # 5 % of 6,000
