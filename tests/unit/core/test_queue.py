"""SchedulingQueue: ordering, backoff, the unschedulable pool and gang units, on a fake clock."""
from __future__ import annotations

import pytest

from scheduler.core.model import POD_GROUP_LABEL
from scheduler.core.queue import SchedulingQueue

from ..helpers import FakeClock, make_pod


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def queue(clock):
    return SchedulingQueue(clock, initial_backoff=1.0, max_backoff=10.0, unschedulable_timeout=60.0)


def pop_names(queue):
    out = []
    while True:
        unit = queue.pop()
        if unit is None:
            return out
        out.append([p.name for p in unit.pods()])


def test_empty_queue_pops_nothing(queue):
    assert queue.pop() is None


def test_higher_priority_pops_first(queue, clock):
    queue.add(make_pod("low", priority=1))
    clock.advance(1)
    queue.add(make_pod("high", priority=100))
    clock.advance(1)
    queue.add(make_pod("mid", priority=50))
    assert pop_names(queue) == [["high"], ["mid"], ["low"]]


def test_equal_priority_is_first_in_first_out(queue, clock):
    queue.add(make_pod("zz-first", priority=5))
    clock.advance(1)
    queue.add(make_pod("aa-second", priority=5))
    assert pop_names(queue) == [["zz-first"], ["aa-second"]]


def test_same_priority_same_time_breaks_ties_by_name(queue):
    for name in ("c", "a", "b"):
        queue.add(make_pod(name, priority=5))
    assert pop_names(queue) == [["a"], ["b"], ["c"]]


def test_priority_update_reorders_a_queued_pod(queue, clock):
    queue.add(make_pod("a", priority=10))
    clock.advance(1)
    queue.add(make_pod("b", priority=5))
    queue.update(make_pod("b", priority=50))
    assert pop_names(queue) == [["b"], ["a"]]


def test_priority_lowered_moves_pod_back(queue, clock):
    queue.add(make_pod("a", priority=10))
    clock.advance(1)
    queue.add(make_pod("b", priority=5))
    queue.update(make_pod("a", priority=1))
    assert pop_names(queue) == [["b"], ["a"]]


def test_deleted_pod_is_never_popped(queue):
    queue.add(make_pod("a", priority=10))
    queue.add(make_pod("b", priority=5))
    queue.delete("default/a")
    assert "default/a" not in queue
    assert len(queue) == 1
    assert pop_names(queue) == [["b"]]


def test_deleting_unknown_pod_is_harmless(queue):
    queue.delete("default/ghost")
    assert len(queue) == 0


def test_popped_pod_is_in_flight_not_poppable_again(queue):
    queue.add(make_pod("a"))
    assert queue.pop() is not None
    assert queue.pop() is None
    assert "default/a" in queue


def test_backoff_starts_at_one_second_and_doubles_to_ten(queue, clock):
    queue.add(make_pod("a"))
    waits = []
    for _ in range(6):
        unit = queue.pop()
        assert unit is not None
        start = clock.now
        queue.requeue_backoff(unit)
        # not ready a moment before the backoff ends, ready exactly at its end
        wait = queue.next_ready_in()
        clock.advance(wait - 0.01)
        assert queue.pop() is None
        clock.advance(0.01)
        waits.append(round(clock.now - start, 6))
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_stays_at_the_cap_for_a_pod_pending_for_thousands_of_attempts(queue, clock):
    queue.add(make_pod("a"))
    for _ in range(1100):
        unit = queue.pop()
        assert unit is not None
        queue.requeue_backoff(unit)
        clock.advance(queue.next_ready_in())
    assert queue.next_ready_in() == 0.0
    assert unit.attempts == 1100
    assert queue.backoff_duration(unit.attempts) == 10.0


def test_higher_priority_pod_in_backoff_waits_for_its_backoff(queue, clock):
    queue.add(make_pod("high", priority=100))
    unit = queue.pop()
    queue.requeue_backoff(unit)
    queue.add(make_pod("low", priority=1))
    assert pop_names(queue) == [["low"]]
    clock.advance(1.0)
    assert pop_names(queue) == [["high"]]


def test_unschedulable_pod_waits_in_pool_until_cluster_changes(queue, clock):
    queue.add(make_pod("a"))
    queue.requeue_unschedulable(queue.pop())
    clock.advance(30)
    assert queue.pop() is None
    assert queue.move_to_active(lambda unit: True) == 1
    assert pop_names(queue) == [["a"]]


def test_a_wake_up_respects_remaining_backoff(queue, clock):
    queue.add(make_pod("a"))
    queue.requeue_unschedulable(queue.pop())
    clock.advance(0.5)
    queue.move_to_active(lambda unit: True)
    assert queue.pop() is None  # parked 0.5 s ago, first backoff is 1 s
    clock.advance(0.5)
    assert pop_names(queue) == [["a"]]


