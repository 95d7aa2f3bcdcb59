"""Gang scheduling: all-or-nothing placement, waiting, PodGroups, timeouts, competition, preemption, starvation, order."""
from __future__ import annotations

from typing import List

import pytest

from scheduler.core.gang import PodGroupInfo, parse_podgroup

from .builders import Cluster


def nodes(cluster: Cluster, count: int, cpu: str = "4") -> None:
    for i in range(count):
        cluster.node(f"n{i}", cpu=cpu)


def gang(cluster: Cluster, name: str, size: int, minimum=None, cpu: str = "3", priority: int = 10, start: int = 0,
         **kwargs) -> List[str]:
    keys = []
    for i in range(start, start + size):
        pod = cluster.pod(f"{name}-{i}", cpu=cpu, priority=priority, gang=name,
                          min_available=size if minimum is None else minimum, **kwargs)
        keys.append(pod.key)
    return keys


def placed(cluster: Cluster, keys: List[str]) -> List[str]:
    return [k for k in keys if k in cluster.state.placed]


def free_cpu(cluster: Cluster) -> int:
    return int(cluster.state.free("cpu").sum())


# ---------------------------------------------------------------- all or nothing

def test_partial_fit_binds_nothing_and_leaves_nothing_assumed():
    cluster = Cluster()
    nodes(cluster, 2)
    before = free_cpu(cluster)
    keys = gang(cluster, "x", 3)
    decisions = cluster.run()
    assert [d for d in decisions if d.node is not None] == []
    assert placed(cluster, keys) == []
    assert free_cpu(cluster) == before
    assert "gang default/x: only 2 of 3 pending members fit (need 3)" in cluster.last(keys[0]).message
    assert cluster.loop.gang_summary("default/x")[0] == "Waiting"


def test_exact_minimum_gang_is_placed_whole():
    cluster = Cluster()
    nodes(cluster, 3)
    keys = gang(cluster, "x", 3)
    cluster.run()
    assert sorted(cluster.node_of(k) for k in keys) == ["n0", "n1", "n2"]
    assert cluster.loop.gang_summary("default/x")[0] == "Scheduled"


def test_gang_over_its_minimum_places_what_fits_once_the_minimum_does():
    cluster = Cluster()
    nodes(cluster, 3)
    keys = gang(cluster, "x", 4, minimum=2)
    cluster.run()
    assert len(placed(cluster, keys)) == 3
    left = [k for k in keys if k not in cluster.state.placed]
    assert "member does not fit yet; the gang's minimum is placed" in cluster.last(left[0]).message


def test_gang_waits_for_late_members_then_places_when_the_minimum_is_present():
    cluster = Cluster()
    nodes(cluster, 3)
    keys = gang(cluster, "x", 2, minimum=3)
    cluster.run()
    assert placed(cluster, keys) == []
    assert cluster.last(keys[0]).message == "gang default/x: 2/3 members present, waiting"
    keys += gang(cluster, "x", 1, minimum=3, start=2)
    cluster.run()
    assert len(placed(cluster, keys)) == 3


def test_member_created_after_the_gang_runs_is_placed_as_an_ordinary_pod():
    cluster = Cluster()
    nodes(cluster, 3)
    keys = gang(cluster, "x", 2)
    cluster.run()
    assert len(placed(cluster, keys)) == 2
    late = gang(cluster, "x", 1, minimum=2, start=2)
    cluster.run()
    assert cluster.node_of(late[0]) is not None
    assert cluster.loop.gang_summary("default/x")[0] in ("Scheduled", "Running")


def test_late_member_that_does_not_fit_leaves_the_placed_gang_alone():
    cluster = Cluster()
    nodes(cluster, 2)
    keys = gang(cluster, "x", 2)
    cluster.run()
    late = gang(cluster, "x", 1, minimum=2, start=2)
    cluster.run()
    assert cluster.node_of(late[0]) is None
    assert len(placed(cluster, keys)) == 2
    assert cluster.rollbacks() == []


def test_malformed_min_available_waits_with_a_clear_message():
    cluster = Cluster()
    nodes(cluster, 3)
    keys = gang(cluster, "x", 2, minimum="two")
    cluster.run()
    assert placed(cluster, keys) == []
    message = cluster.last(keys[0]).message
    assert "gang default/x:" in message and "'two' is not a positive integer" in message and "waiting" in message
    assert cluster.loop.gang_summary("default/x")[0] == "Invalid"


def test_conflicting_min_available_waits_with_a_clear_message():
    cluster = Cluster()
    nodes(cluster, 3)
    keys = gang(cluster, "x", 1, minimum=2) + gang(cluster, "x", 1, minimum=3, start=1)
    cluster.run()
    assert placed(cluster, keys) == []
    assert "members disagree on scheduling.x-k8s.io/min-available: 2, 3" in cluster.last(keys[0]).message


