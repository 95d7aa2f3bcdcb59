"""InMemoryCluster: the in-memory Kubernetes API that `simulate` and the benchmarks run on.

Each test pins one thing a user of `simulate` would see differ from a real
cluster if it broke: when a binding lands and when the scheduler hears of it,
what the API refuses (409, 404, injected 500s, 429 from a budget), graceful
termination of victims, pods that finish, and how `run` spends simulated time.
Objects are raw JSON (tests/unit/core/builders.py).  Where a test is about the
API's answer rather than the scheduler's choice, it hands effects to
`world.execute` itself, as the scheduler would.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

from scheduler.config import load_config
from scheduler.core.effects import Bind, Evict, Nominate, PodRef, SetCondition
from scheduler.sim.world import InMemoryCluster
from scheduler.stack import build_loop, defaults_from

from ..core.builders import node_obj, pod_obj

GUARDED = {"app": "guarded"}


def make_world(api_latency: float = 0.0, watch_delay: float = 0.0, **flags: Any) -> InMemoryCluster:
    """A loop built as the daemon builds it, on the world's clock (as bench/runner.py does)."""
    config = load_config({k.replace("_", "-"): v for k, v in flags.items()}, env={})
    world: InMemoryCluster
    loop = build_loop(config, lambda: world.now)
    world = InMemoryCluster(loop, defaults_from(config), api_latency=api_latency, watch_delay=watch_delay)
    return world


def spy(world: InMemoryCluster, method: str) -> List[Tuple[float, Any]]:
    """(simulated time, argument) of every call the world makes into the loop's `method`:
    what the scheduler was told, and when."""
    calls: List[Tuple[float, Any]] = []
    real = getattr(world.loop, method)

    def wrapper(arg: Any, *rest: Any, **kwargs: Any) -> Any:
        calls.append((world.now, arg))
        return real(arg, *rest, **kwargs)

    setattr(world.loop, method, wrapper)
    return calls


def ref(name: str) -> PodRef:
    return PodRef("default", name, f"uid-default-{name}")  # the uid pod_obj gives


def pod(world: InMemoryCluster, name: str) -> Any:
    return world.pods.get(f"default/{name}")


def event_times(world: InMemoryCluster, name: str, reason: str) -> List[float]:
    return [e.time for e in world.events if e.pod == f"default/{name}" and e.reason == reason]


def guarded_pods(world: InMemoryCluster, budget: Dict[str, Any], *names: str) -> None:
    """Running pods on n1 covered by one PodDisruptionBudget `guard` with this spec (besides its selector)."""
    world.add_node(node_obj("n1", cpu="8"))
    for name in names:
        world.add_pod(pod_obj(name, node="n1", labels=GUARDED))
    world.add_pdb({"metadata": {"name": "guard", "namespace": "default"},
                   "spec": {"selector": {"matchLabels": GUARDED}, **budget}})
    world.advance(world.now)


def evict(world: InMemoryCluster, *victims: str, preemptor: str = "boss") -> List[Any]:
    """Execute one eviction plan and return the loop's answers (EvictionResult per victim)."""
    answers = spy(world, "eviction_result")
    world.execute([Evict(tuple(ref(v) for v in victims), "n1", ref(preemptor), f"Preempted by pod default/{preemptor}")])
    world.advance(world.now + world.api_latency)
    return [answer for _, answer in answers]


# ------------------------------------------------------------ bindings
def test_a_binding_lands_after_the_api_latency_and_the_scheduler_sees_it_a_watch_delay_later():
    """The scheduler must not count a pod as confirmed before the watch shows it: `simulate`
    reproduces the daemon's window where a decision is assumed but not yet visible."""
    world = make_world(api_latency=0.5, watch_delay=0.25)
    world.add_node(node_obj("n1"))
    world.add_pod(pod_obj("web"))
    answers, seen = spy(world, "bind_result"), spy(world, "pod_changed")
    world.run(until=0.6)  # seen at 0.25, decided then, binding answered at 0.75
    assert world.now == 0.6
    assert pod(world, "web").node_name == "" and world.bindings == {} and answers == []
    world.run(until=0.9)
    assert [(t, a.ok) for t, a in answers] == [(0.75, True)]
    assert pod(world, "web").node_name == "n1" and event_times(world, "web", "Scheduled") == [0.75]
    assert not [t for t, p in seen if p.node_name]  # the API has it bound; the scheduler has not heard yet
    world.run()
    assert [t for t, p in seen if p.node_name] == [1.0]


def test_binding_a_pod_already_bound_answers_409_and_changes_nothing():
    world = make_world()
    world.add_node(node_obj("n1"))
    world.add_node(node_obj("n2"))
    world.add_pod(pod_obj("web", node="n1"))
    answers = spy(world, "bind_result")
    world.execute([Bind(ref("web"), "n2")])
    world.advance(world.now)
    assert [(a.ok, a.status) for _, a in answers] == [(False, 409)]
    assert pod(world, "web").node_name == "n1"
    assert world.bindings == {} and event_times(world, "web", "Scheduled") == []