def test_unschedulable_pod_retried_after_timeout_without_cluster_change(queue, clock):
    queue.add(make_pod("a"))
    queue.requeue_unschedulable(queue.pop())
    clock.advance(59)
    assert queue.pop() is None
    clock.advance(1)
    assert pop_names(queue) == [["a"]]


def test_changed_pod_in_pool_is_retried_at_once(queue, clock):
    queue.add(make_pod("a", cpu="8"))
    queue.requeue_unschedulable(queue.pop())
    queue.update(make_pod("a", cpu="1"))
    unit = queue.pop()
    assert unit is not None and unit.pods()[0].requests["cpu"] == 1000


def test_pod_changed_while_in_flight_goes_to_backoff_not_the_pool(queue, clock):
    queue.add(make_pod("a", cpu="8"))
    unit = queue.pop()
    queue.update(make_pod("a", cpu="1"))
    queue.requeue_unschedulable(unit)
    clock.advance(1.0)
    assert pop_names(queue) == [["a"]]  # no need to wait 60 s or for a cluster change


def test_pod_deleted_while_in_flight_is_not_requeued(queue, clock):
    queue.add(make_pod("a"))
    unit = queue.pop()
    queue.delete("default/a")
    queue.requeue_backoff(unit)
    clock.advance(100)
    assert queue.pop() is None
    assert len(queue) == 0


def test_done_removes_scheduled_pods(queue):
    queue.add(make_pod("a"))
    unit = queue.pop()
    queue.done(unit, ["default/a"])
    assert "default/a" not in queue and len(queue) == 0


def gang_pod(name, group="train", **kw):
    return make_pod(name, labels={POD_GROUP_LABEL: group}, **kw)


def test_gang_members_are_popped_together(queue, clock):
    queue.add(gang_pod("w-1", priority=5))
    clock.advance(1)
    queue.add(make_pod("solo", priority=5))
    clock.advance(1)
    queue.add(gang_pod("w-0", priority=5))
    unit = queue.pop()
    assert unit.is_gang
    assert sorted(p.name for p in unit.pods()) == ["w-0", "w-1"]
    assert pop_names(queue) == [["solo"]]
    assert len(queue) == 3


def test_gang_ordered_by_its_most_important_member(queue, clock):
    queue.add(make_pod("solo", priority=50))
    clock.advance(1)
    queue.add(gang_pod("w-0", priority=1))
    queue.add(gang_pod("w-1", priority=100))
    assert pop_names(queue)[0] == ["w-0", "w-1"]


def test_gangs_with_same_group_in_different_namespaces_are_separate(queue):
    queue.add(gang_pod("w", namespace="a"))
    queue.add(gang_pod("w", namespace="b"))
    assert len(pop_names(queue)) == 2


# ------------------------------------------------------------ scheduling gates


def gated_pod(name, gates=("example.com/wait",), **kw):
    return make_pod(name, schedulingGates=[{"name": g} for g in gates], **kw)


def test_a_gated_pod_is_held_but_never_popped(queue, clock):
    queue.add(gated_pod("gated", priority=100))
    queue.add(make_pod("free", priority=1))
    clock.advance(120)  # past any backoff and the unschedulable timeout
    queue.move_to_active(lambda unit: True)
    assert pop_names(queue) == [["free"]]
    assert "default/gated" in queue and queue.pod("default/gated").scheduling_gates == ("example.com/wait",)
    assert queue.pending_pods()["gated"] == 1
    assert queue.pending_pods()["active"] == 0


def test_removing_the_gates_queues_the_pod(queue):
    queue.add(gated_pod("p", gates=("a", "b")))
    queue.add(gated_pod("p", gates=("b",)))  # one gate removed: still gated
    assert queue.pop() is None
    queue.add(make_pod("p"))
    assert pop_names(queue) == [["p"]]
    assert queue.pending_pods()["gated"] == 0


def test_deleting_a_gated_pod_forgets_it(queue):
    queue.add(gated_pod("p"))
    queue.delete("default/p")
    assert "default/p" not in queue and len(queue) == 0
    assert queue.pending_pods()["gated"] == 0


def test_a_gated_gang_member_is_not_part_of_its_gangs_unit(queue):
    queue.add(gang_pod("w-0"))
    queue.add(make_pod("w-1", labels={POD_GROUP_LABEL: "train"}, schedulingGates=[{"name": "wait"}]))
    unit = queue.pop()
    assert [p.name for p in unit.pods()] == ["w-0"]
    assert queue.pending_pods() == {"active": 0, "backoff": 0, "unschedulable": 0, "inflight": 1, "gated": 1}
