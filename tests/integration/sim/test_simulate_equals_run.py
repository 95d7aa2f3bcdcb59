"""simulate ≡ run: one scenario through the in-memory cluster and through the real daemon over HTTP.

The scenario has priorities, a preemption whose victim takes 2 s to terminate,
a gang, and a binding the API fails once.  Both worlds get the same objects in
the same order (each step waits until the previous one has settled, so arrival
order cannot differ) and the same settings; the placements, the victims and
the Events (pod, type, reason) must be identical.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Set, Tuple

from scheduler.core.model import MIN_AVAILABLE_ANNOTATION, POD_GROUP_LABEL, PRIORITY_ANNOTATION
from scheduler.sim.world import InMemoryCluster
from scheduler.testing import make_node

SCHEDULER = "preemptive-scheduler"
GRACE = 2
SETTINGS = {"preemption": True, "backoff_initial": 0.2, "backoff_max": 1.0}

Outcome = Tuple[Dict[str, str], Set[str], Set[Tuple[str, str, str]]]  # placements, victims, events


def pod(name: str, cpu: str, priority: int, gang: str = "", minimum: int = 0, node: str = "",
        started: str = "") -> Dict[str, Any]:
    labels = {"app": "equivalence"}
    annotations = {PRIORITY_ANNOTATION: str(priority)}
    if gang:
        labels[POD_GROUP_LABEL] = gang
        annotations[MIN_AVAILABLE_ANNOTATION] = str(minimum)
    raw: Dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels, "annotations": annotations},
        "spec": {"schedulerName": SCHEDULER, "terminationGracePeriodSeconds": GRACE,
                 "containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]},
        "status": {"phase": "Pending"},
    }
    if node:  # already running (start times are whole seconds in the API: these differ on purpose)
        raw["spec"]["nodeName"] = node
        raw["status"] = {"phase": "Running", "startTime": started}
    return raw


# (what to do, argument): each step waits until the world has settled before the next
STEPS: List[Tuple[str, Any]] = [
    ("node", make_node("n1", cpu="4", memory="16Gi")),
    ("node", make_node("n2", cpu="4", memory="16Gi")),
    *[("running", pod(f"low-{i}", "2", 1, node=f"n{1 + i % 2}", started=f"2026-01-01T00:00:0{i}Z")) for i in range(4)],
    ("bound", pod("mid", "0", 5)),  # fits anywhere (no cpu)
    ("bound", pod("urgent", "2", 100)),  # preempts one low pod (the latest started), waits out its grace period
    ("node", make_node("n3", cpu="3", memory="16Gi")),
    ("waiting", pod("g-0", "1", 50, gang="g", minimum=2)),  # alone, the gang waits
    ("bound", pod("g-1", "1", 50, gang="g", minimum=2)),  # now both are placed together
    ("bound-after-a-failure", pod("flaky", "1", 10)),  # its first binding answers 500
]
NAMES = [step[1]["metadata"]["name"] for step in STEPS if step[0] != "node"]


def in_memory() -> Outcome:
    from scheduler.config import load_config

    config = load_config(dict(SETTINGS), env={})
    world = InMemoryCluster.from_config(config, api_latency=0.005, watch_delay=0.005)
    for kind, obj in STEPS:
        if kind == "node":
            world.add_node(obj)
        else:
            if kind == "bound-after-a-failure":
                world.bind_errors["default/flaky"] = [500]
            world.add_pod(obj, grace=GRACE)
        world.run()
    placements = {key.split("/")[1]: p.node_name for key, p in world.pods.items() if p.node_name}
    victims = {victim.split("/")[1] for victim, _ in world.victims}
    events = {(e.pod.split("/")[1], e.type, e.reason) for e in world.events}
    return placements, victims, events


def over_http(cluster: Any, start_daemon: Callable[..., Any], wait_until: Callable[..., Any]) -> Outcome:
    handle = start_daemon(cluster, **SETTINGS)
    evicted: List[str] = []
    api = handle.daemon.api
    real_evict = api.evict
    api.evict = lambda ns, name, *a: (evicted.append(name), real_evict(ns, name, *a))[1]  # type: ignore[method-assign]
    for kind, obj in STEPS:
        name = obj["metadata"]["name"]
        if kind == "node":
            cluster.srv.create(obj)
            wait_until(lambda name=name: name in {n.name for n in handle.daemon.loop.nodes()}, 10, message=f"node {name} seen")
            continue
        if kind == "bound-after-a-failure":
            cluster.srv.faults.fail_next("POST", rf"/pods/{name}/binding$", 500)
        cluster.srv.create(obj)
        if kind == "waiting":
            wait_until(lambda name=name: cluster.events_for(name, "FailedScheduling"), 10, message=f"{name} to wait")
        elif kind == "running":
            wait_until(lambda name=name: f"default/{name}" in handle.daemon.loop.state.placed, 10, message=f"{name} seen")
        else:
            wait_until(lambda name=name: cluster.node_of(name), 20, message=f"{name} bound")
            wait_until(lambda name=name: cluster.events_for(name, "Scheduled"), 10, message=f"{name}'s Scheduled Event")
    wait_until(lambda: not handle.daemon.actuator.inflight, 10, message="the actuator to finish")
    placements = {n: cluster.node_of(n) for n in NAMES if cluster.node_of(n)}
    events = set()
    for n in NAMES:
        for event in cluster.events_for(n):
            events.add((n, event.get("type"), event.get("reason")))
    return placements, set(evicted), events


def test_the_in_memory_cluster_and_the_daemon_on_the_stand_in_agree(cluster, start_daemon, wait_until):
    simulated = in_memory()
    cluster.agent.termination_delay = GRACE
    real = over_http(cluster, start_daemon, wait_until)
    assert simulated[0] == real[0], "placements differ"
    assert simulated[1] == real[1], "victims differ"
    assert simulated[2] == real[2], "Events differ"
    # and the scenario did what it is for
    placements, victims, events = simulated
    assert len(victims) == 1 and placements["urgent"]
    assert placements["g-0"] == placements["g-1"] == "n3" and placements["flaky"] == "n3"
    reasons = {reason for _, _, reason in events}
    assert {"Scheduled", "FailedScheduling", "Preempting", "Preempted"} <= reasons
