"""Preemption on an asynchronous API: victims that take seconds to terminate, tenants that claim too much."""
from __future__ import annotations

from typing import Any, Callable, List

Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py

EVICTIONS = ("POST", "pods/eviction")


def _all_running(cluster: Any, names: List[str]) -> bool:
    return all((cluster.pod(n) or {}).get("status", {}).get("phase") == "Running" for n in names)


def test_while_victims_terminate_exactly_one_victim_per_preemptor(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.agent.termination_delay = 2.0
    nodes = cluster.add_nodes(50, cpu="4", memory="16Gi")
    low = [f"low-{i}" for i in range(200)]
    for i, name in enumerate(low):
        cluster.add_pod(name, cpu="1", priority=1, node=nodes[i % 50], grace=2)
    wait_until(lambda: _all_running(cluster, low), 20, message="the low-priority pods to run")
    handle = start_daemon(cluster, preemption=True)
    wait_until(lambda: len(handle.daemon.loop.state.placed) == 200, 10, message="the scheduler to see them")
    high = [f"high-{i}" for i in range(50)]
    for name in high:
        cluster.add_pod(name, cpu="1", priority=1000)
    wait_until(lambda: len(cluster.bound(high)) == 50, 60, interval=0.2, message="every preemptor bound")
    assert cluster.srv.request_counts[EVICTIONS] == 50  # kube-scheduler's figure; before the fix: ~60-75
    assert len([n for n in low if cluster.pod(n) is None]) == 50


def test_a_tenant_claiming_a_huge_priority_leaves_kube_system_alone(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="2", memory="4Gi")
    cluster.add_pod("coredns", cpu="2", priority=2_000_000_000, node="node-0", namespace="kube-system")
    wait_until(lambda: _all_running(cluster, []) or (cluster.pod("coredns", "kube-system") or {}).get(
        "status", {}).get("phase") == "Running", 10, message="coredns to run")
    handle = start_daemon(cluster, preemption=True)
    wait_until(lambda: "kube-system/coredns" in handle.daemon.loop.state.placed, 10, message="the scheduler to see it")
    cluster.add_pod("tenant", cpu="2", priority="99999999999")  # not an int32 either: falls back, with a warning
    cluster.add_pod("greedy", cpu="2", priority=2_100_000_000)  # an int32 above the cap: clamped, with a warning
    wait_until(lambda: cluster.events_for("greedy", "InvalidPriority") and cluster.events_for("greedy", "FailedScheduling"),
               10, message="greedy to be told")
    wait_until(lambda: cluster.events_for("tenant", "FailedScheduling"), 10, message="tenant to be told")
    assert cluster.srv.request_counts[EVICTIONS] == 0
    assert cluster.pod("coredns", "kube-system") is not None
    assert "--max-annotation-priority" in cluster.events_for("greedy", "InvalidPriority")[0]["note"]
