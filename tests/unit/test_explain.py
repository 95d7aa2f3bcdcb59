"""`preemptive-scheduler explain POD`: per node the first rejecting filter and why, best nodes, preemption plan."""
from __future__ import annotations

import json

import pytest

from scheduler.cli import main

SCENARIO = """
nodes:
  - {name: small, cpu: 2, memory: 4Gi}
  - {name: tainted, cpu: 8, memory: 16Gi, taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}
pods:
  - {name: filler, at: 0, priority: 5, cpu: 1500m, memory: 1Gi}
  - {name: big, at: 1, priority: 100, cpu: 2, memory: 1Gi}
  - {name: tiny, at: 2, priority: 1, cpu: 100m, memory: 100Mi}
"""


@pytest.fixture
def scenario(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    path = tmp_path / "cluster.yaml"
    path.write_text(SCENARIO)
    return str(path)


def explain_json(capsys, scenario, *argv):
    assert main(["explain", "--scenario", scenario, "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_pending_pod_gets_the_first_rejecting_filter_of_every_node(capsys, scenario):
    answer = explain_json(capsys, scenario, "big")
    assert answer["would_bind_to"] is None and "0/2 nodes are available" in answer["message"]
    assert answer["nodes"] == [
        {"node": "small", "fits": False, "rejected_by": "NodeResourcesFit", "reason": "Insufficient cpu"},
        {"node": "tainted", "fits": False, "rejected_by": "TaintToleration",
         "reason": "node(s) had untolerated taint {dedicated: gpu}"},
    ]
    assert "preemption" not in answer


def test_with_preemption_a_nominated_pod_says_what_it_waits_for(capsys, scenario):
    answer = explain_json(capsys, scenario, "default/big", "--preemption", "--at", "1")  # filler is terminating
    assert answer["preemption"] == {"node": "small", "victims": []}
    assert "waiting for 1 preempted pod(s) to terminate on small" in answer["message"]


def test_a_bound_pod_says_where(capsys, scenario):
    assert explain_json(capsys, scenario, "filler")["bound_to"] == "small"


def test_text_report_and_unknown_pod(capsys, scenario):
    assert main(["explain", "--scenario", scenario, "big"]) == 0
    text = capsys.readouterr().out
    assert "small" in text and "NodeResourcesFit: Insufficient cpu" in text
    assert main(["explain", "--scenario", scenario, "nope"]) == 2
    assert "pod default/nope: not found" in capsys.readouterr().err


def test_a_gated_pod_is_pending_gated_by_its_gates():
    from scheduler.core.parse import parse_pod
    from scheduler.explain import explain, render_text

    from .core.builders import Cluster, pod_obj

    cluster = Cluster()
    cluster.node("n1")
    raw = pod_obj("held")
    raw["spec"]["schedulingGates"] = [{"name": "example.com/quota"}, {"name": "example.com/arch"}]
    pod = parse_pod(raw, cluster.defaults)
    cluster.loop.pod_changed(pod)
    answer = explain(cluster.loop, pod)
    assert answer["would_bind_to"] is None and answer["gated_by"] == ["example.com/quota", "example.com/arch"]
    assert render_text(answer).splitlines()[1] == \
        "  pending: gated by example.com/quota, example.com/arch: not attempted until its spec.schedulingGates are removed"
