"""PodTopologySpread against kube-scheduler's documented semantics: skew, minDomains, policies, defaults."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import pytest

from scheduler.config import Config
from scheduler.core.framework import UNSCHEDULABLE
from scheduler.core.model import ModelError
from scheduler.core.parse import parse_pod
from scheduler.core.plugins.spread import MISSING_LABEL_REASON, SKEW_REASON, PodTopologySpreadScore

from ...helpers import DEFAULTS, make_engine, make_node, make_pod, place, raw_pod
from ...helpers import feasible_names as feasible
from ...helpers import schedule_in_turn as run

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
APP = {"app": "web"}


def node(name: str, zone: Optional[str], **kwargs: Any):
    labels = {HOST: name, **kwargs.pop("labels", {})}
    if zone:
        labels[ZONE] = zone
    return make_node(name, cpu="8", labels=labels, **kwargs)


def constraint(key: str = ZONE, skew: int = 1, when: str = "DoNotSchedule", **extra: Any) -> Dict[str, Any]:
    return {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when, "labelSelector": {"matchLabels": APP}, **extra}


def web(name: str, *constraints: Dict[str, Any], **kwargs: Any):
    return make_pod(name, cpu="100m", labels=dict(APP), topologySpreadConstraints=list(constraints), **kwargs)


def zones_of(engine, nodes: List[Optional[str]]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for name in nodes:
        zone = engine.state.node(name).labels[ZONE]
        counts[zone] = counts.get(zone, 0) + 1
    return counts


@pytest.fixture
def engine():
    return make_engine([node("a1", "a"), node("a2", "a"), node("b1", "b"), node("c1", "c")])


def test_six_replicas_spread_two_per_zone(engine):
    nodes = run(engine, [web(f"w{i}", constraint()) for i in range(6)])
    assert zones_of(engine, nodes) == {"a": 2, "b": 2, "c": 2}


def test_skew_counts_zero_pod_domains(engine):
    place(engine, web("w0", constraint()), "a1")
    # zones b and c have no matching pod: min is 0, so zone a (1 + 1 - 0 = 2 > 1) is out
    assert feasible(engine, web("w1", constraint())) == ["b1", "c1"]


def test_skew_failure_is_resolvable_missing_label_is_not():
    engine = make_engine([node("a1", "a"), node("b1", "b"), node("bare", None)])
    place(engine, web("w0", constraint()), "a1")
    place(engine, web("w1", constraint()), "b1")
    stuck = engine.schedule(web("w2", constraint(minDomains=3)))  # two domains of three: the minimum is 0
    assert stuck.message == f"0/3 nodes are available: 2 {SKEW_REASON}, 1 {MISSING_LABEL_REASON}."
    assert stuck.status == UNSCHEDULABLE
    assert [engine.state.name_of(int(r)) for r in stuck.diagnosis.resolvable_rows] == ["a1", "b1"]


def test_min_domains_treats_missing_domains_as_empty():
    engine = make_engine([node("a1", "a"), node("b1", "b")])
    place(engine, web("w0", constraint()), "a1")
    place(engine, web("w1", constraint()), "b1")
    # two zones with one each: skew allows a second anywhere ...
    assert feasible(engine, web("w2", constraint())) == ["a1", "b1"]
    # ... but minDomains 3 with only 2 domains makes the global minimum 0
    assert feasible(engine, web("w3", constraint(minDomains=3))) == []


def test_node_affinity_policy_honor_ignores_excluded_nodes_domains(engine):
    engine = make_engine([node("a1", "a", labels={"pool": "x"}), node("b1", "b", labels={"pool": "x"}),
                          node("c1", "c", labels={"pool": "y"})])
    place(engine, web("w0", constraint()), "a1")
    honoured = web("w1", constraint(), nodeSelector={"pool": "x"})
    assert feasible(engine, honoured) == ["b1"]  # zone c does not count: its minimum of 0 is ignored
    place(engine, web("w2", constraint()), "b1")
    assert feasible(engine, web("w3", constraint(), nodeSelector={"pool": "x"})) == ["a1", "b1"]
    ignored = web("w4", constraint(nodeAffinityPolicy="Ignore"), nodeSelector={"pool": "x"})
    assert feasible(engine, ignored) == []  # zone c counts with 0 pods: a and b are at skew 2


def test_node_taints_policy_honor_skips_tainted_nodes():
    taint = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    engine = make_engine([node("a1", "a"), node("b1", "b"), node("c1", "c", taints=taint)])
    place(engine, web("w0", constraint()), "a1")
    place(engine, web("w1", constraint()), "b1")
    assert feasible(engine, web("w2", constraint())) == []  # zone c (tainted) counts as an empty domain
    assert feasible(engine, web("w3", constraint(nodeTaintsPolicy="Honor"))) == ["a1", "b1"]


def test_terminating_pods_are_not_counted(engine):
    place(engine, web("w0", constraint()), "a1")
    gone = web("w0", constraint())
    gone.deleting = True
    engine.state.place(gone, "a1")
    assert feasible(engine, web("w1", constraint())) == ["a1", "a2", "b1", "c1"]


def test_pods_of_other_namespaces_or_labels_are_not_counted(engine):
    place(engine, make_pod("x", cpu="100m", labels=dict(APP), namespace="other"), "a1")
    place(engine, make_pod("y", cpu="100m", labels={"app": "db"}), "a1")
    assert feasible(engine, web("w", constraint())) == ["a1", "a2", "b1", "c1"]


def test_match_label_keys_spreads_each_revision_on_its_own(engine):
    old = [make_pod(f"old{i}", cpu="100m", labels={**APP, "rev": "1"}) for i in range(2)]
    for pod in old:
        place(engine, pod, "a1")
    new = make_pod("new", cpu="100m", labels={**APP, "rev": "2"},
                   topologySpreadConstraints=[constraint(matchLabelKeys=["rev"])])
    assert "a1" in feasible(engine, new)


def test_schedule_anyway_prefers_the_emptier_zone(engine):
    for i, name in enumerate(("a1", "b1")):
        place(engine, web(f"w{i}", constraint()), name)
    soft = web("soft", constraint(when="ScheduleAnyway"))
    assert engine.schedule(soft).node == "c1"


def test_default_constraints_spread_a_replicasets_pods_by_node():
    def replica(i: int):
        owner = {"ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "uid": "rs-1", "controller": True}]}
        raw = raw_pod(f"r{i}", cpu="100m", labels=dict(APP))
        raw["metadata"].update(owner)
        return parse_pod(raw, DEFAULTS)

    def scores(config: Config) -> Optional[List[float]]:
        engine = make_engine([node(f"n{i}", "a") for i in range(3)], config)
        for i in range(2):
            place(engine, replica(i), "n0")
        plugin = next(p for p, _ in engine.profile.scores if isinstance(p, PodTopologySpreadScore))
        found = plugin.score(replica(9), engine.state, np.arange(3))
        return None if found is None else list(found)

    defaulted = scores(Config())
    assert defaulted is not None and defaulted[0] < defaulted[1] == defaulted[2]
    assert scores(Config(default_spread_constraints=())) is None


@pytest.mark.parametrize("bad, message", [
    ({"maxSkew": 0, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}, "maxSkew"),
    ({"maxSkew": 1, "topologyKey": "", "whenUnsatisfiable": "DoNotSchedule"}, "topologyKey"),
    ({"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "Maybe"}, "whenUnsatisfiable"),
    ({"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2}, "minDomains"),
    ({"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": "x"}, "nodeTaintsPolicy"),
])
def test_malformed_constraints_are_reported(bad, message):
    with pytest.raises(ModelError, match=message):
        make_pod("p", topologySpreadConstraints=[bad])


def test_preemption_evicts_a_lower_priority_matching_pod_to_restore_the_spread():
    from scheduler.core.nomination import Nominations
    from scheduler.core.preemption import PreemptionPolicy, Preemptor

    from ...helpers import FakeClock

    engine = make_engine([node("a1", "a"), node("b1", "b")], Config(preemption=True))
    engine.state.victims.is_evictable = lambda pod: True
    place(engine, web("low-a", priority=1), "a1")
    place(engine, web("low-b", priority=1), "b1")
    place(engine, web("low-b2", priority=1), "b1")
    pod = web("high", constraint(minDomains=3), priority=100)  # 2 of 3 domains: the minimum is 0
    preemptor = Preemptor(engine, PreemptionPolicy(), FakeClock(), Nominations())
    decision = preemptor.decide(pod)
    assert decision.nominated_node == "a1" and [v.name for v in decision.victims] == ["low-a"]


def test_a_diagnosis_says_what_filter_and_explain_say_and_eviction_never_helps_a_missing_label():
    """The violations are computed once for a diagnosis: the rows and reasons are those of `filter` and
    `explain`; evicting pods can help a skewed node, never one without the topology label."""
    from scheduler.core.framework import FilterPlugin
    from scheduler.core.plugins.spread import PodTopologySpread

    engine = make_engine([node("a1", "a"), node("b1", "b"), node("bare", None), node("c1", "c")])
    place(engine, web("w0", constraint()), "a1")
    place(engine, web("w1", constraint()), "b1")
    plugin, state = PodTopologySpread(), engine.state
    for pod in (web("w2", constraint(minDomains=4)), web("w3", constraint())):
        for remaining, helped in ((state.alive[: state.size].copy(), ["a1", "b1"]),
                                  (np.array([True, False, True, True]), ["a1"])):
            one_pass, generic = plugin.verdict(pod, state, remaining), FilterPlugin.verdict(plugin, pod, state, remaining)
            assert one_pass is not None and generic is not None
            assert one_pass[0].tolist() == generic[0].tolist() and one_pass[1] == generic[1]
            assert [state.name_of(int(row)) for row in one_pass[2]] == helped
