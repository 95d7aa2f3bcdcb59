"""Nominated room: kept for the preemptor against equal/lower priority pods, yielded to higher ones, expired when stale."""
from __future__ import annotations

from .builders import Cluster, victim_names


def preempted_cluster(**flags) -> Cluster:
    """n1 (6 cpu) runs `low` (4 cpu, priority 1); `high` (4 cpu, priority 100) preempted it and is nominated to n1."""
    cluster = Cluster(preemption=True, **flags)
    cluster.node("n1", cpu="6")
    cluster.pod("low", cpu="4", priority=1, node="n1")
    cluster.pod("high", cpu="4", priority=100)
    cluster.run()
    assert victim_names(cluster.last("high")) == ["low"]
    assert cluster.loop.nominations.get("default/high").node == "n1"
    return cluster


def test_lower_priority_pod_is_not_placed_into_the_nominated_room():
    cluster = preempted_cluster()
    cluster.delete("low")  # victim gone: 6 cpu free, 4 of them held for `high`
    cluster.pod("sneaky", cpu="3", priority=50)  # would fit in the 6 free cpu, not in the 2 unreserved
    cluster.run()  # `high` is still in backoff: only `sneaky` is tried
    decision = cluster.last("sneaky")
    assert decision.node is None
    assert "room reserved for a higher-priority nominated pod" in decision.message
    assert cluster.node_of("sneaky") is None


def test_equal_priority_pod_is_not_placed_into_the_nominated_room():
    cluster = preempted_cluster()
    cluster.delete("low")
    cluster.pod("peer", cpu="3", priority=100)
    cluster.run()
    assert cluster.node_of("peer") is None


def test_small_pod_may_use_room_outside_the_nomination():
    cluster = preempted_cluster()
    cluster.delete("low")
    cluster.pod("small", cpu="2", priority=50)
    cluster.run()
    assert cluster.node_of("small") == "n1"


def test_preemptor_takes_its_room_after_the_victim_terminates():
    cluster = preempted_cluster()
    cluster.delete("low")
    cluster.pod("sneaky", cpu="3", priority=50)
    cluster.clock.advance(5)
    cluster.run()
    assert cluster.node_of("high") == "n1"
    assert cluster.node_of("sneaky") is None
    assert cluster.loop.nominations.get("default/high") is None


def test_higher_priority_pod_takes_the_room_and_the_lower_nomination_is_cleared_and_replanned():
    cluster = preempted_cluster()
    cluster.delete("low")
    cluster.pod("vip", cpu="4", priority=200)
    cluster.run()
    assert cluster.node_of("vip") == "n1"
    assert cluster.loop.nominations.get("default/high") is None
    assert "default/high" in cluster.cleared()
    # re-planned: the next attempt finds no room and no lower-priority victims (vip outranks it)
    cluster.clock.advance(5)
    cluster.run()
    decision = cluster.last("high")
    assert cluster.node_of("high") is None
    assert decision.victims == [] and not decision.nominated_node
    assert "no node can make room" in decision.message


def test_nomination_is_cleared_when_its_node_is_deleted():
    cluster = preempted_cluster()
    cluster.loop.node_deleted("n1")
    cluster.clock.advance(2)
    cluster.run()
    assert cluster.loop.nominations.get("default/high") is None
    assert "default/high" in cluster.cleared()


def test_nomination_timeout_never_replans_while_the_victims_are_still_terminating():
    cluster = preempted_cluster(nomination_timeout=30)
    cluster.terminating("low")  # a slow victim (long grace period)
    cluster.clock.advance(10)
    cluster.run()
    assert cluster.loop.nominations.get("default/high") is not None  # still within the timeout: waits
    assert "waiting for 1 preempted pod(s)" in cluster.last("high").message
    cluster.clock.advance(60)
    cluster.run()
    assert cluster.loop.nominations.get("default/high") is not None  # past the timeout, but its room is coming
    assert cluster.cleared() == []


def test_nomination_expires_after_the_timeout_once_nothing_is_leaving_and_the_pod_still_does_not_fit():
    cluster = preempted_cluster(nomination_timeout=30)
    cluster.terminating("low")
    cluster.node("n1", cpu="2")  # the node shrank meanwhile
    cluster.delete("low")  # the victim is gone, and still the pod does not fit
    cluster.clock.advance(31)
    cluster.run()
    assert "default/high" in cluster.cleared()
    assert any(e.reason == "NominationExpired" for e in cluster.events())
