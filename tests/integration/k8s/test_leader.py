"""Leader election between daemons sharing one stand-in kube-apiserver (Lease default/preemptive-scheduler)."""
from __future__ import annotations

import time
from typing import Any, Callable, List, Tuple

Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py


def _holder(cluster: Any) -> str:
    lease = cluster.lease() or {}
    return (lease.get("spec") or {}).get("holderIdentity") or ""


def _two_replicas(cluster: Any, start_daemon: Callable[..., Any], wait_until: Callable[..., Any]) -> Tuple[Any, Any]:
    a = start_daemon(cluster, leader_elect=True)
    b = start_daemon(cluster, leader_elect=True)
    identities = {a.daemon.elector.identity: a, b.daemon.elector.identity: b}
    holder = wait_until(lambda: _holder(cluster), 10, message="a Lease holder")
    assert holder in identities
    leader = identities[holder]
    follower = b if leader is a else a
    wait_until(lambda: leader.daemon.is_leader(), 5, message="the holder to act as leader")
    return leader, follower


def _bound_once(cluster: Any, names: List[str]) -> None:
    counts = {n: cluster.srv.bindings_count(f"default/{n}") for n in names}
    assert all(c == 1 for c in counts.values()), counts


def test_only_the_lease_holder_schedules_and_a_follower_takes_over_after_a_kill(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="16")
    leader, follower = _two_replicas(cluster, start_daemon, wait_until)
    first = [f"a{i}" for i in range(10)]
    for name in first:
        cluster.add_pod(name, cpu="100m", memory="100Mi")
    wait_until(lambda: len(cluster.bound(first)) == len(first), 10, message="first pods bound")
    time.sleep(0.5)
    _bound_once(cluster, first)
    assert not follower.daemon.is_leader()
    assert follower.sample("scheduler_schedule_attempts_total", result="scheduled") == 0
    assert leader.sample("scheduler_schedule_attempts_total", result="scheduled") == len(first)
    assert leader.sample("scheduler_leader") == 1 and follower.sample("scheduler_leader") == 0
    transitions = (cluster.lease() or {})["spec"].get("leaseTransitions", 0)

    leader.kill()  # no release: the follower has to wait for the Lease to expire
    assert _holder(cluster) == leader.daemon.elector.identity
    killed_at = time.monotonic()
    second = [f"b{i}" for i in range(5)]
    for name in second:
        cluster.add_pod(name, cpu="100m", memory="100Mi")
    time.sleep(2.0)
    assert cluster.bound(second) == [], "nobody may schedule while the dead leader's Lease is still valid"

    wait_until(lambda: len(cluster.bound(second)) == len(second), 25, interval=0.2,
               message="the follower to take over and schedule")
    took = time.monotonic() - killed_at
    assert took < 22, took
    assert _holder(cluster) == follower.daemon.elector.identity
    assert (cluster.lease() or {})["spec"]["leaseTransitions"] == transitions + 1
    assert follower.daemon.is_leader()
    time.sleep(0.3)
    _bound_once(cluster, first + second)
    assert len(cluster.srv.bindings) == len(first) + len(second)


def test_clean_shutdown_releases_the_lease_and_the_follower_takes_over_at_once(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="16")
    leader, follower = _two_replicas(cluster, start_daemon, wait_until)
    cluster.add_pod("before", cpu="100m")
    wait_until(lambda: cluster.node_of("before"), 10, message="a pod bound by the leader")

    leader.stop()
    lease = cluster.lease() or {}
    assert lease["spec"]["holderIdentity"] in ("", follower.daemon.elector.identity)
    released_at = time.monotonic()
    cluster.add_pod("after", cpu="100m")
    wait_until(lambda: cluster.node_of("after"), 8, message="the follower to take over a released Lease")
    assert time.monotonic() - released_at < 8
    assert _holder(cluster) == follower.daemon.elector.identity
    _bound_once(cluster, ["before", "after"])


def test_clean_shutdown_of_the_only_replica_leaves_an_empty_holder(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1)
    handle = start_daemon(cluster, leader_elect=True)
    identity = handle.daemon.elector.identity
    wait_until(lambda: _holder(cluster) == identity, 10, message="the Lease to be taken")
    handle.stop()
    spec = (cluster.lease() or {})["spec"]
    assert spec["holderIdentity"] == ""
    assert handle.sample("scheduler_leader") == 0
