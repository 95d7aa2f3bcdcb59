"""The bundled `constraints` scenario: anti-affinity, topology spread and affinity as `simulate` reports them."""
from __future__ import annotations

from collections import Counter

from scheduler.config import load_config
from scheduler.sim.cluster import Simulator
from scheduler.sim.report import to_json
from scheduler.sim.scenario import load_scenario

from ..core.plugins.test_interpod import ANTI_AFFINITY_REASON

ZONE_OF = {"node-a": "zone-a", "node-b": "zone-b", "node-c": "zone-c"}


def run(**flags):
    config = load_config(flags, env={})
    report = to_json(Simulator(load_scenario("constraints", config.scheduler_name), config).run())
    return {p["name"].split("/")[-1]: p for p in report["pods"]}


def test_three_replicas_with_hostname_anti_affinity_take_three_nodes_and_a_fourth_waits():
    pods = run()
    web = [pods[f"web-{i}"]["node"] for i in range(3)]
    assert sorted(web) == ["node-a", "node-b", "node-c"]
    assert pods["web-3"]["node"] is None
    assert ANTI_AFFINITY_REASON in pods["web-3"]["reason"]


def test_six_replicas_spread_two_per_zone():
    pods = run()
    assert Counter(ZONE_OF[pods[f"api-{i}"]["node"]] for i in range(6)) == {"zone-a": 2, "zone-b": 2, "zone-c": 2}


def test_affinity_follows_the_database_and_preferred_anti_affinity_avoids_it():
    pods = run(preemption=True)
    assert pods["cache"]["node"] == pods["db"]["node"] == "node-b"
    assert {pods["batch-0"]["node"], pods["batch-1"]["node"]} == {"node-a", "node-c"}
