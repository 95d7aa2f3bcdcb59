"""NodePorts: a host port in use on a node blocks another pod wanting it (resolvable)."""
from __future__ import annotations

from scheduler.core.framework import UNSCHEDULABLE

from ...helpers import make_engine, make_node, make_pod, place

PORT_REASON = "node(s) didn't have free ports for the requested pod ports"


def with_port(name, port, protocol="TCP", host_ip=None):
    spec_port = {"containerPort": port, "hostPort": port, "protocol": protocol}
    if host_ip:
        spec_port["hostIP"] = host_ip
    return make_pod(name, containers=[{"name": "c", "ports": [spec_port],
                                       "resources": {"requests": {"cpu": "100m", "memory": "10Mi"}}}])


def test_host_port_in_use_moves_pod_to_another_node():
    engine = make_engine([make_node("n1"), make_node("n2")])
    place(engine, with_port("web-0", 8080), "n1")
    assert engine.schedule(with_port("web-1", 8080)).node == "n2"


def test_host_port_in_use_everywhere_message_and_status():
    engine = make_engine([make_node("n1")])
    place(engine, with_port("web-0", 8080), "n1")
    decision = engine.schedule(with_port("web-1", 8080))
    assert decision.message == f"0/1 nodes are available: 1 {PORT_REASON}."
    assert decision.status == UNSCHEDULABLE  # evicting the holder would free the port


def test_different_port_or_protocol_does_not_conflict():
    engine = make_engine([make_node("n1")])
    place(engine, with_port("web-0", 8080), "n1")
    assert engine.schedule(with_port("other", 9090)).node == "n1"
    assert engine.schedule(with_port("udp", 8080, protocol="UDP")).node == "n1"


def test_specific_ips_conflict_only_with_same_ip_or_wildcard():
    engine = make_engine([make_node("n1")])
    place(engine, with_port("a", 8080, host_ip="10.0.0.1"), "n1")
    assert engine.schedule(with_port("b", 8080, host_ip="10.0.0.2")).node == "n1"
    assert engine.schedule(with_port("c", 8080, host_ip="10.0.0.1")).node is None
    assert engine.schedule(with_port("d", 8080)).node is None  # 0.0.0.0 clashes with any IP


def test_port_freed_when_holder_is_forgotten():
    engine = make_engine([make_node("n1")])
    place(engine, with_port("web-0", 8080), "n1")
    engine.state.forget("default/web-0")
    assert engine.schedule(with_port("web-1", 8080)).node == "n1"
