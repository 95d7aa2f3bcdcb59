"""Resource-allocation scores: least-allocated spreads, most-allocated packs, balanced evens cpu/memory."""
from __future__ import annotations

import numpy as np

from scheduler.config import Config
from scheduler.core.plugins.allocation import AllocationFractions

from ...helpers import make_engine, make_node, make_pod, place


def spread_then_pack(config):
    engine = make_engine([make_node("n1", cpu="4", memory="8Gi"), make_node("n2", cpu="4", memory="8Gi")], config)
    chosen = []
    for i in range(4):
        pod = make_pod(f"p{i}", cpu="1", memory="1Gi")
        decision = engine.schedule(pod)
        assert engine.assume(pod, decision.node)
        chosen.append(decision.node)
    return chosen


def test_least_allocated_spreads_pods_by_default():
    assert spread_then_pack(Config()) == ["n1", "n2", "n1", "n2"]


def test_most_allocated_packs_pods():
    config = Config(scores=(("MostAllocated", 1.0),))
    assert spread_then_pack(config) == ["n1", "n1", "n1", "n1"]


def test_least_allocated_prefers_the_emptier_node():
    engine = make_engine([make_node("busy"), make_node("idle")], Config(scores=(("LeastAllocated", 1.0),)))
    place(engine, make_pod("x", cpu="3", memory="6Gi"), "busy")
    assert engine.schedule(make_pod()).node == "idle"


def test_most_allocated_prefers_the_fuller_node_that_still_fits():
    engine = make_engine([make_node("empty"), make_node("half"), make_node("full", cpu="1")],
                         Config(scores=(("MostAllocated", 1.0),)))
    place(engine, make_pod("x", cpu="2", memory="4Gi"), "half")
    place(engine, make_pod("y", cpu="1", memory="1Gi"), "full")
    assert engine.schedule(make_pod()).node == "half"


def test_balanced_allocation_prefers_evening_out_cpu_and_memory():
    engine = make_engine([make_node("cpu-heavy"), make_node("mem-heavy")], Config(scores=(("BalancedAllocation", 1.0),)))
    place(engine, make_pod("c", cpu="3", memory="1Gi"), "cpu-heavy")
    place(engine, make_pod("m", cpu="500m", memory="6Gi"), "mem-heavy")
    # a cpu-hungry pod evens out the memory-heavy node and unbalances the cpu-heavy one further
    assert engine.schedule(make_pod("new", cpu="1", memory="100Mi")).node == "mem-heavy"
    assert engine.schedule(make_pod("new2", cpu="100m", memory="2Gi")).node == "cpu-heavy"


def test_allocation_scores_of_a_profile_share_one_computation():
    engine = make_engine([make_node("n1")], Config(scores=(("LeastAllocated", 1.0), ("BalancedAllocation", 1.0))))
    least, balanced = (plugin for plugin, _ in engine.profile.scores)
    assert least.fractions is balanced.fractions
    other = make_engine([make_node("n1")])
    assert other.profile.scores[0][0].fractions is not least.fractions


def test_shared_fractions_answer_for_the_state_and_the_moment_asked_about():
    busy = make_engine([make_node("n1", cpu="4", memory="8Gi")]).state
    idle = make_engine([make_node("n1", cpu="4", memory="8Gi")]).state
    busy.place(make_pod("x", cpu="2", memory="4Gi"), "n1", assumed=False)
    idle.place(make_pod("y", cpu="0", memory="0"), "n1", assumed=False)
    assert busy.generation == idle.generation
    fractions, pod, rows = AllocationFractions(), make_pod("p", cpu="1", memory="2Gi"), np.array([0])
    assert fractions(pod, busy, rows)[0].tolist() == [0.75]
    assert fractions(pod, idle, rows)[0].tolist() == [0.25]  # same pod, rows and generation: another state
    idle.place(make_pod("z", cpu="1", memory="1Gi"), "n1", assumed=False)
    assert fractions(pod, idle, rows)[0].tolist() == [0.5]  # the state changed since


def test_pods_without_requests_still_spread_in_the_scores():
    """Filters see what a pod of another scheduler declares (nothing); the scores see kube's non-zero
    100m/200Mi, so a node full of request-less pods does not look empty."""
    from scheduler.config import Config
    from scheduler.core.parse import parse_pod
    from scheduler.stack import defaults_from

    from ...helpers import make_engine, make_node, raw_pod

    defaults = defaults_from(Config())
    engine = make_engine([make_node("busy", cpu="1", memory="1Gi"), make_node("idle", cpu="1", memory="1Gi")])
    for i in range(5):
        theirs = parse_pod(raw_pod(f"t{i}", schedulerName="default-scheduler"), defaults)
        assert theirs.requests == {"pods": 1}
        engine.state.place(theirs, "busy")
    assert int(engine.state.free("cpu")[engine.state.row_of["busy"]]) == 1000  # the filters: nothing requested
    ours = parse_pod(raw_pod("ours", cpu="100m", memory="100Mi"), defaults)
    assert engine.schedule(ours).node == "idle"
