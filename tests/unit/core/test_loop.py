"""The loop against an impolite API: late and failed binding answers, restarts, broken plugins."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scheduler.core.effects import Evict
from scheduler.core.framework import FilterPlugin
from scheduler.core.loop import CycleError
from scheduler.core.parse import parse_pod

from .builders import Cluster, pod_obj, victim_names


def _bound_view(cluster: Cluster, key: str, node: str) -> None:
    """The watch shows our binding (the pod object now has spec.nodeName)."""
    raw = cluster.raw[key]
    raw["spec"]["nodeName"] = node
    raw["status"] = {"phase": "Running"}
    cluster.loop.pod_changed(parse_pod(raw, cluster.defaults))


# ---------------------------------------------------------------- binding answers


def test_a_failed_answer_after_the_watch_showed_the_binding_changes_nothing():
    cluster = Cluster()
    cluster.node("n1", cpu="2")
    cluster.node("n2", cpu="2")
    key = cluster.pod("p", cpu="2").key
    cluster.run()
    node = cluster.node_of(key)
    _bound_view(cluster, key, node)

    assert cluster.bind_failed(key, retry_after=0) is None  # e.g. the answer was lost in an outage
    assert cluster.node_of(key) == node
    assert key not in cluster.loop.queue
    assert cluster.run() == []  # nothing to re-place


def test_failed_bindings_back_off_per_pod_and_honour_retry_after():
    cluster = Cluster(backoff_initial=1, backoff_max=10)
    cluster.node("n1", cpu="4")
    key = cluster.pod("p", cpu="1").key
    backoffs = []
    for _ in range(5):
        cluster.run()
        assert cluster.node_of(key) == "n1"
        backoffs.append(cluster.bind_failed(key))
        assert cluster.node_of(key) is None  # the room is given back at once
        assert cluster.run() == []  # ... but the pod waits out its backoff
        cluster.clock.advance(backoffs[-1])
    assert backoffs == [1, 2, 4, 8, 10]
    cluster.run()
    assert cluster.bind_failed(key, retry_after=30) == 30
    cluster.clock.advance(29)
    assert cluster.run() == []
    cluster.clock.advance(1)
    assert [d.node for d in cluster.run()] == ["n1"]


def test_a_failed_binding_retries_the_pod_as_the_watch_shows_it_now():
    cluster = Cluster()
    cluster.node("n1", cpu="4")
    key = cluster.pod("p", cpu="1", priority=5).key
    cluster.run()
    raw = cluster.raw[key]
    raw["metadata"]["annotations"]["scheduler.alpha.kubernetes.io/priority"] = "50"  # changed meanwhile
    cluster.loop.pod_changed(parse_pod(raw, cluster.defaults))
    assert cluster.node_of(key) == "n1"  # our assumption stands until the API answers

    cluster.bind_failed(key)
    assert cluster.loop.queue.pod(key).priority == 50


def test_a_pod_deleted_while_we_bind_it_is_neither_kept_nor_retried():
    cluster = Cluster()
    cluster.node("n1", cpu="4")
    key = cluster.pod("p", cpu="1").key
    cluster.run()
    cluster.terminating(key)
    assert cluster.node_of(key) is None
    assert cluster.bind_failed(key) is None
    assert key not in cluster.loop.queue


def test_an_accepted_binding_never_expires_while_unconfirmed():
    cluster = Cluster()
    cluster.node("n1", cpu="4")
    key = cluster.pod("p", cpu="1").key
    cluster.run()
    cluster.bind_succeeded(key)
    cluster.clock.advance(3600)
    assert cluster.loop.expire_assumptions(ttl=60) == []
    assert cluster.node_of(key) == "n1"


def test_an_unanswered_binding_expires_after_the_ttl_and_the_pod_is_tried_again():
    cluster = Cluster(backoff_initial=1)
    cluster.node("n1", cpu="4")
    key = cluster.pod("p", cpu="1").key
    cluster.run()
    cluster.clock.advance(30)
    assert cluster.loop.expire_assumptions(ttl=60) == []
    cluster.clock.advance(31)
    assert cluster.loop.expire_assumptions(ttl=60) == [key]
    assert cluster.node_of(key) is None
    cluster.clock.advance(1)
    assert [d.node for d in cluster.run()] == ["n1"]


# ---------------------------------------------------------------- restart and failover


def _nominated(cluster: Cluster, name: str, nominated: str, **kwargs: Any) -> str:
    raw = pod_obj(name, **kwargs)
    raw["status"]["nominatedNodeName"] = nominated
    pod = parse_pod(raw, cluster.defaults)
    cluster.raw[pod.key] = raw
    cluster.loop.pod_changed(pod)
    return pod.key


def test_after_a_restart_a_nominated_pod_waits_for_its_terminating_victims():
    cluster = Cluster(preemption=True)
    for name in ("n1", "n2"):
        cluster.node(name, cpu="4")
    cluster.pod("victim", cpu="3", priority=1, node="n1", deleting=True)  # evicted by our previous run
    cluster.pod("other", cpu="3", priority=1, node="n2")
    cluster.pod("filler", cpu="1", priority=1, node="n1")
    _nominated(cluster, "high", "n1", cpu="3", priority=100)

    cluster.run()
    decision = cluster.last("high")
    assert decision.victims == []  # no second set of victims elsewhere
    assert decision.nominated_node == "n1"
    assert "waiting" in decision.message
    cluster.delete("default/victim")
    cluster.clock.advance(2)
    cluster.run()
    assert cluster.node_of("high") == "n1"


def test_a_new_leader_keeps_the_nomination_its_predecessor_made_after_it_first_saw_the_pod():
    cluster = Cluster(preemption=True)
    for name in ("n1", "n2"):
        cluster.node(name, cpu="4")
    cluster.pod("filler", cpu="1", priority=1, node="n1")
    cluster.pod("other", cpu="3", priority=1, node="n2")
    cluster.pod("high", cpu="3", priority=100)  # a standby sees it first without a nomination...
    cluster.pod("victim", cpu="3", priority=1, node="n1", deleting=True)  # ...then the old leader's eviction
    _nominated(cluster, "high", "n1", cpu="3", priority=100)  # ...and its nomination
    cluster.loop.recover_nominations()  # leadership gained

    cluster.run()
    decision = cluster.last("high")
    assert decision.victims == []  # no second set of victims elsewhere
    assert decision.nominated_node == "n1"


def test_a_recovered_nomination_holds_its_room_against_lower_priority_pods():
    cluster = Cluster(preemption=True)
    cluster.node("n1", cpu="4")
    cluster.pod("victim", cpu="3", priority=1, node="n1", deleting=True)
    _nominated(cluster, "high", "n1", cpu="3", priority=100)
    cluster.run()
    cluster.delete("default/victim")
    cluster.pod("sneaky", cpu="3", priority=50)
    cluster.clock.advance(2)
    cluster.run()
    assert cluster.node_of("high") == "n1"
    assert cluster.node_of("sneaky") is None


def test_a_bound_pod_with_a_left_over_nomination_has_it_cleared():
    cluster = Cluster()
    cluster.node("n1", cpu="4")
    _nominated(cluster, "p", "n1", cpu="1", node="n1")
    assert cluster.cleared() == ["default/p"]


def test_pods_listed_before_their_node_count_for_their_gang():
    cluster = Cluster(gang_timeout=10)
    keys = [cluster.pod(f"g{i}", cpu="1", gang="g", min_available=3, node="late").key for i in range(3)]
    cluster.node("late", cpu="4")
    gang = cluster.loop.gangs.registry.gangs["default/g"]
    assert gang.state == "Running"
    assert gang.below_min_since is None
    assert all(cluster.node_of(k) == "late" for k in keys)


def test_a_partial_gang_listed_before_its_node_is_rolled_back_after_the_timeout():
    cluster = Cluster(gang_timeout=10)
    for i in range(3):
        cluster.pod(f"g{i}", cpu="1", gang="g", min_available=6, node="late")
    cluster.node("late", cpu="4")
    assert cluster.loop.gangs.registry.gangs["default/g"].below_min_since is not None
    cluster.clock.advance(11)
    assert sorted(v.name for e in cluster.rollbacks() for v in e.victims) == ["g0", "g1", "g2"]


# ---------------------------------------------------------------- nothing stops the loop


class Exploding(FilterPlugin):
    name = "Exploding"

    def applies(self, pod: Any) -> bool:
        return pod.name == "bad"

    def filter(self, pod: Any, state: Any) -> np.ndarray:
        raise RuntimeError("boom")


def test_an_unexpected_error_backs_off_that_pod_and_keeps_scheduling_the_rest():
    cluster = Cluster(backoff_initial=1)
    cluster.node("n1", cpu="4")
    cluster.loop.engine.dynamic_filters.append(Exploding())
    bad = cluster.pod("bad", cpu="1", priority=100).key
    good = cluster.pod("good", cpu="1").key
    with pytest.raises(CycleError) as caught:
        cluster.loop.cycle()
    assert caught.value.unit_key == bad
    assert cluster.node_of(bad) is None
    cluster.run()
    assert cluster.node_of(good) == "n1"
    assert bad in cluster.loop.queue
    assert cluster.loop.queue.next_ready_in() == pytest.approx(1.0)


# ---------------------------------------------------------------- preemption the API would refuse


def test_no_plan_is_started_when_every_plan_breaks_a_disruption_budget():
    cluster = Cluster(preemption=True)
    cluster.node("n1", cpu="2")
    cluster.pod("db-0", cpu="1", priority=1, node="n1", labels={"app": "db"})
    cluster.pod("db-1", cpu="1", priority=1, node="n1", labels={"app": "db"})
    cluster.pdb("db", {"app": "db"}, allowed=0)
    cluster.pod("high", cpu="2", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert decision.victims == [] and not decision.nominated_node
    assert "PodDisruptionBudget" in decision.message
    assert not cluster.state.victims.evicting


def test_victims_covered_by_a_budget_are_evicted_first():
    cluster = Cluster(preemption=True)
    cluster.node("n1", cpu="3")
    cluster.pod("plain", cpu="1", priority=1, node="n1", started=1.0)
    cluster.pod("db", cpu="1", priority=2, node="n1", labels={"app": "db"})
    cluster.pod("plain2", cpu="1", priority=1, node="n1", started=2.0)
    cluster.pdb("db", {"app": "db"}, allowed=1)
    cluster.pod("high", cpu="3", priority=100)
    cluster.run()
    decision = cluster.last("high")
    assert sorted(victim_names(decision)) == ["db", "plain", "plain2"]
    assert decision.victims[0].name == "db"


def test_a_binding_of_unknown_fate_keeps_its_room_and_is_retried_to_the_same_node():
    cluster = Cluster(backoff_initial=1)
    cluster.node("n1", cpu="2")
    cluster.node("n2", cpu="2")
    key = cluster.pod("p", cpu="2").key
    cluster.run()
    node = cluster.node_of(key)
    assert cluster.bind_failed(key, uncertain=True) == 1  # no answer, and the pod could not be re-read
    assert cluster.node_of(key) == node  # it may be bound there: nobody else gets that room
    other = cluster.pod("other", cpu="2").key
    cluster.run()
    assert cluster.node_of(other) not in (None, node)
    assert cluster.run() == []
    cluster.clock.advance(1)
    assert [(d.pod.key, d.node) for d in cluster.run()] == [(key, node)]  # the same binding again
    _bound_view(cluster, key, node)
    cluster.clock.advance(60)
    assert cluster.run() == []  # confirmed: never bound again


def test_a_binding_of_unknown_fate_the_watch_shows_applied_is_reported_once():
    cluster = Cluster(backoff_initial=1)
    cluster.node("n1", cpu="2")
    key = cluster.pod("p", cpu="2").key
    cluster.run()
    cluster.bind_failed(key, uncertain=True)
    _bound_view(cluster, key, "n1")  # e.g. the relist after an outage, before the retry was due
    assert [e.pod.key for e in cluster.events("Scheduled")] == [key]  # its Scheduled Event was still owed
    cluster.clock.advance(1)
    assert cluster.run() == []  # and it is not bound again


def test_the_unschedulable_condition_is_written_only_when_its_message_changes():
    from scheduler.core.effects import SetCondition

    cluster = Cluster(unschedulable_timeout=5)
    cluster.node("n1", cpu="1")
    cluster.pod("big", cpu="2")
    for _ in range(3):  # retried while nothing changed: same verdict, same message
        cluster.run()
        cluster.clock.advance(6)
    cluster.node("n2", cpu="1")  # the message changes (0/2 nodes)
    cluster.run()
    written = [e.message for e in cluster.effects if isinstance(e, SetCondition)]
    assert written == ["0/1 nodes are available: 1 Insufficient cpu.", "0/2 nodes are available: 2 Insufficient cpu."]
    assert len(cluster.events("FailedScheduling")) == 4  # every attempt is still an Event (folded by the recorder)


def test_a_heartbeat_only_node_update_wakes_nobody():
    from scheduler.core.parse import parse_node

    from .builders import node_obj

    cluster = Cluster(unschedulable_timeout=600)
    cluster.node("n1", cpu="1")
    cluster.pod("big", cpu="2")
    cluster.run()
    raw = node_obj("n1", cpu="1")
    raw["metadata"]["resourceVersion"] = "999"
    raw["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-12-01T00:00:00Z"
    cluster.loop.node_changed(parse_node(raw, cluster.defaults.quantities))
    cluster.clock.advance(2)
    assert cluster.run() == []  # still parked: nothing that matters changed
    cluster.node("n1", cpu="4")  # allocatable grew: that matters
    cluster.clock.advance(2)  # (past the pod's backoff)
    assert [v.node for v in cluster.run()] == ["n1"]


def test_an_invalid_priority_is_reported_once_however_often_the_pod_is_seen():
    cluster = Cluster(unschedulable_timeout=5)
    cluster.node("n1", cpu="1")
    cluster.pod("odd", cpu="2", annotations={"scheduler.alpha.kubernetes.io/priority": "high"})
    for _ in range(3):
        cluster.run()
        cluster.loop.pod_changed(cluster.loop.pending["default/odd"])  # e.g. our status write echoed back
        cluster.clock.advance(6)
    assert len(cluster.events("InvalidPriority")) == 1


# ---------------------------------------------------------------- scheduling gates


def _gated(cluster: Cluster, name: str, gates=("example.com/wait",), **kwargs: Any) -> str:
    """A pod created with spec.schedulingGates (kept in cluster.raw so the test can ungate it)."""
    raw = pod_obj(name, **kwargs)
    raw["spec"]["schedulingGates"] = [{"name": g} for g in gates]
    pod = parse_pod(raw, cluster.defaults)
    cluster.raw[pod.key] = raw
    cluster.loop.pod_changed(pod)
    return pod.key


def _set_gates(cluster: Cluster, key: str, gates=()) -> None:
    """A controller removed gates (a MODIFIED watch event); no gates left: the pod is ready."""
    raw = cluster.raw[key]
    raw["spec"]["schedulingGates"] = [{"name": g} for g in gates] or None
    cluster.loop.pod_changed(parse_pod(raw, cluster.defaults))


def _about(cluster: Cluster, key: str) -> list:
    """Every effect that names pod `key` (as the pod bound, nominated, described or preempting)."""
    cluster.housekeeping()
    return [e for e in cluster.effects
            if (getattr(e, "pod", None) is not None and e.pod.key == key)
            or (isinstance(e, Evict) and e.preemptor is not None and e.preemptor.key == key)]


def test_a_gated_pod_is_left_alone_until_its_last_gate_is_removed():
    cluster = Cluster(unschedulable_timeout=5)
    cluster.node("n1", cpu="4")
    key = _gated(cluster, "p", gates=("example.com/quota", "example.com/arch"))
    for _ in range(3):  # cycles, periodic flushes and cluster changes wake nothing for it
        assert cluster.run() == []
        cluster.node("n1", cpu="4", labels={"round": str(_)})
        cluster.clock.advance(10)
    assert _about(cluster, key) == []  # no binding, no FailedScheduling Event, no condition, no nomination
    assert key in cluster.loop.pending
    assert cluster.loop.stats()["queue"]["gated"] == 1

    _set_gates(cluster, key, ("example.com/arch",))
    assert cluster.run() == [] and cluster.loop.stats()["queue"]["gated"] == 1
    _set_gates(cluster, key)
    assert [v.node for v in cluster.run()] == ["n1"]
    assert cluster.loop.stats()["queue"]["gated"] == 0


def test_a_status_write_on_a_gated_pod_does_not_release_it():
    cluster = Cluster()
    cluster.node("n1")
    key = _gated(cluster, "p")
    raw = cluster.raw[key]
    raw["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]
    cluster.loop.pod_changed(parse_pod(raw, cluster.defaults))
    assert cluster.run() == []
    assert cluster.loop.stats()["queue"]["gated"] == 1


def test_a_gated_pod_never_preempts_and_holds_no_nomination_from_the_api():
    cluster = Cluster(preemption=True)
    cluster.node("n1", cpu="2")
    cluster.pod("low", cpu="2", priority=1)
    cluster.run()
    key = _gated(cluster, "high", cpu="2", priority=1000)
    cluster.raw[key]["status"]["nominatedNodeName"] = "n1"  # left over, e.g. by a former leader
    cluster.loop.pod_changed(parse_pod(cluster.raw[key], cluster.defaults))
    cluster.loop.recover_nominations()
    cluster.clock.advance(120)
    assert cluster.run() == []
    assert not cluster.loop.is_nominated(key)
    assert not [e for e in cluster.effects if isinstance(e, Evict)]

    _set_gates(cluster, key)
    verdict = cluster.run()[0]
    assert verdict.pod.key == key and verdict.nominated_node == "n1"
    assert victim_names(verdict) == ["low"]


def test_deleting_a_gated_pod_forgets_it():
    cluster = Cluster()
    cluster.node("n1")
    key = _gated(cluster, "p")
    cluster.delete(key)
    assert key not in cluster.loop.pending and key not in cluster.loop.queue
    assert cluster.loop.stats()["queue"]["gated"] == 0
    assert cluster.run() == []
