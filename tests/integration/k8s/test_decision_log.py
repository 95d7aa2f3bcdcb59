"""The decision log: one line per decision at info, with its fields as JSON keys under --log-format json."""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from scheduler.logs import JsonFormatter

Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py


def test_binds_verdicts_and_preemptions_are_logged_once_each(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any], caplog) -> None:
    caplog.set_level(logging.INFO, logger="scheduler.daemon")
    cluster.add_nodes(1, cpu="2")
    cluster.add_pod("low", cpu="2", priority=1, node="node-0", grace=0)
    start_daemon(cluster, preemption=True, unschedulable_timeout=0.5)
    cluster.add_pod("huge", cpu="8", priority=5)  # fits nowhere, ever
    cluster.add_pod("urgent", cpu="2", priority=100)
    wait_until(lambda: cluster.node_of("urgent"), 20, message="urgent bound after preempting low")
    wait_until(lambda: any(r.getMessage().startswith("bound default/urgent") for r in caplog.records), 5,
               message="the bind logged")

    decisions = [r.decision for r in caplog.records if hasattr(r, "decision")]
    assert {"decision": "preempt", "pod": "default/urgent", "node": "node-0", "victims": ["default/low"]} in decisions
    assert {"decision": "bound", "pod": "default/urgent", "node": "node-0"} in decisions
    huge = [d for d in decisions if d.get("pod") == "default/huge"]
    assert [d["decision"] for d in huge] == ["unschedulable"]  # retried many times, logged once (same reason)
    line = json.loads(JsonFormatter().format(next(r for r in caplog.records if getattr(r, "decision", {}).get("decision") == "bound")))
    assert line["decision"] == "bound" and line["pod"] == "default/urgent" and line["level"] == "info"


def test_debug_per_node_table_and_gang_admitted(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any], caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="scheduler.daemon")
    cluster.add_nodes(3, cpu="2")
    start_daemon(cluster)
    cluster.add_pod("huge", cpu="8", priority=5)  # fits nowhere: the debug table names every node
    for i in range(3):
        cluster.srv.create({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"train-{i}", "namespace": "default",
                         "labels": {"scheduling.x-k8s.io/pod-group": "train"},
                         "annotations": {"scheduling.x-k8s.io/min-available": "3"}},
            "spec": {"schedulerName": "preemptive-scheduler", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "pause",
                                     "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
            "status": {"phase": "Pending"}})
    wait_until(lambda: len(cluster.bound([f"train-{i}" for i in range(3)])) == 3, 20, message="the gang bound")

    def decision(kind: str) -> Any:
        return next((r.decision for r in caplog.records if getattr(r, "decision", {}).get("decision") == kind), None)

    wait_until(lambda: decision("unschedulable_nodes") and decision("gang_admitted"), 10,
               message="the per-node table and the gang admission logged")
    table = decision("unschedulable_nodes")
    assert table["pod"] == "default/huge" and table["nodes_total"] == 3 and table["nodes_omitted"] == 0
    assert [(n["node"], n["filter"], n["reason"]) for n in table["nodes"]] == [
        (f"node-{i}", "NodeResourcesFit", "Insufficient cpu") for i in range(3)]
    gang = decision("gang_admitted")
    assert gang["gang"] == "default/train" and gang["min_available"] == 3
    assert sorted(m["pod"] for m in gang["members"]) == [f"default/train-{i}" for i in range(3)]
    assert {m["node"] for m in gang["members"]} <= {"node-0", "node-1", "node-2"}
    assert sum(1 for r in caplog.records if getattr(r, "decision", {}).get("decision") == "gang_admitted") == 1
