"""Per-node caches follow node changes row by row: a node update recomputes that node, not all of them."""
from __future__ import annotations

from scheduler.core.cache import NODE_LOG_SIZE
from scheduler.core.plugins.static import MaskCache

from ..helpers import make_engine, make_node, make_pod


def names(engine, mask):
    return sorted(engine.state.nodes[r].name for r in range(engine.state.size) if mask[r])


def test_a_node_update_changes_its_row_in_every_cached_static_mask():
    engine = make_engine([make_node(f"n{i}", labels={"zone": "a"}) for i in range(4)])
    in_a = make_pod("a", nodeSelector={"zone": "a"})
    in_b = make_pod("b", nodeSelector={"zone": "b"})
    assert names(engine, engine.static_mask(in_a)) == ["n0", "n1", "n2", "n3"]
    assert names(engine, engine.static_mask(in_b)) == []
    engine.state.upsert_node(make_node("n2", labels={"zone": "b"}))
    assert names(engine, engine.static_mask(in_a)) == ["n0", "n1", "n3"]
    assert names(engine, engine.static_mask(in_b)) == ["n2"]
    engine.state.upsert_node(make_node("n9", labels={"zone": "b"}))  # a new row
    engine.state.remove_node("n0")
    assert names(engine, engine.static_mask(in_a)) == ["n1", "n3"]
    assert names(engine, engine.static_mask(in_b)) == ["n2", "n9"]


def test_only_the_changed_nodes_are_asked_again():
    engine = make_engine([make_node(f"n{i}") for i in range(40)])
    cache, calls = MaskCache(), []

    def passes(node):
        calls.append(node.name)
        return True

    cache.get(engine.state, "key", passes)
    assert len(calls) == 40
    calls.clear()
    engine.state.upsert_node(make_node("n7", cpu="8"))
    cache.get(engine.state, "key", passes)
    assert calls == ["n7"]


def test_after_many_changes_everything_is_recomputed():
    engine = make_engine([make_node(f"n{i}") for i in range(8)])
    generation = engine.state.node_generation
    for i in range(8):
        engine.state.upsert_node(make_node(f"n{i}", cpu="8"))
    assert engine.state.rows_changed_since(generation) is None  # every row changed: cheaper to redo them all
    for _ in range(NODE_LOG_SIZE + 1):
        engine.state.upsert_node(make_node("n0", cpu="8"))
    assert engine.state.rows_changed_since(generation) is None  # too long ago to tell


def test_topology_domains_follow_a_relabelled_node():
    engine = make_engine([make_node(f"n{i}", labels={"zone": "a"}) for i in range(4)])
    state = engine.state
    ids, count = state.topology.domains(state, "zone")
    assert count == 1 and list(ids) == [0, 0, 0, 0]
    state.upsert_node(make_node("n3", labels={"zone": "b"}))
    state.upsert_node(make_node("n1"))
    ids, count = state.topology.domains(state, "zone")
    assert count == 2 and list(ids) == [0, -1, 0, 1]


def test_caches_keep_a_bounded_number_of_pod_shapes(monkeypatch):
    from scheduler.core import engine as engine_module
    from scheduler.core.plugins import static

    monkeypatch.setattr(engine_module, "MAX_SHAPES", 8)
    monkeypatch.setattr(static, "MAX_SHAPES", 8)
    engine = make_engine([make_node("n0", labels={"zone": "a"})])
    for i in range(50):  # pods choose their shapes: fifty different selectors
        engine.static_mask(make_pod(f"p{i}", nodeSelector={"zone": str(i)}))
    assert len(engine._static_cache) == 8
    affinity = next(f for f in engine.static_filters if f.name == "NodeAffinity")
    assert len(affinity._cache._masks) == 8
    assert names(engine, engine.static_mask(make_pod("a", nodeSelector={"zone": "a"}))) == ["n0"]
