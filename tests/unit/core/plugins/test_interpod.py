"""InterPodAffinity against kube-scheduler's documented semantics: required/preferred, both ways."""
from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from scheduler.config import Config
from scheduler.core.framework import UNRESOLVABLE, UNSCHEDULABLE
from scheduler.core.nomination import Nominations
from scheduler.core.plugins.interpod import AFFINITY_REASON, ANTI_AFFINITY_REASON, EXISTING_ANTI_AFFINITY_REASON
from scheduler.core.preemption import PreemptionPolicy, Preemptor

from ...helpers import FakeClock, make_engine, make_node, make_pod, place
from ...helpers import feasible_names as feasible
from ...helpers import schedule_in_turn as run

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def term(labels: Optional[Dict[str, str]], key: str = HOST, **extra: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {"topologyKey": key, **extra}
    if labels is not None:
        out["labelSelector"] = {"matchLabels": labels}
    return out


def affinity(kind: str = "podAntiAffinity", required=(), preferred=()) -> Dict[str, Any]:
    section: Dict[str, Any] = {}
    if required:
        section["requiredDuringSchedulingIgnoredDuringExecution"] = list(required)
    if preferred:
        section["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": w, "podAffinityTerm": t} for w, t in preferred]
    return {kind: section}


def node(name: str, zone: Optional[str] = "a", cpu: str = "4"):
    labels = {HOST: name}
    if zone:
        labels[ZONE] = zone
    return make_node(name, cpu=cpu, labels=labels)


@pytest.fixture
def engine():
    return make_engine([node("a1", "a"), node("a2", "a"), node("b1", "b"), node("c1", "c")])


WEB = {"app": "web"}


def web(name: str, **kwargs: Any):
    return make_pod(name, cpu="100m", labels=WEB, affinity=affinity(required=[term(WEB)]), **kwargs)


def test_hostname_anti_affinity_puts_replicas_on_distinct_nodes(engine):
    nodes = run(engine, [web(f"web-{i}") for i in range(4)])
    assert len(set(nodes)) == 4 and None not in nodes
    fifth = engine.schedule(web("web-4"))
    assert fifth.node is None
    assert fifth.message == f"0/4 nodes are available: 4 {ANTI_AFFINITY_REASON}."
    assert fifth.status == UNSCHEDULABLE  # evicting the matching pods could help


def test_existing_pods_anti_affinity_is_honoured_against_a_pod_without_terms(engine):
    place(engine, web("guard"), "a1")
    plain = make_pod("plain", cpu="100m", labels=WEB)
    assert feasible(engine, plain) == ["a2", "b1", "c1"]
    other = make_pod("other", cpu="100m", labels={"app": "db"})
    assert feasible(engine, other) == ["a1", "a2", "b1", "c1"]
    engine.state.forget(plain.key)
    for name in ("a2", "b1", "c1"):
        place(engine, web(f"guard-{name}"), name)
    assert engine.schedule(plain).message == f"0/4 nodes are available: 4 {EXISTING_ANTI_AFFINITY_REASON}."


def test_zone_anti_affinity_blocks_the_whole_zone(engine):
    place(engine, make_pod("db", cpu="100m", labels={"app": "db"}), "a1")
    pod = make_pod("p", cpu="100m", affinity=affinity(required=[term({"app": "db"}, ZONE)]))
    assert feasible(engine, pod) == ["b1", "c1"]


def test_required_affinity_follows_the_matching_pods_zone(engine):
    place(engine, make_pod("db", cpu="100m", labels={"app": "db"}), "b1")
    pod = make_pod("p", cpu="100m", affinity=affinity("podAffinity", required=[term({"app": "db"}, ZONE)]))
    assert feasible(engine, pod) == ["b1"]


def test_required_affinity_with_no_match_anywhere_is_unresolvable(engine):
    pod = make_pod("p", cpu="100m", affinity=affinity("podAffinity", required=[term({"app": "db"}, ZONE)]))
    decision = engine.schedule(pod)
    assert decision.message == f"0/4 nodes are available: 4 {AFFINITY_REASON}."
    assert decision.status == UNRESOLVABLE


def test_first_pod_of_a_group_matching_its_own_affinity_may_go_where_the_key_exists():
    engine = make_engine([node("a1", "a"), node("nozone", None)])
    group = {"app": "cache"}
    pod = make_pod("p", cpu="100m", labels=group, affinity=affinity("podAffinity", required=[term(group, ZONE)]))
    assert feasible(engine, pod) == ["a1"]


def test_node_without_the_key_never_violates_anti_affinity():
    engine = make_engine([make_node("bare"), node("a1", "a")])
    place(engine, make_pod("db", cpu="100m", labels={"app": "db"}), "bare")
    place(engine, make_pod("db2", cpu="100m", labels={"app": "db"}), "a1")
    pod = make_pod("p", cpu="100m", affinity=affinity(required=[term({"app": "db"}, ZONE)]))
    assert feasible(engine, pod) == ["bare"]


