"""Simulator scenarios: preemption, gangs and load-aware placement as `simulate --json` reports them."""
from __future__ import annotations

from typing import Any, Dict

import pytest

from scheduler.config import load_config
from scheduler.sim.cluster import Simulator
from scheduler.sim.report import render_text, to_json
from scheduler.sim.scenario import load_scenario, parse_scenario

SCHEDULER = "preemptive-scheduler"


def simulate(data: Dict[str, Any], seed: int = 0, **flags: Any) -> Dict[str, Any]:
    config = load_config({k.replace("_", "-"): v for k, v in flags.items()}, env={})
    result = Simulator(parse_scenario(data, SCHEDULER), config, seed=seed).run()
    render_text(result)  # the text report renders the same result without errors
    return to_json(result)


def pods_by_name(report: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {p["name"]: p for p in report["pods"]}


# ---------------------------------------------------------------- preemption

FULL_CLUSTER = {
    "name": "full",
    "nodes": [{"name": "worker", "count": 2, "cpu": 4, "memory": "8Gi"}],
    "pods": [
        {"name": "filler", "count": 4, "at": 0, "priority": 1, "cpu": 2, "memory": "1Gi"},
        {"name": "critical", "at": 10, "priority": 1000, "cpu": 2, "memory": "1Gi"},
    ],
}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_high_priority_pod_on_a_full_cluster_runs_after_evicting_the_minimum(seed):
    report = simulate(FULL_CLUSTER, seed=seed, preemption=True)
    pods = pods_by_name(report)
    assert pods["critical"]["state"] == "Running"
    assert len(report["evictions"]) == 1  # one 2-cpu victim is enough
    eviction = report["evictions"][0]
    assert eviction["preemptor"] == "default/critical"
    assert eviction["time"] == 10
    assert eviction["node"] == pods["critical"]["node"]
    victim = pods[eviction["victim"].split("/")[1]]
    assert victim["state"] == "Evicted"
    assert "preempted by default/critical" in victim["reason"]
    assert report["summary"]["evicted"] == 1
    assert pods["critical"]["scheduled_at"] > 10  # after the victim's grace period


def test_without_preemption_the_high_priority_pod_stays_pending_with_a_reason():
    report = simulate(FULL_CLUSTER)
    pods = pods_by_name(report)
    assert report["evictions"] == []
    assert pods["critical"]["state"] == "Pending"
    assert pods["critical"]["reason"] == "0/2 nodes are available: 2 Insufficient cpu."


def test_bundled_scenario_worked_example_from_the_readme():
    config = load_config({"preemption": True}, env={})
    report = to_json(Simulator(load_scenario(None, SCHEDULER), config).run())
    first = [e for e in report["evictions"] if e["preemptor"] == "default/api-critical-0"]
    assert sorted(e["victim"] for e in first) == ["default/batch-low-1", "default/batch-low-4"]
    assert {e["node"] for e in first} == {"worker-1"}  # every worker ties: the first from the seeded offset
    assert {e["time"] for e in first} == {30}
    assert pods_by_name(report)["api-critical-0"]["state"] in ("Running", "Succeeded")


# ---------------------------------------------------------------- gangs

def gang_members(name: str, count: int, minimum: int, cpu: int, at: float = 0) -> Dict[str, Any]:
    return {
        "name": name, "count": count, "at": at, "priority": 100, "cpu": cpu, "memory": "1Gi",
        "labels": {"scheduling.x-k8s.io/pod-group": name},
        "annotations": {"scheduling.x-k8s.io/min-available": str(minimum)},
    }


def test_gang_scenario_reports_gang_state():
    report = simulate({
        "name": "gangs",
        "nodes": [{"name": "worker", "count": 3, "cpu": 4, "memory": "8Gi"}],
        "pods": [gang_members("train", 3, 3, cpu=3), gang_members("too-big", 4, 4, cpu=3, at=5)],
    })
    gangs = {g["name"]: g for g in report["gangs"]}
    assert gangs["default/train"]["state"] == "Running"
    assert gangs["default/train"]["scheduled"] == 3
    assert gangs["default/train"]["running"] == 3
    assert int(gangs["default/train"]["min_available"]) == 3
    big = gangs["default/too-big"]
    assert big["state"] == "Waiting" and big["scheduled"] == 0 and big["members"] == 4
    assert "only 0 of 4 pending members fit (need 4)" in big["message"]
    pods = pods_by_name(report)
    assert all(pods[f"too-big-{i}"]["state"] == "Pending" for i in range(4))


def test_gang_scenario_with_the_gang_shorthand_waits_for_all_members():
    report = simulate({
        "name": "shorthand",
        "nodes": [{"name": "worker", "count": 2, "cpu": 4, "memory": "8Gi"}],
        "pods": [{"name": "job", "count": 3, "gang": "job", "cpu": 3, "memory": "1Gi"}],
    })
    gang = report["gangs"][0]
    assert gang["name"] == "default/job" and gang["scheduled"] == 0
    assert all(p["node"] is None for p in report["pods"])


# ---------------------------------------------------------------- load

def test_node_with_utilisation_above_alpha_receives_no_pods():
    report = simulate({
        "name": "load",
        "nodes": [
            {"name": "hot", "cpu": 8, "memory": "16Gi", "utilisation": [{"at": 0, "cpu": 0.95, "memory": 0.3}]},
            {"name": "cool", "count": 2, "cpu": 8, "memory": "16Gi", "utilisation": [{"at": 0, "cpu": 0.1, "memory": 0.1}]},
        ],
        "pods": [{"name": "web", "count": 6, "at": 1, "cpu": 1, "memory": "1Gi"}],
    }, alpha=0.8)
    nodes = {n["name"]: n for n in report["nodes"]}
    assert nodes["hot"]["pods"] == 0
    assert nodes["hot"]["measured_cpu"] == 0.95
    assert nodes["cool-0"]["pods"] + nodes["cool-1"]["pods"] == 6
    assert all(p["state"] == "Running" and p["node"] != "hot" for p in report["pods"])


def test_node_becomes_eligible_when_its_utilisation_drops():
    report = simulate({
        "name": "load-drop",
        "until": 100,
        "nodes": [{"name": "only", "cpu": 8, "memory": "16Gi",
                   "utilisation": [{"at": 0, "cpu": 0.95, "memory": 0.3}, {"at": 30, "cpu": 0.2, "memory": 0.3}]}],
        "pods": [{"name": "web", "at": 1, "cpu": 1, "memory": "1Gi"}],
    }, alpha=0.8, metrics_refresh=15)
    pod = report["pods"][0]
    assert pod["state"] == "Running"
    assert pod["scheduled_at"] >= 30


def test_gang_members_finishing_at_different_times_are_not_evicted():
    group = {"labels": {"scheduling.x-k8s.io/pod-group": "train"},
             "annotations": {"scheduling.x-k8s.io/min-available": "3"}}
    report = simulate({
        "name": "uneven-job",
        "nodes": [{"name": "worker", "count": 4, "cpu": 4, "memory": "8Gi"}],
        "pods": [
            {"name": "quick", "duration": 10, "cpu": 3, "memory": "1Gi", **group},
            {"name": "slow", "count": 2, "duration": 200, "cpu": 3, "memory": "1Gi", **group},
            {"name": "other", "at": 100, "cpu": 1, "memory": "1Gi"},  # any later activity runs the timeout check
        ],
    })
    assert report["evictions"] == []
    assert {p["name"]: p["state"] for p in report["pods"]}["slow-0"] == "Succeeded"