def test_binding_a_deleted_pod_answers_404():
    world = make_world()
    world.add_node(node_obj("n1"))
    world.add_pod(pod_obj("web"))
    world.delete_pod("default/web")
    answers = spy(world, "bind_result")
    world.execute([Bind(ref("web"), "n1")])
    world.advance(world.now)
    assert [(a.ok, a.status) for _, a in answers] == [(False, 404)]
    assert pod(world, "web") is None and world.bindings == {}


def test_binding_a_pod_being_deleted_answers_409():
    """DESIGN: binding returns 409 'when already bound or being deleted'.  The stand-in and a real
    API refuse it; the world must too, or `simulate` places a pod that is going away."""
    world = make_world()
    world.add_node(node_obj("n1"))
    world.add_pod(pod_obj("web", deleting=True))
    answers = spy(world, "bind_result")
    world.execute([Bind(ref("web"), "n1")])
    world.advance(world.now)
    assert [(a.ok, a.status) for _, a in answers] == [(False, 409)]
    assert pod(world, "web").node_name == "" and world.bindings == {}


def test_injected_bind_failures_do_not_take_effect_and_the_scheduler_retries_after_its_backoff():
    world = make_world(backoff_initial=2.0, backoff_max=8.0)
    world.bind_errors["default/web"] = [500, 500]
    world.add_node(node_obj("n1"))
    world.add_pod(pod_obj("web"))
    answers = spy(world, "bind_result")
    world.run(until=1.0)
    assert [(t, a.status) for t, a in answers] == [(0.0, 500)]
    assert pod(world, "web").node_name == "" and world.bindings == {}  # a failed binding changed nothing
    world.run()
    assert [(t, a.ok, a.status) for t, a in answers] == [(0.0, False, 500), (2.0, False, 500), (6.0, True, 0)]
    assert world.bindings == {"default/web": 1} and pod(world, "web").node_name == "n1"


# ------------------------------------------------------------ evictions and budgets
def test_an_eviction_a_budget_forbids_answers_429_and_the_pod_stays():
    world = make_world()
    guarded_pods(world, {"minAvailable": 2}, "a", "b")
    assert [(a.ok, a.status) for a in evict(world, "a")] == [(False, 429)]
    assert not pod(world, "a").deleting and pod(world, "a").node_name == "n1"
    assert world.victims == [] and event_times(world, "a", "Preempted") == []


def test_with_room_in_the_budget_an_eviction_goes_through_and_uses_the_room_up():
    """The budget's status is kept current as the disruption controller would: the scheduler
    (through its watch) and the next eviction both see the allowance go down."""
    world = make_world()
    guarded_pods(world, {"maxUnavailable": 1}, "a", "b")
    assert world.loop.preemption.pdbs["default/guard"].disruptions_allowed == 1
    assert [(a.ok, a.status) for a in evict(world, "a")] == [(True, 201)]
    assert pod(world, "a").deleting and world.victims == [("default/a", "default/boss")]
    assert world.loop.preemption.pdbs["default/guard"].disruptions_allowed == 0
    assert [(a.ok, a.status) for a in evict(world, "b")] == [(False, 429)]
    assert not pod(world, "b").deleting and len(world.victims) == 1


def test_a_plans_evictions_stop_at_the_first_refusal():
    """A plan is never carried out beyond what the API accepted: after a 429 the later victims
    are reported as not attempted and keep running."""
    world = make_world()
    guarded_pods(world, {"minAvailable": 1}, "a")
    world.add_pod(pod_obj("c", node="n1"))
    world.add_pod(pod_obj("d", node="n1"))
    answers = evict(world, "c", "a", "d")
    assert [(a.victim.name, a.ok, a.status, a.aborted) for a in answers] == [
        ("c", True, 201, False), ("a", False, 429, False), ("d", False, 0, True)]
    assert world.victims == [("default/c", "default/boss")]
    assert pod(world, "c").deleting and not pod(world, "a").deleting and not pod(world, "d").deleting