def test_terms_look_in_the_pods_own_namespace_by_default(engine):
    place(engine, make_pod("db", cpu="100m", labels={"app": "db"}, namespace="other"), "a1")
    pod = make_pod("p", cpu="100m", affinity=affinity(required=[term({"app": "db"})]))
    assert "a1" in feasible(engine, pod)
    named = make_pod("q", cpu="100m", affinity=affinity(required=[term({"app": "db"}, namespaces=["other"])]))
    assert "a1" not in feasible(engine, named)


def test_namespace_selector_uses_namespace_labels(engine):
    engine.state.namespaces.update({"team-a": {"team": "a"}, "team-b": {"team": "b"}})
    place(engine, make_pod("db-a", cpu="100m", labels={"app": "db"}, namespace="team-a"), "a1")
    place(engine, make_pod("db-b", cpu="100m", labels={"app": "db"}, namespace="team-b"), "b1")
    only_a = make_pod("p", cpu="100m", affinity=affinity(required=[
        term({"app": "db"}, namespaceSelector={"matchLabels": {"team": "a"}})]))
    assert feasible(engine, only_a) == ["a2", "b1", "c1"]
    everywhere = make_pod("q", cpu="100m", affinity=affinity(required=[term({"app": "db"}, namespaceSelector={})]))
    assert feasible(engine, everywhere) == ["a2", "c1"]


def test_match_label_keys_counts_only_the_same_revision(engine):
    old = make_pod("old", cpu="100m", labels={"app": "web", "rev": "1"})
    place(engine, old, "a1")
    new = make_pod("new", cpu="100m", labels={"app": "web", "rev": "2"},
                   affinity=affinity(required=[term(WEB, matchLabelKeys=["rev"])]))
    assert "a1" in feasible(engine, new)
    place(engine, make_pod("peer", cpu="100m", labels={"app": "web", "rev": "2"}), "b1")
    assert "b1" not in feasible(engine, new)


def test_mismatch_label_keys_keeps_tenants_apart(engine):
    place(engine, make_pod("x", cpu="100m", labels={"tenant": "x"}), "a1")
    place(engine, make_pod("y", cpu="100m", labels={"tenant": "y"}), "b1")
    pod = make_pod("p", cpu="100m", labels={"tenant": "y"},
                   affinity=affinity(required=[term({}, mismatchLabelKeys=["tenant"])]))
    assert feasible(engine, pod) == ["a2", "b1", "c1"]


def test_pods_assumed_in_the_same_cycle_count(engine):
    first = web("web-0")
    engine.assume(first, "a1")  # assumed, not yet bound
    assert "a1" not in feasible(engine, web("web-1"))


def test_preferred_affinity_and_anti_affinity_score(engine):
    place(engine, make_pod("db", cpu="100m", labels={"app": "db"}), "b1")
    near = make_pod("near", cpu="100m", affinity=affinity("podAffinity", preferred=[(50, term({"app": "db"}, ZONE))]))
    assert engine.schedule(near).node == "b1"
    far = make_pod("far", cpu="100m", affinity=affinity(preferred=[(50, term({"app": "db"}, ZONE))]))
    assert engine.schedule(far).node != "b1"


def test_existing_pods_preferred_terms_attract_and_repel(engine):
    place(engine, make_pod("likes-web", cpu="100m",
                           affinity=affinity("podAffinity", preferred=[(100, term(WEB, ZONE))])), "c1")
    assert engine.schedule(make_pod("w", cpu="100m", labels=WEB)).node == "c1"
    engine.state.forget("default/likes-web")
    place(engine, make_pod("hates-web", cpu="100m", affinity=affinity(preferred=[(100, term(WEB))])), "a1")
    assert engine.schedule(make_pod("w2", cpu="100m", labels=WEB)).node != "a1"


def test_nil_label_selector_selects_no_pod(engine):
    place(engine, make_pod("db", cpu="100m", labels={"app": "db"}), "a1")
    pod = make_pod("p", cpu="100m", affinity=affinity(required=[term(None)]))
    assert feasible(engine, pod) == ["a1", "a2", "b1", "c1"]


def test_counts_follow_pods_leaving(engine):
    place(engine, web("web-0"), "a1")
    assert "a1" not in feasible(engine, web("web-1"))
    engine.state.forget("default/web-0")
    assert "a1" in feasible(engine, web("web-1"))


def preemptor(engine):
    clock = FakeClock()
    return Preemptor(engine, PreemptionPolicy(), clock, Nominations())


