"""NodeName: a pod naming its node fits only there."""
from __future__ import annotations

from ...helpers import make_engine, make_node, make_pod


def test_pod_with_node_name_goes_only_there():
    engine = make_engine([make_node("n1", cpu="16"), make_node("n2", cpu="2")])
    assert engine.schedule(make_pod(nodeName="n2")).node == "n2"


def test_other_nodes_are_reported_as_not_matching():
    engine = make_engine([make_node("n1"), make_node("n2"), make_node("n3", cpu="1")])
    decision = engine.schedule(make_pod(cpu="2", nodeName="n3"))
    assert decision.message == ("0/3 nodes are available: 1 Insufficient cpu, "
                                "2 node(s) didn't match the requested node name.")


def test_unknown_node_name_fits_nowhere():
    engine = make_engine([make_node("n1")])
    decision = engine.schedule(make_pod(nodeName="ghost"))
    assert decision.node is None
    assert "1 node(s) didn't match the requested node name" in decision.message
