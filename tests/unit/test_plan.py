"""`preemptive-scheduler plan`: would a pod of --cpu/--mem/--priority fit on --node, and why not."""
from __future__ import annotations

import json

import pytest

from scheduler.cli import main

SCENARIO = """
nodes:
  - {name: small, cpu: 2, memory: 4Gi}
  - {name: big, cpu: 8, memory: 16Gi}
  - {name: gpu, cpu: 8, memory: 16Gi, taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}
  - {name: cordoned, cpu: 8, memory: 16Gi, unschedulable: true}
pods:
  - {name: filler, at: 0, priority: 5, cpu: 1500m, memory: 1Gi, nodeSelector: {kubernetes.io/hostname: small}}
"""


@pytest.fixture
def scenario(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    path = tmp_path / "cluster.yaml"
    path.write_text(SCENARIO)
    return str(path)


def plan_json(capsys, scenario, *argv):
    assert main(["plan", "--scenario", scenario, "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_fits_on_node_with_room(capsys, scenario):
    answer = plan_json(capsys, scenario, "--node", "big", "--cpu", "2", "--mem", "2Gi")
    assert answer["fits"] is True and answer["reasons"] == []
    assert answer["pod"]["cpu_millis"] == 2000 and answer["pod"]["memory_bytes"] == 2 << 30


def test_does_not_fit_where_running_pods_use_the_room(capsys, scenario):
    answer = plan_json(capsys, scenario, "--node", "small", "--cpu", "1", "--mem", "1Gi")
    assert answer["fits"] is False
    assert answer["reasons"] == ["Insufficient cpu"]
    assert answer["best_node"] == "big"  # the scheduler would put it elsewhere


def test_reports_every_reason_for_the_node(capsys, scenario):
    answer = plan_json(capsys, scenario, "--node", "gpu", "--cpu", "16", "--mem", "1Gi")
    assert answer["fits"] is False
    assert set(answer["reasons"]) == {"node(s) had untolerated taint {dedicated: gpu}", "Insufficient cpu"}
    assert answer["best_node"] is None
    assert answer["cluster_message"].startswith("0/4 nodes are available:")


def test_cordoned_node(capsys, scenario):
    answer = plan_json(capsys, scenario, "--node", "cordoned", "--cpu", "1", "--mem", "1Gi")
    assert answer["reasons"] == ["node(s) were unschedulable"]


def test_priority_is_reported(capsys, scenario):
    answer = plan_json(capsys, scenario, "--node", "big", "--priority", "-7")
    assert answer["pod"]["priority"] == -7


def test_text_answer(capsys, scenario):
    assert main(["plan", "--scenario", scenario, "--node", "small", "--cpu", "1", "--mem", "1Gi"]) == 0
    out = capsys.readouterr().out
    assert "does NOT fit on small: Insufficient cpu" in out
    assert "the scheduler would choose big" in out


def test_unknown_node_exits_2(capsys, scenario):
    assert main(["plan", "--scenario", scenario, "--node", "ghost"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ghost" in err and "small" in err


def test_bad_gang_size_exits_2(capsys, scenario):
    assert main(["plan", "--scenario", scenario, "--node", "big", "--gang-size", "0"]) == 2
    assert "--gang-size" in capsys.readouterr().err


def test_with_preemption_the_plan_names_the_node_and_its_victims(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    path = tmp_path / "full.yaml"
    path.write_text("nodes:\n  - {name: small, cpu: 2, memory: 4Gi}\n"
                    "pods:\n  - {name: filler, at: 0, priority: 5, cpu: 1500m, memory: 1Gi}\n")
    argv = ("--node", "small", "--cpu", "2", "--mem", "1Gi", "--priority", "100")
    answer = plan_json(capsys, str(path), *argv, "--preemption", "--gang-size", "2")
    assert answer["preemption"] == {"node": "small", "victims": [{"pod": "default/filler", "priority": 5}]}
    assert answer["gang"]["fit"] == 0  # the what-if preemption evicted nothing: the room is still taken
    assert "preemption" not in plan_json(capsys, str(path), *argv)  # off unless asked for
