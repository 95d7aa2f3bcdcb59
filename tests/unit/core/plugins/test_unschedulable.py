"""NodeUnschedulable (cordoned nodes) and NodeReady: no new pods, unless tolerated."""
from __future__ import annotations

from scheduler.core.framework import UNRESOLVABLE

from ...helpers import make_engine, make_node, make_pod


def test_cordoned_node_takes_no_pods():
    engine = make_engine([make_node("n1", unschedulable=True), make_node("n2", cpu="1")])
    decision = engine.schedule(make_pod(cpu="2"))
    assert decision.message == "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable."
    assert engine.schedule(make_pod(cpu="1")).node == "n2"


def test_cordon_only_is_unresolvable():
    engine = make_engine([make_node("n1", unschedulable=True)])
    assert engine.schedule(make_pod()).status == UNRESOLVABLE


def test_pod_tolerating_unschedulable_taint_may_use_cordoned_node():
    engine = make_engine([make_node("n1", unschedulable=True)])
    pod = make_pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                 "effect": "NoSchedule"}])
    assert engine.schedule(pod).node == "n1"


def test_not_ready_node_takes_no_pods():
    engine = make_engine([make_node("n1", ready=False), make_node("n2", ready=False)])
    decision = engine.schedule(make_pod())
    assert decision.message == "0/2 nodes are available: 2 node(s) were not ready."
    assert decision.status == UNRESOLVABLE


def test_node_becoming_ready_takes_pods():
    engine = make_engine([make_node("n1", ready=False)])
    engine.state.upsert_node(make_node("n1"))
    assert engine.schedule(make_pod()).node == "n1"


def test_uncordon_takes_pods_again():
    engine = make_engine([make_node("n1", unschedulable=True)])
    engine.state.upsert_node(make_node("n1", unschedulable=False))
    assert engine.schedule(make_pod()).node == "n1"
