"""Fault suite: preemption never starts what the API refuses, and stops when it refuses anyway (issue item 5)."""
from __future__ import annotations

import time
from typing import Any, Callable, List

Cluster = RunningDaemon = FaultRun = Any  # fixtures from tests/integration/conftest.py and faults/conftest.py


def _running(cluster: Cluster, names: List[str]) -> bool:
    return all((cluster.pod(n) or {}).get("status", {}).get("phase") == "Running" for n in names)


def test_a_refused_eviction_stops_the_plan_clears_the_nomination_and_the_pod_replans(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="2")
    first_plan = {"low-a": 1, "low-b": 1}  # node-0: the cheapest victims
    second_plan = {"mid-a": 2, "mid-b": 2}  # node-1: the plan once a node-0 victim is refused
    for names, node in ((first_plan, "node-0"), (second_plan, "node-1")):
        for name, priority in names.items():
            cluster.add_pod(name, cpu="1", priority=priority, node=node, grace=1)
    wait_until(lambda: _running(cluster, [*first_plan, *second_plan]), 5, message="the low-priority pods running")
    handle = start_daemon(cluster, preemption=True)
    wait_until(lambda: len(handle.daemon.loop.state.placed) == 4, 5, message="the scheduler to see them")

    # the API refuses the first eviction (as a PodDisruptionBudget that changed since the plan would)
    cluster.srv.faults.fail_next("POST", r"/pods/[^/]+/eviction$", 429, message="Cannot evict pod as it would "
                                 "violate the pod's disruption budget.")
    cluster.add_pod("urgent", cpu="2", priority=100)
    wait_until(lambda: cluster.node_of("urgent"), 20, message="the preemptor bound after re-planning")

    refused = [k for k, calls in run.calls.evictions.items() if calls[0].status == 429]
    assert len(refused) == 1 and refused[0] in ("default/low-a", "default/low-b"), dict(run.calls.evictions)
    spared = ({"default/low-a", "default/low-b"} - set(refused)).pop()
    assert not run.calls.eviction_attempts(spared), "the rest of the refused plan was attempted"
    for key in ("default/low-a", "default/low-b"):
        name = key.split("/")[1]
        assert cluster.pod(name) is not None and not cluster.pod(name)["metadata"].get("deletionTimestamp")
    history = run.monitor.nominations["default/urgent"]  # its nominatedNodeName, each change
    assert history[0] == "node-0" and history.count("node-0") == 1, history  # node-0's plan ended for good
    refused_at = run.calls.eviction_attempts(refused[0])[0].ended
    second = [c for k in ("default/mid-a", "default/mid-b") for c in run.calls.eviction_attempts(k)]
    assert len(second) == 2 and all(c.status == 201 and c.started > refused_at for c in second)
    assert cluster.node_of("urgent") == "node-1"
    assert handle.sample("scheduler_evictions_total", result="blocked_by_pdb") == 1
    run.check("eviction refused mid-plan", "429 on the first eviction of a 2-victim plan",
              ["urgent", "low-a", "low-b"], [handle], min_victims=2, max_attempts=1)


def test_a_refused_eviction_with_no_other_plan_leaves_no_nomination_behind(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="2")
    for name in ("low-a", "low-b"):
        cluster.add_pod(name, cpu="1", priority=1, node="node-0", grace=1)
    wait_until(lambda: _running(cluster, ["low-a", "low-b"]), 5, message="the low-priority pods running")
    handle = start_daemon(cluster, preemption=True)
    wait_until(lambda: len(handle.daemon.loop.state.placed) == 2, 5, message="the scheduler to see them")
    cluster.srv.faults.fail_next("POST", r"/pods/[^/]+/eviction$", 429)
    cluster.add_pod("urgent", cpu="2", priority=100)
    wait_until(lambda: run.calls.evictions and all(c.status for cs in run.calls.evictions.values() for c in cs), 10,
               message="the refused eviction")
    wait_until(lambda: "node-0" in run.monitor.nominations["default/urgent"], 5, message="the nomination sent")
    wait_until(lambda: not ((cluster.pod("urgent") or {}).get("status") or {}).get("nominatedNodeName"), 5,
               message="the nomination cleared")
    time.sleep(2.0)  # several re-planning rounds: the refused victim sits out its cool-down, nothing else helps

    assert sum(len(calls) for calls in run.calls.evictions.values()) == 1, dict(run.calls.evictions)
    assert cluster.node_of("urgent") == ""
    for name in ("low-a", "low-b"):
        assert not (cluster.pod(name) or {}).get("metadata", {}).get("deletionTimestamp"), name
    assert "default/urgent" not in {n.pod.key for n in handle.daemon.loop.nominations.values()}
    assert cluster.scheduled_condition("urgent").get("status") == "False"
    run.check("eviction refused, no other plan", "429 on the first eviction; the only plan",
              ["low-a", "low-b"], [handle], min_victims=0, max_attempts=1)


def test_a_plan_that_breaks_a_disruption_budget_is_not_started(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="2")
    cluster.srv.create({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                        "metadata": {"name": "db", "namespace": "default"},
                        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}})
    for name in ("db-0", "db-1"):  # the cheapest victims, but evicting either breaks the budget
        cluster.add_pod(name, cpu="1", priority=1, node="node-0", labels={"app": "db"}, grace=1)
    for name in ("cache-0", "cache-1"):
        cluster.add_pod(name, cpu="1", priority=5, node="node-1", labels={"app": "cache"}, grace=1)
    wait_until(lambda: _running(cluster, ["db-0", "db-1", "cache-0", "cache-1"]), 5, message="the pods running")
    wait_until(lambda: ((cluster.srv.get("PodDisruptionBudget", "default", "db") or {}).get("status") or {})
               .get("currentHealthy") == 2, 5, message="the budget to count both db pods")
    handle = start_daemon(cluster, preemption=True)
    cluster.add_pod("urgent", cpu="2", priority=100)
    wait_until(lambda: cluster.node_of("urgent"), 15, message="the preemptor bound")

    assert cluster.node_of("urgent") == "node-1"
    assert set(run.calls.evictions) == {"default/cache-0", "default/cache-1"}
    assert all(c.status == 201 for calls in run.calls.evictions.values() for c in calls)
    assert handle.sample("scheduler_evictions_total", result="blocked_by_pdb") == 0
    run.check("plan would break a PDB", "PodDisruptionBudget minAvailable=2 on the cheapest victims",
              ["urgent", "db-0", "db-1"], [handle], min_victims=2, max_attempts=1)
