"""Gang scheduling end to end: the daemon over HTTP (real `kubernetes` transport) against the stand-in kube-apiserver."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

SCHEDULER = "preemptive-scheduler"
GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
MIN_ANNOTATION = "scheduling.x-k8s.io/min-available"
Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py


def gang_pod(cluster: Cluster, name: str, group: str, min_available: Optional[Any] = None, cpu: str = "1",
             memory: str = "1Gi") -> Dict[str, Any]:
    """Create one member of gang `default/<group>` (annotation left out when `min_available` is None)."""
    annotations = {} if min_available is None else {MIN_ANNOTATION: str(min_available)}
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default",
                        "labels": {"app": "test", GROUP_LABEL: group}, "annotations": annotations},
           "spec": {"schedulerName": SCHEDULER, "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": "pause",
                                    "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
           "status": {"phase": "Pending"}}
    return cluster.srv.create(obj)


def podgroup(name: str, min_member: int) -> Dict[str, Any]:
    return {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"minMember": min_member}}


def _all_bound(cluster: Cluster, names: List[str]) -> bool:
    return len(cluster.bound(names)) == len(names)


def _bound_once(cluster: Cluster, names: List[str]) -> None:
    counts = {n: cluster.srv.bindings_count(f"default/{n}") for n in names}
    assert all(c == 1 for c in counts.values()), {n: c for n, c in counts.items() if c != 1}


def _notes(cluster: Cluster, name: str, reason: str) -> List[str]:
    return [ev.get("note") or "" for ev in cluster.events_for(name, reason)]


def _has_note(cluster: Cluster, names: List[str], reason: str, *fragments: str) -> bool:
    return all(any(all(f in note for f in fragments) for note in _notes(cluster, n, reason)) for n in names)


def test_gang_that_fits_is_bound_whole_once(cluster: Cluster, start_daemon: Callable[..., RunningDaemon],
                                            wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="2")
    members = [f"fit-{i}" for i in range(4)]
    for name in members:  # all present before the scheduler looks, so no "waiting for members" events
        gang_pod(cluster, name, "fit", 4)
    handle = start_daemon(cluster)
    wait_until(lambda: _all_bound(cluster, members), 10, message="the whole gang bound")
    wait_until(lambda: all(cluster.events_for(n, "Scheduled") for n in members), 10, message="Scheduled events")
    time.sleep(0.5)  # a chance to bind twice

    _bound_once(cluster, members)
    assert len(cluster.srv.bindings) == 4
    for name in members:
        events = cluster.events_for(name, "Scheduled")
        assert len(events) == 1, name
        assert events[0]["type"] == "Normal"
        assert cluster.node_of(name) in events[0]["note"]
        assert not cluster.events_for(name, "FailedScheduling"), name
    per_node = {n: sum(1 for p in members if cluster.node_of(p) == n) for n in ("node-0", "node-1")}
    assert per_node == {"node-0": 2, "node-1": 2}
    assert handle.thread.is_alive()


def test_gang_that_does_not_fit_binds_nothing_until_room_appears(cluster: Cluster,
                                                                 start_daemon: Callable[..., RunningDaemon],
                                                                 wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="2")
    cluster.add_pod("blocker", cpu="1", scheduler="default-scheduler", node="node-0")
    start_daemon(cluster)
    members = [f"tight-{i}" for i in range(4)]
    for name in members:
        gang_pod(cluster, name, "tight", 4)
    wait_until(lambda: _has_note(cluster, members, "FailedScheduling", "gang default/tight", "only 3 of 4"), 10,
               message="FailedScheduling naming the gang on every member")
    time.sleep(0.5)
    assert cluster.bound(members) == []
    assert all(cluster.srv.bindings_count(f"default/{n}") == 0 for n in members)
    for name in members:
        assert cluster.events_for(name, "FailedScheduling")[0]["type"] == "Warning"
        assert not cluster.events_for(name, "Scheduled")

    cluster.srv.delete("Pod", "default", "blocker", grace_period_seconds=0)
    wait_until(lambda: _all_bound(cluster, members), 10, message="the gang bound once room appeared")
    time.sleep(0.3)
    _bound_once(cluster, members)
    assert all(len(cluster.events_for(n, "Scheduled")) == 1 for n in members)


def test_gang_below_its_minimum_waits_for_its_last_member(cluster: Cluster, start_daemon: Callable[..., RunningDaemon],
                                                          wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="4")
    start_daemon(cluster)
    members = [f"few-{i}" for i in range(4)]
    for name in members[:3]:
        gang_pod(cluster, name, "few", 4)
    wait_until(lambda: _has_note(cluster, members[:3], "FailedScheduling", "gang default/few",
                                 "3/4 members present, waiting"), 10, message="the waiting event")
    time.sleep(0.3)
    assert cluster.bound(members[:3]) == []
    assert cluster.srv.bindings == []

    gang_pod(cluster, members[3], "few", 4)
    wait_until(lambda: _all_bound(cluster, members), 10, message="the gang bound once its last member came")
    time.sleep(0.3)
    _bound_once(cluster, members)


def test_bind_error_in_the_middle_of_a_gang_is_retried(cluster: Cluster, start_daemon: Callable[..., RunningDaemon],
                                                       wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="4")
    handle = start_daemon(cluster)
    members = [f"flaky-{i}" for i in range(4)]
    cluster.srv.faults.fail_next("POST", r"/pods/flaky-2/binding$", 500)
    for name in members:
        gang_pod(cluster, name, "flaky", 4)
    wait_until(lambda: handle.sample("scheduler_bind_errors_total", code="500") >= 1, 10, message="the 500")
    wait_until(lambda: _all_bound(cluster, members), 10, message="the whole gang bound after the retry")
    time.sleep(0.5)
    _bound_once(cluster, members)
    assert len(cluster.srv.bindings) == 4
    assert all(len(cluster.events_for(n, "Scheduled")) == 1 for n in members)
    assert not cluster.events_for("flaky-0", "GangTimeout")
    assert handle.thread.is_alive()


def test_gang_left_below_its_minimum_is_rolled_back_after_its_timeout(cluster: Cluster,
                                                                      start_daemon: Callable[..., RunningDaemon],
                                                                      wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="4")
    start_daemon(cluster, gang_timeout=2)
    members = [f"roll-{i}" for i in range(3)]
    for name in members:
        gang_pod(cluster, name, "roll", 3)
    wait_until(lambda: _all_bound(cluster, members), 10, message="the gang bound")
    wait_until(lambda: all((cluster.pod(n) or {}).get("status", {}).get("phase") == "Running" for n in members), 10,
               message="the members running")

    cluster.srv.delete("Pod", "default", "roll-0", grace_period_seconds=0)
    lost_at = time.monotonic()
    survivors = members[1:]
    time.sleep(1.0)
    assert all(cluster.pod(n) is not None and not cluster.pod(n)["metadata"].get("deletionTimestamp")
               for n in survivors), "evicted before the timeout"
    wait_until(lambda: all(cluster.pod(n) is None for n in survivors), 8,
               message="the remaining members evicted after the gang timeout")
    assert time.monotonic() - lost_at >= 1.5
    for name in survivors:
        events = cluster.events_for(name, "GangTimeout")
        assert events, name
        assert events[0]["type"] == "Warning"
        assert "gang default/roll" in events[0]["note"]
    assert all(cluster.srv.bindings_count(f"default/{n}") == 1 for n in members)


def test_podgroup_object_gives_the_minimum(cluster: Cluster, start_daemon: Callable[..., RunningDaemon],
                                           wait_until: Callable[..., Any]) -> None:
    cluster.srv.podgroup_crd_installed = True
    cluster.add_nodes(1, cpu="4")
    handle = start_daemon(cluster)
    members = ["pg-0", "pg-1"]
    gang_pod(cluster, "pg-0", "pg")
    wait_until(lambda: _has_note(cluster, ["pg-0"], "FailedScheduling", "gang default/pg",
                                 f"no {MIN_ANNOTATION} annotation and no PodGroup named default/pg"), 10,
               message="waiting for a PodGroup")
    cluster.srv.create(podgroup("pg", 2))
    wait_until(lambda: "default/pg" in handle.daemon.loop.gangs.registry.podgroups, 5, message="PodGroup seen")
    time.sleep(0.3)
    assert cluster.bound(members) == []  # one member of minimum two

    wait_until(lambda: _podgroup_status(cluster, "pg").get("phase") == "Pending", 5, message="PodGroup Pending")
    gang_pod(cluster, "pg-1", "pg")
    wait_until(lambda: _all_bound(cluster, members), 10, message="the PodGroup gang bound")
    time.sleep(0.3)
    _bound_once(cluster, members)
    # `kubectl get podgroups` tells the user: its status is written when it changes
    wait_until(lambda: _podgroup_status(cluster, "pg").get("phase") == "Running", 10, message="PodGroup Running")
    assert _podgroup_status(cluster, "pg") == {"phase": "Running", "scheduled": 2, "running": 2, "succeeded": 0}


def _podgroup_status(cluster: Cluster, name: str) -> Dict[str, Any]:
    return dict((cluster.srv.get("PodGroup", "default", name) or {}).get("status") or {})


def test_without_podgroup_crd_a_gang_without_annotation_waits(cluster: Cluster,
                                                              start_daemon: Callable[..., RunningDaemon],
                                                              wait_until: Callable[..., Any]) -> None:
    cluster.srv.podgroup_crd_installed = False
    cluster.add_nodes(1, cpu="4")
    handle = start_daemon(cluster)
    members = ["nopg-0", "nopg-1"]
    for name in members:
        gang_pod(cluster, name, "nopg")
    wait_until(lambda: _has_note(cluster, members, "FailedScheduling", "gang default/nopg",
                                 f"no {MIN_ANNOTATION} annotation and no PodGroup named default/nopg"), 10,
               message="the no-minimum event")
    cluster.add_pod("plain", cpu="1")
    wait_until(lambda: cluster.node_of("plain"), 10, message="an ordinary pod still scheduled")
    assert cluster.bound(members) == []
    assert handle.thread.is_alive()


def test_conflicting_min_available_waits_and_others_are_scheduled(cluster: Cluster,
                                                                   start_daemon: Callable[..., RunningDaemon],
                                                                   wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="4")
    handle = start_daemon(cluster)
    gang_pod(cluster, "mixed-0", "mixed", 2)
    gang_pod(cluster, "mixed-1", "mixed", 3)
    gang_pod(cluster, "mixed-2", "mixed", 2)
    members = ["mixed-0", "mixed-1", "mixed-2"]
    wait_until(lambda: _has_note(cluster, members, "FailedScheduling", "gang default/mixed",
                                 f"members disagree on {MIN_ANNOTATION}: 2, 3"), 10, message="the conflict event")
    others = [f"ok-{i}" for i in range(3)]
    for name in others:
        cluster.add_pod(name, cpu="1")
    gang_pod(cluster, "fine-0", "fine", 2)
    gang_pod(cluster, "fine-1", "fine", 2)
    wait_until(lambda: _all_bound(cluster, others + ["fine-0", "fine-1"]), 10,
               message="other pods and another gang still scheduled")
    time.sleep(0.3)
    assert cluster.bound(members) == []
    assert handle.thread.is_alive()
    _bound_once(cluster, others + ["fine-0", "fine-1"])