def test_a_preempted_pod_runs_out_its_grace_period_before_the_preemptor_is_bound_there():
    """The victim keeps its room while it terminates: the preemptor waits, nominated, and is
    bound to that node only once the victim is gone."""
    world = make_world(preemption=True)
    world.add_node(node_obj("n1", cpu="2"))
    world.add_pod(pod_obj("low", cpu="2", priority=1, node="n1"), grace=5.0)
    world.advance(0.0)
    world.add_pod(pod_obj("urgent", cpu="2", priority=100))
    gone = spy(world, "pod_deleted")
    world.run(until=4.9)
    assert world.victims == [("default/low", "default/urgent")]
    assert event_times(world, "low", "Preempted") == [0.0]
    assert pod(world, "low").deleting and pod(world, "low").node_name == "n1"
    assert pod(world, "urgent").node_name == "" and pod(world, "urgent").nominated_node == "n1"
    assert world.bindings == {}
    assert any("waiting for 1 preempted pod(s) to terminate on n1" in e.message
               for e in world.events if e.pod == "default/urgent")
    world.run()
    assert pod(world, "low") is None and [t for t, key in gone if key == "default/low"] == [5.0]
    assert pod(world, "urgent").node_name == "n1" and event_times(world, "urgent", "Scheduled")[0] >= 5.0


def test_evicting_a_pod_not_yet_bound_deletes_it_at_once():
    """The API gives a pod no grace period when it has no node (nothing runs to terminate), as
    the stand-in does: the scheduler hears of the deletion straight away."""
    world = make_world()
    world.add_node(node_obj("n1"))
    world.add_pod(pod_obj("p"))
    world.advance(0.0)
    world.execute([Evict((ref("p"),), "n1", None, "Evicted: gang rolled back")])
    world.advance(1.0)
    assert pod(world, "p") is None


def test_an_evicted_pod_terminates_after_its_own_termination_grace_period():
    """A pod's grace period is its spec.terminationGracePeriodSeconds, as in the API and the
    stand-in; add_pod without `grace` must not silently give it 30 s."""
    world = make_world()
    world.add_node(node_obj("n1"))
    raw = pod_obj("p", node="n1")
    raw["spec"]["terminationGracePeriodSeconds"] = 2
    world.add_pod(raw)
    world.advance(0.0)
    world.execute([Evict((ref("p"),), "n1", None, "Evicted: test")])
    world.advance(2.5)
    assert pod(world, "p") is None


# ------------------------------------------------------------ pods that finish, status echoes
def test_a_pod_with_a_duration_finishes_and_frees_its_room_for_a_waiting_pod():
    world = make_world()
    world.add_node(node_obj("n1", cpu="2"))
    world.add_pod(pod_obj("batch", cpu="2"), duration=10.0)
    world.run(until=1.0)
    world.add_pod(pod_obj("waiting", cpu="2"))
    world.run(until=9.0)
    assert pod(world, "batch").node_name == "n1" and pod(world, "waiting").node_name == ""
    assert event_times(world, "waiting", "FailedScheduling") == [1.0]
    world.run()
    assert pod(world, "batch") is None
    assert pod(world, "waiting").node_name == "n1" and event_times(world, "waiting", "Scheduled") == [10.0]


def test_status_writes_echoed_by_the_watch_do_not_wake_an_unschedulable_pod():
    """Our own condition/nomination writes come back through the watch; if they re-queued the
    pod it would be retried (and post FailedScheduling) again and again while nothing changed."""
    world = make_world(api_latency=0.1, watch_delay=0.1)
    world.add_node(node_obj("n1", cpu="1"))
    world.add_pod(pod_obj("big", cpu="4"))
    world.run()
    assert len(event_times(world, "big", "FailedScheduling")) == 1
    seen = spy(world, "pod_changed")
    world.execute([SetCondition(ref("big"), "Unschedulable", "still too big"), Nominate(ref("big"), "n1")])
    world.run(until=50.0)
    assert [p.nominated_node for _, p in seen] == ["n1"]  # the echo did arrive
    assert len(event_times(world, "big", "FailedScheduling")) == 1


# ------------------------------------------------------------ driving: run(until), run(idle_wait)
def test_run_until_stops_at_until_and_a_later_run_carries_on():
    world = make_world()
    world.add_node(node_obj("n1"))
    world.add_pod(pod_obj("job"), duration=100.0)
    world.run(until=30.0)
    assert world.now == 30.0 and pod(world, "job").node_name == "n1"  # its end (at 100) not reached
    world.run()
    assert world.now == 100.0 and pod(world, "job") is None


def test_run_with_idle_wait_retries_parked_pods_periodically():
    """Without idle_wait a run ends when nothing is due; with it, a parked pod is tried again each
    unschedulable timeout (as the daemon's periodic flush does)."""
    world = make_world(unschedulable_timeout=60.0)
    world.add_node(node_obj("n1", cpu="1"))
    world.add_pod(pod_obj("big", cpu="4"))
    world.run()
    assert world.now == 0.0 and event_times(world, "big", "FailedScheduling") == [0.0]
    world.run(until=130.0, idle_wait=30.0)
    assert world.now == 130.0
    assert event_times(world, "big", "FailedScheduling") == [0.0, 60.0, 120.0]
    with pytest.raises(ValueError, match="idle_wait needs until"):
        world.run(idle_wait=30.0)  # would never end: the pod never fits
