"""ClusterState: nodes added, updated and removed; pods on a removed node."""
from __future__ import annotations

from scheduler.config import Config
from scheduler.core.cache import ClusterState
from scheduler.core.parse import parse_pod
from scheduler.stack import build_loop

from ..helpers import DEFAULTS, FakeClock, make_engine, make_node, make_pod, place, raw_pod


def free(state, resource, node):
    return int(state.free(resource)[state.row_of[node]])


def test_added_nodes_are_counted_and_found():
    state = ClusterState(capacity=2)
    for i in range(5):  # more than the initial capacity
        state.upsert_node(make_node(f"n{i}", cpu="2"))
    assert state.node_count == 5
    assert state.node("n4").allocatable["cpu"] == 2000
    assert free(state, "cpu", "n4") == 2000
    assert state.node("missing") is None


def test_node_update_keeps_its_pods_and_recomputes_free_room():
    engine = make_engine([make_node("n1", cpu="4")])
    place(engine, make_pod("a", cpu="1"), "n1")
    engine.state.upsert_node(make_node("n1", cpu="2"))
    assert [p.name for p in engine.state.pods_on_node("n1")] == ["a"]
    assert free(engine.state, "cpu", "n1") == 1000
    assert engine.schedule(make_pod("b", cpu="2")).node is None


def test_node_update_adding_an_extended_resource():
    engine = make_engine([make_node("n1")])
    gpu_pod = make_pod(extra_requests={"nvidia.com/gpu": "1"})
    assert engine.schedule(gpu_pod).node is None
    engine.state.upsert_node(make_node("n1", extra={"nvidia.com/gpu": "1"}))
    assert engine.schedule(gpu_pod).node == "n1"


def test_removed_node_returns_its_pods_and_takes_no_more():
    engine = make_engine([make_node("n1"), make_node("n2", cpu="1")])
    place(engine, make_pod("a", cpu="1"), "n1")
    engine.assume(make_pod("b", cpu="1"), "n1")
    orphans = engine.state.remove_node("n1")
    assert sorted(p.name for p in orphans) == ["a", "b"]
    assert "default/a" not in engine.state.placed and "default/b" not in engine.state.placed
    assert engine.state.node_count == 1
    decision = engine.schedule(make_pod("c", cpu="2"))
    assert decision.message == "0/1 nodes are available: 1 Insufficient cpu."


def test_removing_unknown_node_is_harmless():
    state = ClusterState()
    assert state.remove_node("ghost") == []


def test_reused_row_starts_empty():
    engine = make_engine([make_node("old", cpu="2")])
    place(engine, make_pod("a", cpu="2"), "old")
    engine.state.remove_node("old")
    engine.state.upsert_node(make_node("new", cpu="2"))
    assert free(engine.state, "cpu", "new") == 2000
    assert engine.state.pods_on_node("new") == []
    assert engine.schedule(make_pod("b", cpu="2")).node == "new"


def test_pods_on_a_removed_node_count_again_when_it_returns():
    engine = make_engine([make_node("n1", cpu="4")])
    place(engine, make_pod("a", cpu="3"), "n1")
    engine.state.remove_node("n1")
    engine.state.upsert_node(make_node("n1", cpu="4"))  # e.g. a relist, or the node object recreated
    assert [p.name for p in engine.state.pods_on_node("n1")] == ["a"]
    assert free(engine.state, "cpu", "n1") == 1000


def test_pod_deleted_while_its_node_was_gone_is_not_counted_when_it_returns():
    engine = make_engine([make_node("n1", cpu="4")])
    place(engine, make_pod("a", cpu="3"), "n1")
    engine.state.remove_node("n1")
    engine.state.forget("default/a")
    engine.state.upsert_node(make_node("n1", cpu="4"))
    assert engine.state.pods_on_node("n1") == []
    assert free(engine.state, "cpu", "n1") == 4000


def test_placing_on_unknown_node_fails():
    state = ClusterState()
    assert not state.place(make_pod(), "ghost")


# ------------------------------------------------------------ through the loop (what the daemon feeds it)


def loop_with(*nodes):
    loop = build_loop(Config(), FakeClock())
    for node in nodes:
        loop.node_changed(node)
    return loop


def bound(name, node, phase="Running", cpu="2"):
    raw = raw_pod(name, cpu=cpu, memory="1Gi", nodeName=node)
    raw["status"]["phase"] = phase
    return parse_pod(raw, DEFAULTS)


def test_terminal_pod_frees_its_node():
    loop = loop_with(make_node("n1", cpu="2"))
    loop.pod_changed(bound("job", "n1"))
    assert free(loop.state, "cpu", "n1") == 0
    loop.pod_changed(bound("job", "n1", phase="Succeeded"))
    assert free(loop.state, "cpu", "n1") == 2000


def test_failed_pod_is_not_counted():
    loop = loop_with(make_node("n1", cpu="2"))
    loop.pod_changed(bound("job", "n1", phase="Failed"))
    assert free(loop.state, "cpu", "n1") == 2000
    assert "default/job" not in loop.state.placed


def test_terminal_pending_pod_is_not_queued():
    loop = loop_with(make_node("n1"))
    raw = raw_pod("done", cpu="1", memory="1Gi")
    raw["status"]["phase"] = "Succeeded"
    loop.pod_changed(parse_pod(raw, DEFAULTS))
    assert "default/done" not in loop.queue
