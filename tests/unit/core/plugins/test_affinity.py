"""NodeAffinity: nodeSelector and required affinity filter (unresolvable); preferred affinity scores."""
from __future__ import annotations

import pytest

from scheduler.core.framework import UNRESOLVABLE

from ...helpers import make_engine, make_node, make_pod

MISMATCH = "node(s) didn't match Pod's node affinity/selector"


def required(*terms):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": list(term)} for term in terms]}}}


def expr(key, operator, *values):
    out = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


@pytest.fixture
def engine():
    return make_engine([
        make_node("a1", labels={"zone": "a", "disk": "ssd", "cores": "8"}),
        make_node("a2", labels={"zone": "a", "cores": "32"}),
        make_node("b1", labels={"zone": "b", "disk": "ssd", "cores": "16"}),
    ])


def feasible(engine, pod):
    mask = engine.feasible(pod)
    return sorted(engine.state.nodes[row].name for row in range(engine.state.size) if mask[row])


def test_node_selector_all_labels_must_match(engine):
    assert feasible(engine, make_pod(nodeSelector={"zone": "a", "disk": "ssd"})) == ["a1"]


def test_node_selector_nothing_matches_is_unresolvable(engine):
    decision = engine.schedule(make_pod(nodeSelector={"zone": "c"}))
    assert decision.message == f"0/3 nodes are available: 3 {MISMATCH}."
    assert decision.status == UNRESOLVABLE


@pytest.mark.parametrize("expression, expected", [
    (expr("zone", "In", "b", "c"), ["b1"]),
    (expr("zone", "NotIn", "a"), ["b1"]),
    (expr("disk", "Exists"), ["a1", "b1"]),
    (expr("disk", "DoesNotExist"), ["a2"]),
    (expr("cores", "Gt", "8"), ["a2", "b1"]),
    (expr("cores", "Lt", "16"), ["a1"]),
])
def test_required_affinity_operators(engine, expression, expected):
    assert feasible(engine, make_pod(affinity=required([expression]))) == expected


def test_not_in_matches_nodes_without_the_label():
    engine = make_engine([make_node("labelled", labels={"zone": "a"}), make_node("bare")])
    assert feasible(engine, make_pod(affinity=required([expr("zone", "NotIn", "a")]))) == ["bare"]


def test_gt_with_non_numeric_label_does_not_match():
    engine = make_engine([make_node("n1", labels={"cores": "many"})])
    assert engine.schedule(make_pod(affinity=required([expr("cores", "Gt", "1")]))).node is None


def test_expressions_in_a_term_are_anded(engine):
    pod = make_pod(affinity=required([expr("zone", "In", "a"), expr("disk", "Exists")]))
    assert feasible(engine, pod) == ["a1"]


def test_terms_are_ored(engine):
    pod = make_pod(affinity=required([expr("zone", "In", "b")], [expr("disk", "DoesNotExist")]))
    assert feasible(engine, pod) == ["a2", "b1"]


def test_selector_and_affinity_both_apply(engine):
    pod = make_pod(nodeSelector={"zone": "a"}, affinity=required([expr("disk", "Exists")]))
    assert feasible(engine, pod) == ["a1"]


def test_match_fields_on_node_name():
    engine = make_engine([make_node("n1"), make_node("n2")])
    pod = make_pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [expr("metadata.name", "In", "n2")]}]}}})
    assert engine.schedule(pod).node == "n2"


def test_preferred_affinity_picks_the_heaviest_matching_node():
    engine = make_engine([make_node("a", labels={"zone": "a"}), make_node("b", labels={"zone": "b"}),
                          make_node("c", labels={"zone": "c"})])
    pod = make_pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [expr("zone", "In", "b")]}},
        {"weight": 50, "preference": {"matchExpressions": [expr("zone", "In", "c")]}},
    ]}})
    assert engine.schedule(pod).node == "c"


def test_preferred_affinity_is_not_a_filter():
    engine = make_engine([make_node("a", labels={"zone": "a"})])
    pod = make_pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [expr("zone", "In", "z")]}}]}})
    assert engine.schedule(pod).node == "a"


def test_node_label_change_is_seen_by_the_filter():
    engine = make_engine([make_node("n1", labels={"zone": "a"})])
    pod = make_pod(nodeSelector={"zone": "b"})
    assert engine.schedule(pod).node is None
    engine.state.upsert_node(make_node("n1", labels={"zone": "b"}))
    assert engine.schedule(pod).node == "n1"


def test_empty_required_term_matches_no_node_like_kube(engine):
    # "A null or empty node selector term matches no objects" (core/v1 NodeSelectorTerm)
    pod = make_pod(affinity=required([]))
    assert feasible(engine, pod) == []
    assert feasible(engine, make_pod(affinity=required([], [expr("zone", "In", "b")]))) == ["b1"]
