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