def test_preemption_evicts_the_lower_priority_pod_that_breaks_anti_affinity():
    engine = make_engine([node("a1", "a")], Config(preemption=True))
    engine.state.victims.is_evictable = lambda pod: True
    place(engine, make_pod("low", cpu="100m", labels={"app": "db"}, priority=1), "a1")
    pod = make_pod("high", cpu="100m", priority=100, affinity=affinity(required=[term({"app": "db"})]))
    decision = preemptor(engine).decide(pod)
    assert [v.name for v in decision.victims] == ["low"]
    assert decision.nominated_node == "a1"


def test_preemption_never_evicts_where_the_zone_would_still_be_violated():
    engine = make_engine([node("a1", "a"), node("a2", "a")], Config(preemption=True))
    engine.state.victims.is_evictable = lambda pod: True
    place(engine, make_pod("low", cpu="100m", labels={"app": "db"}, priority=1), "a1")
    place(engine, make_pod("high-db", cpu="100m", labels={"app": "db"}, priority=1000), "a2")
    pod = make_pod("p", cpu="100m", priority=100, affinity=affinity(required=[term({"app": "db"}, ZONE)]))
    decision = preemptor(engine).decide(pod)
    assert decision.node is None and not decision.victims and not decision.nominated_node


def test_affinity_failure_is_not_a_preemption_candidate():
    engine = make_engine([node("a1", "a")], Config(preemption=True))
    pod = make_pod("p", cpu="100m", priority=100, affinity=affinity("podAffinity", required=[term({"app": "db"})]))
    decision = engine.schedule(pod)
    assert decision.diagnosis is not None and len(decision.diagnosis.resolvable_rows) == 0


@pytest.mark.parametrize("bad, message", [
    ({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}, "topologyKey"),
    ({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 101, "podAffinityTerm": term({})}]}}, "weight"),
    ({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        term(None, labelSelector={"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})]}}, "operator"),
    ({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term({})] * 33}}, "at most 32"),
])
def test_malformed_terms_are_reported(bad, message):
    from scheduler.core.model import ModelError
    with pytest.raises(ModelError, match=message):
        make_pod("p", affinity=bad)


def test_many_distinct_terms_cost_memory_per_pod_not_per_node():
    from scheduler.core.topology import MAX_SELECTORS

    engine = make_engine([node(f"n{i}", "a") for i in range(4)])
    for i in range(MAX_SELECTORS + 50):  # a tenant giving every pod its own anti-affinity term
        place(engine, make_pod(f"t{i}", cpu="1m", memory="1Mi", labels={"id": str(i)},
                               affinity=affinity(required=[term({"id": str(i)})])), f"n{i % 4}")
    index = engine.state.topology
    assert len(index.holders) == MAX_SELECTORS + 50 and not index._dense  # sparse until asked about
    engine.schedule(make_pod("victim-of-all", cpu="1m", labels={"id": "7"}))
    assert len(index._dense) <= 1  # only the term that selects the pod was made a vector
    assert feasible(engine, make_pod("x", cpu="1m", labels={"id": "7"})) == ["n0", "n1", "n2"]


def test_a_diagnosis_says_what_filter_and_explain_say_and_eviction_helps_only_against_anti_affinity(engine):
    """The plugin computes its rejections once for a diagnosis: the rows and reasons are those of `filter` and
    `explain`; evicting pods can help where anti-affinity rejects a node, never where affinity does."""
    import numpy as np

    from scheduler.core.framework import FilterPlugin
    from scheduler.core.plugins.interpod import InterPodAffinity

    place(engine, web("guard"), "a1")
    place(engine, make_pod("db", cpu="100m", labels={"app": "db"}), "b1")
    plugin = InterPodAffinity()
    plugin.attach(engine.state)
    state = engine.state
    near_db = affinity("podAffinity", required=[term({"app": "db"}, ZONE)])
    cases = [(make_pod("plain", cpu="100m", labels=WEB), [["a1"], None]),  # an existing pod's anti-affinity
             (make_pod("near", cpu="100m", affinity=near_db), [[], []]),
             (make_pod("both", cpu="100m", labels=WEB, affinity={**affinity(required=[term(WEB)]), **near_db}), [[], []])]
    for pod, helped_expected in cases:
        for remaining, helped in zip((state.alive[: state.size].copy(), np.array([False, True, True, True])),
                                     helped_expected):
            one_pass, generic = plugin.verdict(pod, state, remaining), FilterPlugin.verdict(plugin, pod, state, remaining)
            assert (one_pass is None) == (generic is None) == (helped is None), pod.name
            if one_pass is not None and generic is not None:
                assert one_pass[0].tolist() == generic[0].tolist() and one_pass[1] == generic[1]
                assert [state.name_of(int(row)) for row in one_pass[2]] == helped, pod.name
