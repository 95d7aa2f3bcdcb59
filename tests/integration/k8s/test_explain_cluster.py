"""`explain POD --kubeconfig`: read-only, against the stand-in API server through the real client."""
from __future__ import annotations

import json
from typing import Any


def test_explain_a_pending_pod_of_a_live_cluster_and_write_nothing(cluster: Any, capsys, monkeypatch) -> None:
    from scheduler.cli import main

    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    cluster.add_nodes(2, cpu="2")
    cluster.add_pod("busy", cpu="2", priority=1, node="node-0")
    cluster.add_pod("waiting", cpu="2", priority=100)
    writes_before = sum(n for (method, _), n in cluster.srv.request_counts.items() if method != "GET")
    assert main(["explain", "--kubeconfig", cluster.kubeconfig, "--json", "default/waiting"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["would_bind_to"] == "node-1"
    assert answer["nodes"][0] == {"node": "node-0", "fits": False, "rejected_by": "NodeResourcesFit",
                                  "reason": "Insufficient cpu"}
    assert answer["top_scores"][0]["node"] == "node-1"
    writes_after = sum(n for (method, _), n in cluster.srv.request_counts.items() if method != "GET")
    assert writes_after == writes_before