def test_missing_min_available_and_no_podgroup_waits_with_a_clear_message():
    cluster = Cluster()
    nodes(cluster, 3)
    pod = cluster.pod("x-0", cpu="1", gang="x")
    cluster.run()
    assert cluster.node_of(pod.key) is None
    assert "no scheduling.x-k8s.io/min-available annotation and no PodGroup named default/x" in cluster.last(pod.key).message


def test_podgroup_overrides_the_annotation():
    cluster = Cluster()
    nodes(cluster, 3)
    cluster.loop.gangs.registry.podgroup_changed("ADDED", "default/x", {"spec": {"minMember": 2}})
    keys = gang(cluster, "x", 2, minimum=3)  # annotation says 3, the PodGroup says 2
    cluster.run()
    assert len(placed(cluster, keys)) == 2


def test_podgroup_with_a_bad_min_member_waits_with_a_clear_message():
    cluster = Cluster()
    nodes(cluster, 3)
    cluster.loop.gangs.registry.podgroup_changed("ADDED", "default/x", {"spec": {"minMember": 0}})
    keys = gang(cluster, "x", 2)
    cluster.run()
    assert placed(cluster, keys) == []
    assert "PodGroup spec.minMember 0 is not a positive integer" in cluster.last(keys[0]).message



@pytest.mark.parametrize("minimum", ["99999999999", "-99999999999999999999", "2147483648", "0", "1e3", "9" * 5000])
def test_min_available_outside_1_to_int32_waits_with_a_clear_message(minimum):
    cluster = Cluster()
    nodes(cluster, 3)
    keys = gang(cluster, "x", 2, minimum=minimum)
    cluster.run()
    assert placed(cluster, keys) == []
    message = cluster.last(keys[0]).message
    assert "is not a positive integer (expected 1..2147483647)" in message
    assert cluster.loop.gang_summary("default/x")[0] == "Invalid"


@pytest.mark.parametrize("spec, error", [
    ({"minMember": 2**31}, "minMember 2147483648 is not a positive integer (expected 1..2147483647)"),
    ({"minMember": True}, "minMember True is not a positive integer"),
    ({"minMember": 2.0}, "minMember 2.0 is not a positive integer"),
    ({"minMember": "2"}, "minMember '2' is not a positive integer"),
    ({"minMember": -1}, "minMember -1 is not a positive integer"),
    ({"minMember": 2, "scheduleTimeoutSeconds": float("nan")}, "scheduleTimeoutSeconds nan is not a positive number"),
    ({"minMember": 2, "scheduleTimeoutSeconds": float("inf")}, "scheduleTimeoutSeconds inf"),
    ({"minMember": 2, "scheduleTimeoutSeconds": 0}, "scheduleTimeoutSeconds 0"),
    ({"minMember": 2, "scheduleTimeoutSeconds": 2**31}, "scheduleTimeoutSeconds 2147483648"),
    ({"minMember": 2, "scheduleTimeoutSeconds": True}, "scheduleTimeoutSeconds True"),
    ({"minMember": 2, "scheduleTimeoutSeconds": "60"}, "scheduleTimeoutSeconds '60'"),
])
def test_podgroup_out_of_range_is_reported_not_raised(spec, error):
    info = parse_podgroup({"spec": spec})
    assert error in info.error
    assert info.timeout is None


@pytest.mark.parametrize("obj", [None, [], "podgroup", {"spec": ["minMember"]}, {"spec": 5}])
def test_podgroup_that_is_not_an_object_is_reported_not_raised(obj):
    info = parse_podgroup(obj)
    assert info.min_member is None and info.error


def test_podgroup_bounds_are_accepted():
    assert parse_podgroup({"spec": {"minMember": 2**31 - 1, "scheduleTimeoutSeconds": 2**31 - 1}}) == \
        PodGroupInfo(2**31 - 1, float(2**31 - 1))
    assert parse_podgroup({"spec": {"minMember": 1, "scheduleTimeoutSeconds": 0.5}}) == PodGroupInfo(1, 0.5)

# ---------------------------------------------------------------- timeout / rollback

