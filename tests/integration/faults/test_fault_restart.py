"""Fault suite: the scheduler dies (SIGKILL) or loses leadership mid-work and a successor recovers (issue item 3)."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

Cluster = RunningDaemon = FaultRun = Any  # fixtures from tests/integration/conftest.py and faults/conftest.py

GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
MIN_ANNOTATION = "scheduling.x-k8s.io/min-available"


def _running(cluster: Cluster, names: List[str]) -> bool:
    return all((cluster.pod(n) or {}).get("status", {}).get("phase") == "Running" for n in names)


def _terminating(cluster: Cluster, name: str) -> bool:
    return bool(((cluster.pod(name) or {}).get("metadata") or {}).get("deletionTimestamp"))


def _nominated(cluster: Cluster, name: str) -> str:
    return ((cluster.pod(name) or {}).get("status") or {}).get("nominatedNodeName") or ""


def _low_priority_pods(cluster: Cluster, grace: int) -> List[str]:
    """node-0 (4 cpu) full of four 1-cpu pods: two of priority 1, two of priority 5."""
    low = {"low-a": 1, "low-b": 1, "mid-a": 5, "mid-b": 5}
    for name, priority in low.items():
        cluster.add_pod(name, cpu="1", priority=priority, node="node-0", grace=grace)
    return list(low)


def test_sigkill_while_victims_terminate_and_restart_evicts_no_second_set(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="4")
    pods = _low_priority_pods(cluster, grace=6)  # victims take 6 s to terminate
    wait_until(lambda: _running(cluster, pods), 5, message="the low-priority pods running")
    first = start_daemon(cluster, preemption=True)
    cluster.add_pod("urgent", cpu="2", priority=100)
    wait_until(lambda: _terminating(cluster, "low-a") and _terminating(cluster, "low-b"), 10,
               message="the two victims evicted")
    first.kill()  # SIGKILL right after the evictions: the victims are still terminating
    killed_at = time.monotonic()
    assert _nominated(cluster, "urgent") == "node-0"
    assert cluster.pod("low-a") is not None and cluster.pod("low-b") is not None

    second = start_daemon(cluster, preemption=True)
    wait_until(lambda: cluster.node_of("urgent"), 20, message="the preemptor bound by the new scheduler")
    assert time.monotonic() - killed_at >= 4.0, "bound before its victims could have gone"
    assert cluster.node_of("urgent") == "node-0"
    assert cluster.pod("low-a") is None and cluster.pod("low-b") is None
    for name in ("mid-a", "mid-b"):
        assert cluster.pod(name) is not None and not _terminating(cluster, name), f"{name} evicted: a second set"
    assert second.sample("scheduler_preemption_attempts_total") == 0
    run.check("SIGKILL while victims terminate", "kill after 2 evictions (grace 6 s), restart",
              ["urgent", "mid-a", "mid-b"], [second], min_victims=2, max_attempts=1)


def _gang_pod(cluster: Cluster, name: str, group: str, minimum: int, cpu: str = "1") -> None:
    cluster.srv.create({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "test", GROUP_LABEL: group},
                     "annotations": {MIN_ANNOTATION: str(minimum)}},
        "spec": {"schedulerName": "preemptive-scheduler", "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": cpu}}}]},
        "status": {"phase": "Pending"}})


def _gang_states(handle: RunningDaemon) -> Dict[str, float]:
    return {state: handle.sample("scheduler_gangs", state=state)
            for state in ("Waiting", "Scheduled", "Running", "Invalid", "RolledBack")}


def _kill_mid_gang(cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon],
                   wait_until: Callable[..., Any], fill: bool) -> RunningDaemon:
    """SIGKILL with three of four members bound (the fourth's binding fails), then restart with the node
    list answering 2 s after the pod list; with `fill`, other pods take the room the fourth member needs
    while no scheduler runs."""
    srv = cluster.srv
    cluster.add_nodes(2, cpu="4")
    first = start_daemon(cluster, gang_timeout=3)
    members = [f"gang-{i}" for i in range(4)]
    srv.faults.fail_next("POST", r"/pods/gang-3/binding$", 500, count=100_000)  # the last member cannot bind
    for name in members:
        _gang_pod(cluster, name, "train", 4)
    wait_until(lambda: len(cluster.bound(members)) == 3, 10, message="three of four members bound")
    wait_until(lambda: run.calls.bind_attempts("default/gang-3"), 5, message="the fourth member's binding tried")
    first.kill()  # SIGKILL with the gang half-bound
    assert cluster.bound(members) == members[:3]
    srv.faults.clear()
    if fill:
        for node in ("node-0", "node-1"):
            used = sum(1 for n in members if cluster.node_of(n) == node)
            cluster.add_pod(f"squatter-{node}", cpu=str(4 - used), scheduler="default-scheduler", node=node)

    srv.faults.delay(2.0, r"^/api/v1/nodes$")  # the new scheduler sees the bound members before their nodes
    second = start_daemon(cluster, gang_timeout=3, wait_synced=False)
    wait_until(lambda: second.daemon.synced, 15, message="the new scheduler synced")
    srv.faults.delay(0, r"^/api/v1/nodes$")
    return second


def test_sigkill_mid_gang_then_restart_listing_pods_before_nodes_completes_the_gang(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    second = _kill_mid_gang(cluster, run, start_daemon, wait_until, fill=False)
    members = [f"gang-{i}" for i in range(4)]
    wait_until(lambda: cluster.node_of("gang-3"), 10, message="the last member bound by the new scheduler")
    time.sleep(4.0)  # past the gang timeout: nothing may be rolled back now that the gang is whole

    assert cluster.bound(members) == members
    assert not run.calls.evictions, "a whole gang was rolled back"
    assert not cluster.events_for("gang-0", "GangTimeout")
    wait_until(lambda: _gang_states(second)["Running"] == 1, 5, message="scheduler_gangs to show one running gang")
    assert _gang_states(second) == {"Waiting": 0, "Scheduled": 0, "Running": 1, "Invalid": 0, "RolledBack": 0}
    placed = second.daemon.loop.state.placed
    assert all(not placed[f"default/{n}"].assumed for n in members)
    run.check("SIGKILL mid-gang, pods before nodes", "kill with 3/4 bound; node list 2 s late on restart",
              members, [second], max_attempts=None)


def test_sigkill_mid_gang_then_restart_rolls_back_a_gang_that_cannot_complete(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    second = _kill_mid_gang(cluster, run, start_daemon, wait_until, fill=True)
    members = [f"gang-{i}" for i in range(4)]
    synced_at = time.monotonic()
    wait_until(lambda: all(cluster.pod(n) is None for n in members[:3]), 15,
               message="the bound members evicted after the gang timeout")
    assert time.monotonic() - synced_at >= 2.0, "rolled back before the gang timeout (3 s) could pass"
    assert set(run.calls.evictions) == {f"default/{n}" for n in members[:3]}
    assert all(cluster.events_for(n, "GangTimeout") for n in members[:3])
    assert cluster.node_of("gang-3") == ""
    wait_until(lambda: _gang_states(second)["RolledBack"] == 1, 5, message="scheduler_gangs to show the rollback")
    assert _gang_states(second)["Running"] == 0 and _gang_states(second)["Scheduled"] == 0
    run.check("SIGKILL mid-gang, gang cannot complete", "as above, its room taken while down: rollback",
              [], [second], min_victims=3, max_attempts=None)


def test_leader_killed_during_a_preemption_the_new_leader_evicts_no_second_set(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="4")
    pods = _low_priority_pods(cluster, grace=25)  # the victims outlive the Lease (15 s) of the dead leader
    wait_until(lambda: _running(cluster, pods), 5, message="the low-priority pods running")
    a = start_daemon(cluster, preemption=True, leader_elect=True)
    b = start_daemon(cluster, preemption=True, leader_elect=True)

    def leader() -> Optional[RunningDaemon]:
        holder = ((cluster.lease() or {}).get("spec") or {}).get("holderIdentity")
        return next((h for h in (a, b) if h.daemon.elector.identity == holder and h.daemon.is_leader()), None)

    old = wait_until(leader, 10, message="a leader")
    new = b if old is a else a
    cluster.add_pod("urgent", cpu="2", priority=100)
    wait_until(lambda: _terminating(cluster, "low-a") and _terminating(cluster, "low-b"), 10,
               message="the two victims evicted by the leader")
    old.kill()  # no Lease release: the follower takes over only once it expires
    assert _nominated(cluster, "urgent") == "node-0"
    wait_until(lambda: new.daemon.is_leader(), 25, interval=0.2, message="the follower to take over")
    took_over_while_terminating = cluster.pod("low-a") is not None or cluster.pod("low-b") is not None
    wait_until(lambda: cluster.node_of("urgent"), 20, message="the preemptor bound by the new leader")

    assert took_over_while_terminating, "the victims were gone before the takeover: the scenario tested nothing"
    assert cluster.node_of("urgent") == "node-0"
    for name in ("mid-a", "mid-b"):
        assert cluster.pod(name) is not None and not _terminating(cluster, name), f"{name} evicted: a second set"
    assert new.sample("scheduler_preemption_attempts_total") == 0
    run.check("leader killed during a preemption", "kill leader after 2 evictions (grace 25 s), failover",
              ["urgent", "mid-a", "mid-b"], [new], min_victims=2, max_attempts=1)
