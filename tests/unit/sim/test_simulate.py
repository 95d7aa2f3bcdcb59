"""`preemptive-scheduler simulate`: the JSON report, determinism, bad pods and bad scenario files."""
from __future__ import annotations

import json

import pytest

from scheduler.cli import main


@pytest.fixture(autouse=True)
def no_prometheus(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)


def simulate_json(capsys, *argv):
    assert main(["simulate", "--json", *argv]) == 0
    out = capsys.readouterr().out
    return out, json.loads(out)


def write(tmp_path, text):
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return str(path)


def by_name(report):
    return {p["name"]: p for p in report["pods"]}


def test_bundled_scenario_report_shape(capsys):
    _, report = simulate_json(capsys)
    assert {"pods", "evictions", "summary"} <= set(report)
    assert isinstance(report["evictions"], list)
    pods = by_name(report)
    assert len(pods) == report["summary"]["pods"] > 0
    for pod in report["pods"]:
        assert "name" in pod and "node" in pod
        if pod["state"] == "Pending":
            assert pod["node"] is None
            assert pod["reason"]  # every pending pod says why
    # the bundled scenario has pods that cannot fit anywhere
    assert pods["huge"]["node"] is None
    assert "Insufficient cpu" in pods["huge"]["reason"]
    assert pods["needs-gpu-no-toleration"]["node"] is None
    assert "untolerated taint {dedicated: gpu}" in pods["needs-gpu-no-toleration"]["reason"]
    assert pods["trainer"]["node"] == "gpu-node"


def test_same_seed_gives_the_same_output(capsys):
    first, _ = simulate_json(capsys, "--seed", "3", "--preemption")
    second, _ = simulate_json(capsys, "--seed", "3", "--preemption")
    assert first == second


def test_preemption_flag_changes_what_happens(capsys):
    _, without = simulate_json(capsys)
    _, with_preemption = simulate_json(capsys, "--preemption")
    assert without["evictions"] == []
    assert with_preemption["evictions"]
    for eviction in with_preemption["evictions"]:
        assert {"victim", "preemptor", "node"} <= set(eviction)


def test_text_report_is_printed_without_json(capsys):
    assert main(["simulate"]) == 0
    out = capsys.readouterr().out
    assert "huge" in out and "Insufficient cpu" in out


SMALL = """
name: small
nodes:
  - {name: n, count: 2, cpu: 2, memory: 4Gi}
pods:
  - {name: ok, count: 2, at: 0, priority: 5, cpu: 1, memory: 1Gi}
  - {name: broken, at: 0, priority: 5, cpu: lots, memory: 1Gi}
  - {name: later, at: 5, priority: 5, cpu: 500m, memory: 1Gi}
"""


def test_malformed_pod_quantity_stays_pending_with_a_reason(tmp_path, capsys):
    _, report = simulate_json(capsys, write(tmp_path, SMALL))
    pods = by_name(report)
    assert pods["broken"]["node"] is None
    assert "lots" in pods["broken"]["reason"]
    assert all(pods[name]["node"] for name in ("ok-0", "ok-1", "later"))
    assert report["summary"]["scheduled"] == 3


def test_pod_that_fits_nowhere_reports_kube_style_reason(tmp_path, capsys):
    path = write(tmp_path, """
nodes: [{name: n, count: 2, cpu: 2, memory: 4Gi}]
pods: [{name: big, cpu: 3, memory: 1Gi}]
""")
    _, report = simulate_json(capsys, path)
    assert by_name(report)["big"]["reason"] == "0/2 nodes are available: 2 Insufficient cpu."


def test_default_requests_follow_the_cpu_and_mem_flags(tmp_path, capsys):
    path = write(tmp_path, """
nodes: [{name: n, cpu: 1, memory: 1Gi}]
pods: [{name: bare, count: 3}]
""")
    _, report = simulate_json(capsys, path)
    assert report["summary"]["scheduled"] == 1  # each bare pod is accounted 1 cpu by default
    _, report = simulate_json(capsys, path, "--cpu", "0", "--mem", "0")
    assert report["summary"]["scheduled"] == 3  # kube-scheduler behaviour: no request at all


def test_pods_of_another_scheduler_are_left_alone(tmp_path, capsys):
    path = write(tmp_path, """
nodes: [{name: n}]
pods: [{name: theirs, schedulerName: default-scheduler, cpu: 1, memory: 1Gi}]
""")
    _, report = simulate_json(capsys, path)
    pod = by_name(report)["theirs"]
    assert pod["node"] is None and "not ours" in pod["reason"]


@pytest.mark.parametrize("text, named", [
    ("nodes: [{name: n, cpus: 4}]\npods: []\n", "cpus"),
    ("nodes: []\npods: [{name: p, prio: 4}]\n", "prio"),
    ("nodez: []\n", "nodez"),
    ("nodes: [{name: n}]\npods: [{name: p, count: 0}]\n", "count"),
    ("nodes: [{name: n}\n", "YAML"),
    ("nodes: [{name: n, cpu: lots}]\npods: [{name: p}]\n", "lots"),
])
def test_bad_scenario_exits_2_with_one_line(tmp_path, capsys, text, named):
    assert main(["simulate", "--json", write(tmp_path, text)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and named in captured.err


def test_missing_scenario_file_exits_2(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_numeric_node_label_matches_numeric_node_selector(tmp_path, capsys):
    path = write(tmp_path, """
nodes: [{name: n, labels: {zone: 1}}]
pods: [{name: p, cpu: 1, memory: 1Gi, nodeSelector: {zone: 1}}]
""")
    _, report = simulate_json(capsys, path)
    assert by_name(report)["p"]["node"] == "n"


def test_bundled_scenarios_run_by_name(capsys):
    from scheduler.cli import main

    assert main(["simulate", "gangs", "--json"]) == 0
    gangs = {g["name"]: g for g in json.loads(capsys.readouterr().out)["gangs"]}
    assert gangs["default/partial"]["state"] == "Waiting"
    assert gangs["default/train"]["scheduled"] == 4
    assert main(["simulate", "load", "--json"]) == 0
    pods = json.loads(capsys.readouterr().out)["pods"]
    assert all(p["node"] != "busy" for p in pods)
    assert main(["simulate", "no-such-scenario"]) == 2
    assert "bundled scenarios: constraints, default, gangs, load" in capsys.readouterr().err


def test_api_latency_and_watch_delay_show_in_the_timeline(capsys):
    assert main(["simulate", "--json", "--api-latency", "0.5", "--watch-delay", "0.25"]) == 0
    slow = json.loads(capsys.readouterr().out)
    first = min(p["scheduled_at"] for p in slow["pods"] if p["scheduled_at"] is not None)
    assert first == pytest.approx(0.75)  # the pod is seen 0.25 s after it is created, bound 0.5 s after the decision


def test_negative_latency_is_a_usage_error(capsys):
    assert main(["simulate", "--api-latency", "-1"]) == 2
    assert "--api-latency -1.0: expected a finite number of seconds >= 0" in capsys.readouterr().err
