"""Preemption through the API: eviction, nominatedNodeName, Preempted events, PodDisruptionBudgets."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Set

Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py

EVICTIONS = ("POST", "pods/eviction")


def _running(cluster: Any, names: List[str]) -> bool:
    return all((cluster.pod(n) or {}).get("status", {}).get("phase") == "Running" for n in names)


def _start_with_running_pods(cluster: Any, start_daemon: Callable[..., Any], wait_until: Callable[..., Any],
                             pods: Dict[str, Dict[str, Any]]) -> Any:
    """Start the daemon, then create already-bound pods (kubelet marks them Running)."""
    handle = start_daemon(cluster, preemption=True)
    for name, kwargs in pods.items():
        cluster.add_pod(name, grace=1, **kwargs)
    wait_until(lambda: _running(cluster, list(pods)), 5, message="the existing pods to run")
    wait_until(lambda: all(f"default/{n}" in handle.daemon.loop.state.placed for n in pods), 5,
               message="the scheduler to see the running pods")
    return handle


def test_high_priority_pod_evicts_the_fewest_least_important_pods_and_binds_after_they_are_gone(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="4", memory="16Gi")
    low = {"low-a": 1, "low-b": 1, "mid-a": 5, "mid-b": 5}
    handle = _start_with_running_pods(cluster, start_daemon, wait_until,
                                      {n: {"cpu": "1", "priority": p, "node": "node-0"} for n, p in low.items()})
    evictions_before = cluster.srv.request_counts[EVICTIONS]

    cluster.add_pod("urgent", cpu="2", priority=100)
    nominated: Set[str] = set()
    last_seen_present = 0.0
    deadline = time.monotonic() + 15
    while not cluster.node_of("urgent"):
        now = time.time()
        pod = cluster.pod("urgent") or {}
        if pod.get("status", {}).get("nominatedNodeName"):
            nominated.add(pod["status"]["nominatedNodeName"])
        if any(cluster.pod(n) is not None for n in ("low-a", "low-b")):
            last_seen_present = now
        assert time.monotonic() < deadline, "the high-priority pod was never bound"
        time.sleep(0.02)

    assert nominated == {"node-0"}, "status.nominatedNodeName should name the node being freed"
    assert cluster.node_of("urgent") == "node-0"
    binding = [b for b in cluster.srv.bindings if b["pod"] == "default/urgent"]
    assert len(binding) == 1
    assert binding[0]["time"] > last_seen_present, "bound while a victim still existed"

    # exactly the two least important pods went, through the eviction API
    assert cluster.pod("low-a") is None and cluster.pod("low-b") is None
    for survivor in ("mid-a", "mid-b"):
        pod = cluster.pod(survivor)
        assert pod is not None and not pod["metadata"].get("deletionTimestamp"), survivor
    assert cluster.srv.request_counts[EVICTIONS] - evictions_before == 2
    assert handle.sample("scheduler_evictions_total", result="evicted") == 2
    assert handle.sample("scheduler_preemption_attempts_total") == 1

    for victim in ("low-a", "low-b"):
        events = cluster.events_for(victim, "Preempted")
        assert len(events) == 1, victim
        assert "default/urgent" in events[0]["note"]
        assert events[0]["reportingController"] == "preemptive-scheduler"
    failed = cluster.events_for("urgent", "FailedScheduling")
    assert failed and "preemption" in failed[0]["note"]
    wait_until(lambda: not (cluster.pod("urgent") or {}).get("status", {}).get("nominatedNodeName"), 5,
               message="the nomination to be cleared once bound")


def test_pdb_protected_pods_are_not_evicted_and_nothing_else_is_evicted_blindly(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="2", memory="16Gi")
    cluster.srv.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "small"},
                        "status": {"allocatable": {"cpu": "1", "memory": "16Gi", "pods": "110"},
                                   "conditions": [{"type": "Ready", "status": "True"}]}})
    protected = {"db-0": {"cpu": "1", "priority": 1, "node": "node-0", "labels": {"app": "db"}},
                 "db-1": {"cpu": "1", "priority": 1, "node": "node-0", "labels": {"app": "db"}}}
    bystander = {"cache": {"cpu": "1", "priority": 1, "node": "small", "labels": {"app": "cache"}}}
    cluster.srv.create({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                        "metadata": {"name": "db", "namespace": "default"},
                        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}})
    handle = _start_with_running_pods(cluster, start_daemon, wait_until, {**protected, **bystander})
    wait_until(lambda: (cluster.srv.get("PodDisruptionBudget", "default", "db") or {})
               .get("status", {}).get("currentHealthy") == 2, 5, message="the budget to count both pods")
    evictions_before = cluster.srv.request_counts[EVICTIONS]

    cluster.add_pod("urgent", cpu="2", priority=100)
    wait_until(lambda: "PodDisruptionBudget" in cluster.scheduled_condition("urgent").get("message", ""), 10,
               message="the pod to be told that every plan would break the budget")
    time.sleep(3.0)  # several retry rounds

    assert cluster.srv.request_counts[EVICTIONS] == evictions_before  # the API would refuse: nothing is started
    for name in ("db-0", "db-1", "cache"):
        pod = cluster.pod(name)
        assert pod is not None and not pod["metadata"].get("deletionTimestamp"), name
        assert pod["spec"]["nodeName"] in ("node-0", "small")
    assert cluster.node_of("urgent") == ""
    assert cluster.srv.bindings_count("default/urgent") == 0
    assert handle.sample("scheduler_evictions_total", result="evicted") == 0
    assert handle.sample("scheduler_evictions_total", result="error") == 0
    assert not any(cluster.events_for(n, "Preempted") for n in ("db-0", "db-1", "cache"))
    assert cluster.scheduled_condition("urgent").get("status") == "False"
    assert handle.thread.is_alive()