def test_gang_below_its_minimum_after_a_failed_binding_is_rolled_back_after_the_timeout():
    cluster = Cluster(gang_timeout=10)
    nodes(cluster, 3)
    keys = gang(cluster, "x", 3)
    cluster.run()
    assert len(placed(cluster, keys)) == 3
    failed = cluster.state.placed[keys[0]]
    lost_node = cluster.state.nodes[failed.row].name
    cluster.bind_failed(failed.pod.key)  # binding of one member failed
    cluster.pod("thief", cpu="3", priority=1000, node=lost_node)  # and its room is taken meanwhile
    cluster.run()
    assert len(placed(cluster, keys)) == 2
    assert cluster.rollbacks() == []  # not yet: within the timeout
    cluster.clock.advance(11)
    evictions = cluster.rollbacks()
    assert sorted(v.key for e in evictions for v in e.victims) == sorted(keys[1:])
    assert all("gang default/x" in note for e in evictions for note in e.notes)
    assert {e.pod.key for e in cluster.events("GangTimeout")} == set(keys[1:])
    assert cluster.loop.gang_summary("default/x")[0] == "RolledBack"


# ---------------------------------------------------------------- competition

def test_two_competing_gangs_never_both_end_up_partial():
    cluster = Cluster()
    nodes(cluster, 3)
    a = gang(cluster, "a", 2)
    b = gang(cluster, "b", 2)
    cluster.run()
    cluster.clock.advance(120)
    cluster.run()
    counts = sorted([len(placed(cluster, a)), len(placed(cluster, b))])
    assert counts == [0, 2]


# ---------------------------------------------------------------- gang preemption

def test_gang_preemption_evicts_only_non_gang_lower_priority_pods():
    cluster = Cluster(preemption=True)
    nodes(cluster, 3)
    cluster.pod("low-0", cpu="4", priority=1, node="n0")
    cluster.pod("old-0", cpu="4", priority=500, node="n1", gang="old", min_available=1)  # more important: stays
    cluster.pod("low-2", cpu="4", priority=1, node="n2")
    keys = gang(cluster, "new", 2, cpu="4", priority=100)
    decisions = cluster.run()
    victims = sorted(v.name for d in decisions for v in d.victims)
    assert victims == ["low-0", "low-2"]
    assert "default/old-0" not in cluster.state.victims.evicting
    assert sorted(cluster.loop.nominations.get(k).node for k in keys) == ["n0", "n2"]


def test_gang_preemption_evicts_nothing_when_the_minimum_cannot_fit_even_then():
    cluster = Cluster(preemption=True)
    nodes(cluster, 2)
    cluster.pod("low-0", cpu="4", priority=1, node="n0")
    cluster.pod("old-0", cpu="4", priority=500, node="n1", gang="old", min_available=1)  # more important: stays
    keys = gang(cluster, "new", 2, cpu="4", priority=100)
    decisions = cluster.run()
    assert [v for d in decisions for v in d.victims] == []
    assert not cluster.state.victims.evicting
    assert all(not n.victims for n in cluster.loop.nominations.values())
    assert placed(cluster, keys) == []


# ---------------------------------------------------------------- starvation

def test_blocked_gang_holds_room_so_small_lower_priority_pods_do_not_starve_it():
    cluster = Cluster()
    nodes(cluster, 2)
    cluster.pod("busy", cpu="4", priority=50, node="n0", scheduler_name="default-scheduler")
    keys = gang(cluster, "big", 2, cpu="4", priority=100)
    cluster.run()
    assert placed(cluster, keys) == []
    smalls = [cluster.pod(f"small-{i}", cpu="1", priority=10).key for i in range(4)]
    cluster.run()
    assert placed(cluster, smalls) == []  # n1 is held for the gang
    assert "room reserved for a higher-priority nominated pod" in cluster.last(smalls[0]).message
    cluster.delete("busy")
    cluster.clock.advance(120)
    cluster.run()
    assert sorted(cluster.node_of(k) for k in keys) == ["n0", "n1"]


def test_higher_priority_single_pod_may_use_room_held_by_a_gang():
    cluster = Cluster()
    nodes(cluster, 2)
    cluster.pod("busy", cpu="4", priority=50, node="n0", scheduler_name="default-scheduler")
    gang(cluster, "big", 2, cpu="4", priority=100)
    cluster.run()
    vip = cluster.pod("vip", cpu="1", priority=500)
    cluster.run()
    assert cluster.node_of(vip.key) == "n1"


# ---------------------------------------------------------------- queue order

def test_gangs_and_single_pods_are_ordered_by_priority_then_fifo():
    cluster = Cluster()
    nodes(cluster, 8, cpu="16")
    cluster.pod("early-single", cpu="1", priority=100)
    cluster.clock.advance(1)
    gang(cluster, "g", 2, cpu="1", priority=100)
    cluster.clock.advance(1)
    cluster.pod("late-single", cpu="1", priority=100)
    cluster.pod("urgent", cpu="1", priority=200)
    cluster.pod("unimportant", cpu="1", priority=1)
    cluster.pod("mixed-0", cpu="1", priority=1, gang="mixed", min_available=2)
    cluster.pod("mixed-1", cpu="1", priority=300, gang="mixed", min_available=2)
    decisions = cluster.run()
    order = []
    for d in decisions:
        unit = cluster.raw[d.pod.key]["metadata"]["labels"].get("scheduling.x-k8s.io/pod-group") or d.pod.name
        if unit not in order:
            order.append(unit)
    assert order == ["mixed", "urgent", "early-single", "g", "late-single", "unimportant"]
    assert all(d.node is not None for d in decisions)
    reasons = {e.reason for e in cluster.events() if e.type == "Warning" and e.reason != "FailedScheduling"}
    assert reasons == {"GangPriorityMismatch"}


