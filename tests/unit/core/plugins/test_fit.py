"""NodeResourcesFit through Engine.schedule: requests must fit the node's free resources."""
from __future__ import annotations

from scheduler.core.framework import UNRESOLVABLE, UNSCHEDULABLE

from ...helpers import make_engine, make_node, make_pod, place


def test_pod_fits_on_node_with_room():
    engine = make_engine([make_node("n1", cpu="2", memory="4Gi")])
    assert engine.schedule(make_pod(cpu="2", memory="4Gi")).node == "n1"


def test_insufficient_cpu_message_and_status():
    engine = make_engine([make_node(f"n{i}", cpu="2") for i in range(3)])
    for i in range(3):
        engine.state.place(make_pod(f"running-{i}", cpu="1"), f"n{i}")
    decision = engine.schedule(make_pod(cpu="2", memory="1Gi"))
    assert decision.node is None
    assert decision.message == "0/3 nodes are available: 3 Insufficient cpu."
    assert decision.status == UNSCHEDULABLE  # evicting pods could help


def test_a_pod_larger_than_every_node_is_unresolvable():
    engine = make_engine([make_node(f"n{i}", cpu="2") for i in range(3)])
    decision = engine.schedule(make_pod(cpu="3", memory="1Gi"))
    assert decision.message == "0/3 nodes are available: 3 Insufficient cpu."
    assert decision.status == UNRESOLVABLE  # no eviction can make a 2-core node hold 3 cores


def test_each_short_resource_is_counted():
    engine = make_engine([make_node("n1", cpu="1", memory="1Gi"), make_node("n2", cpu="8", memory="1Gi")])
    decision = engine.schedule(make_pod(cpu="2", memory="2Gi"))
    assert decision.message == "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory."


def test_pods_already_placed_use_up_room():
    engine = make_engine([make_node("n1", cpu="4")])
    place(engine, make_pod("running", cpu="3"), "n1")
    decision = engine.schedule(make_pod("new", cpu="2"))
    assert decision.message == "0/1 nodes are available: 1 Insufficient cpu."


def test_full_pod_slots_say_too_many_pods():
    engine = make_engine([make_node("n1", pods="1")])
    place(engine, make_pod("running", cpu="100m", memory="1Mi"), "n1")
    decision = engine.schedule(make_pod("new", cpu="100m", memory="1Mi"))
    assert decision.message == "0/1 nodes are available: 1 Too many pods."


def test_extended_resource_only_on_nodes_that_offer_it():
    engine = make_engine([make_node("plain"), make_node("gpu", extra={"nvidia.com/gpu": "2"})])
    assert engine.schedule(make_pod(extra_requests={"nvidia.com/gpu": "1"})).node == "gpu"
    decision = engine.schedule(make_pod(extra_requests={"nvidia.com/gpu": "3"}))
    assert decision.message == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."


def test_extended_resource_no_node_offers():
    engine = make_engine([make_node("plain")])
    decision = engine.schedule(make_pod(extra_requests={"example.com/fpga": "1"}))
    assert decision.node is None
    assert decision.message == "0/1 nodes are available: 1 Insufficient example.com/fpga."


def test_ephemeral_storage_is_checked():
    engine = make_engine([make_node("small", extra={"ephemeral-storage": "10Gi"}),
                          make_node("big", extra={"ephemeral-storage": "100Gi"})])
    assert engine.schedule(make_pod(extra_requests={"ephemeral-storage": "50Gi"})).node == "big"


def test_zero_request_pod_fits_a_full_node_when_defaults_are_zero():
    from scheduler.core.parse import Defaults
    from scheduler.quantity import KUBERNETES_QUANTITIES

    engine = make_engine([make_node("n1", cpu="1")])
    place(engine, make_pod("hog", cpu="1"), "n1")
    pod = make_pod("free", cpu=None, memory=None, defaults=Defaults(KUBERNETES_QUANTITIES, 0, 0, 0))
    assert engine.schedule(pod).node == "n1"


def test_no_nodes_at_all():
    engine = make_engine([])
    decision = engine.schedule(make_pod())
    assert decision.node is None
    assert decision.message == "0/0 nodes are available."
    assert decision.status == UNRESOLVABLE