def bind_all(cluster: Cluster, keys: List[str]) -> None:
    """The API confirms the bindings: the members are Running."""
    from scheduler.core.parse import parse_pod

    for key in keys:
        raw = cluster.raw[key]
        raw["spec"]["nodeName"] = cluster.node_of(key)
        raw["status"] = {"phase": "Running", "startTime": cluster.clock()}
        cluster.loop.pod_changed(parse_pod(raw, cluster.defaults))


def test_member_completing_does_not_roll_back_the_running_gang():
    from scheduler.core.parse import parse_pod

    cluster = Cluster(gang_timeout=10)
    nodes(cluster, 3)
    keys = gang(cluster, "x", 3)
    cluster.run()
    bind_all(cluster, keys)
    assert cluster.loop.gang_summary("default/x")[0] == "Running"
    done = cluster.raw[keys[0]]
    done["status"]["phase"] = "Succeeded"  # one worker finished its share of the job
    cluster.loop.pod_changed(parse_pod(done, cluster.defaults))
    cluster.clock.advance(30)
    cluster.run()
    assert cluster.rollbacks() == []
    assert not cluster.state.victims.evicting



def test_podgroup_status_is_written_when_it_changes():
    from scheduler.core.effects import UpdatePodGroupStatus

    cluster = Cluster()
    nodes(cluster, 2)
    cluster.loop.podgroup_changed("ADDED", "default/pg", {"metadata": {"name": "pg"}, "spec": {"minMember": 2}})

    def written():
        cluster.housekeeping()
        return [(e.phase, e.scheduled, e.running) for e in cluster.effects if isinstance(e, UpdatePodGroupStatus)]

    assert written() == [("Pending", 0, 0)]
    keys = [cluster.pod(f"pg-{i}", cpu="3", gang="pg").key for i in range(2)]
    cluster.run()
    assert written() == [("Pending", 0, 0), ("Scheduled", 2, 0)]
    bind_all(cluster, keys)
    assert written()[-1] == ("Running", 2, 2)
    assert len(written()) == 3  # nothing changed since: nothing written


# ---------------------------------------------------------------- scheduling gates

def _gated_member(cluster: Cluster, name: str, group: str, minimum: int) -> str:
    from scheduler.core.parse import parse_pod

    from .builders import pod_obj

    raw = pod_obj(name, cpu="3", priority=10, gang=group, min_available=minimum)
    raw["spec"]["schedulingGates"] = [{"name": "example.com/quota"}]
    pod = parse_pod(raw, cluster.defaults)
    cluster.raw[pod.key] = raw
    cluster.loop.pod_changed(pod)
    return pod.key


def _ungate(cluster: Cluster, key: str) -> None:
    from scheduler.core.parse import parse_pod

    del cluster.raw[key]["spec"]["schedulingGates"]
    cluster.loop.pod_changed(parse_pod(cluster.raw[key], cluster.defaults))


def test_a_gang_with_a_gated_member_waits_and_binds_nothing_until_it_is_ungated():
    cluster = Cluster()
    nodes(cluster, 3)
    keys = gang(cluster, "x", 2, minimum=3)
    gated = _gated_member(cluster, "x-2", "x", 3)
    cluster.run()
    assert placed(cluster, keys + [gated]) == []
    assert cluster.last(keys[0]).message == \
        "gang default/x: 2/3 members present (1 more gated by spec.schedulingGates), waiting"
    _ungate(cluster, gated)
    cluster.run()
    assert len(placed(cluster, keys + [gated])) == 3


def test_a_gated_member_is_not_bound_with_its_gang_once_the_minimum_is_met():
    cluster = Cluster()
    nodes(cluster, 3)
    keys = gang(cluster, "x", 2, minimum=2)
    gated = _gated_member(cluster, "x-2", "x", 2)
    bound = [v.pod.key for v in cluster.run() if v.node]
    assert sorted(bound) == keys  # the minimum, without the gated member
    assert gated not in cluster.state.placed and cluster.loop.stats()["queue"]["gated"] == 1
    _ungate(cluster, gated)
    assert [v.pod.key for v in cluster.run() if v.node] == [gated]
