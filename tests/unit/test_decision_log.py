"""The decision log's detail lines: the per-node table of an unschedulable pod (debug), and `gang admitted` (info)."""
from __future__ import annotations

import json
import logging
from typing import Dict, List, Optional, Tuple

import pytest

from scheduler.config import Config
from scheduler.core.gang import RUNNING, SCHEDULED, WAITING
from scheduler.core.model import POD_GROUP_LABEL, Pod
from scheduler.core.parse import parse_pod
from scheduler.decision_log import DecisionLog, node_table
from scheduler.logs import JsonFormatter
from scheduler.sim.world import InMemoryCluster

from .helpers import DEFAULTS, raw_pod

LOGGER = "test.decisions"


def node(name: str, cpu: str = "2", taint: bool = False) -> Dict:
    spec = {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]} if taint else {}
    return {"metadata": {"name": name, "labels": {}}, "spec": spec,
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def cluster(nodes: List[Dict]) -> InMemoryCluster:
    world = InMemoryCluster.from_config(Config())
    for raw in nodes:
        world.add_node(raw)
    return world


def decisions_of(caplog) -> List[Dict]:
    return [r.decision for r in caplog.records if hasattr(r, "decision")]


# ------------------------------------------------------------ the per-node table
def test_unschedulable_pod_gets_its_per_node_table_at_debug(caplog):
    world = cluster([node("a"), node("b", cpu="8", taint=True)])
    world.add_pod(raw_pod("big", cpu="4", memory="1Gi"))
    world.run()
    log = DecisionLog(logging.getLogger(LOGGER), world.loop)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log.unschedulable("default/big")
    (record,) = [r for r in caplog.records if hasattr(r, "decision")]
    assert record.levelno == logging.DEBUG
    assert record.decision == {
        "decision": "unschedulable_nodes", "pod": "default/big", "nodes_total": 2, "nodes_omitted": 0,
        "nodes": [{"node": "a", "filter": "NodeResourcesFit", "reason": "Insufficient cpu"},
                  {"node": "b", "filter": "TaintToleration", "reason": "node(s) had untolerated taint {dedicated: gpu}"}],
    }
    text = record.getMessage()
    assert text.splitlines()[1].split() == ["a", "NodeResourcesFit:", "Insufficient", "cpu"]
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "debug" and line["decision"] == "unschedulable_nodes" and len(line["nodes"]) == 2


def test_the_table_is_capped_with_a_count_of_the_rest(caplog):
    world = cluster([node(f"n-{i:02d}", cpu="1") for i in range(30)])
    world.add_pod(raw_pod("big", cpu="4", memory="1Gi"))
    world.run()
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    DecisionLog(logging.getLogger(LOGGER), world.loop, table_nodes=20).unschedulable("default/big")
    (decision,) = decisions_of(caplog)
    assert [n["node"] for n in decision["nodes"]] == [f"n-{i:02d}" for i in range(20)]
    assert decision["nodes_total"] == 30 and decision["nodes_omitted"] == 10
    assert "... and 10 more node(s)" in caplog.records[-1].getMessage()


def test_no_table_at_info_and_none_for_a_pod_no_longer_pending(caplog):
    world = cluster([node("a")])
    world.add_pod(raw_pod("big", cpu="4", memory="1Gi"))
    world.run()
    log = DecisionLog(logging.getLogger(LOGGER), world.loop)
    caplog.set_level(logging.INFO, logger=LOGGER)
    log.unschedulable("default/big")
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    log.unschedulable("default/gone")
    assert decisions_of(caplog) == []


def test_node_table_reuses_explain_verdicts_and_says_when_a_node_fits():
    world = cluster([node("a"), node("b")])
    world.advance(world.now)  # the scheduler sees the nodes
    pod = parse_pod(raw_pod("small", cpu="1", memory="1Gi"), DEFAULTS)
    rows, total = node_table(world.loop, pod, limit=1)
    assert total == 2 and rows == [{"node": "a", "filter": "", "reason": "fits now"}]


# ------------------------------------------------------------ gang admitted
class FakeLoop:
    """What DecisionLog asks of the loop about gangs: (state, message, minimum)."""

    def __init__(self) -> None:
        self.gangs: Dict[str, Tuple[str, str, int]] = {}
        self.pending: Dict[str, Pod] = {}

    def gang_summary(self, name: str) -> Optional[Tuple[str, str, int]]:
        return self.gangs.get(name)


def member(name: str, node: str = "", group: str = "train") -> Pod:
    raw = raw_pod(name, cpu="1", memory="1Gi", labels={POD_GROUP_LABEL: group})
    if node:
        raw["spec"]["nodeName"] = node
    return parse_pod(raw, DEFAULTS)


@pytest.fixture
def gangs(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    loop = FakeLoop()
    return loop, DecisionLog(logging.getLogger(LOGGER), loop)  # type: ignore[arg-type]


def admitted(caplog) -> List[Dict]:
    return [d for d in decisions_of(caplog) if d["decision"] == "gang_admitted"]


def test_gang_admitted_once_its_minimum_is_bound(gangs, caplog):
    loop, log = gangs
    names = ["t-0", "t-1", "t-2"]
    for name in names:
        log.pod_seen(member(name))
    loop.gangs["default/train"] = (SCHEDULED, "", 2)  # the cycle placed (assumed) the minimum
    for name, where in zip(names[:2], ["w-0", "w-1"]):
        log.bound(f"default/{name}")
        assert admitted(caplog) == []  # answers first: not yet seen bound
        log.pod_seen(member(name, where))
    assert admitted(caplog) == []  # still Scheduled
    loop.gangs["default/train"] = (RUNNING, "", 2)  # every placed member confirmed by the watch
    log.housekeeping()
    assert admitted(caplog) == [{"decision": "gang_admitted", "gang": "default/train", "min_available": 2,
                                 "members": [{"pod": "default/t-0", "node": "w-0"},
                                             {"pod": "default/t-1", "node": "w-1"}]}]
    assert caplog.records[-1].getMessage() == ("gang admitted default/train: minimum 2 reached, 2 member(s) bound: "
                                               "default/t-0 on w-0, default/t-1 on w-1")
    log.bound("default/t-2")  # a member beyond the minimum: its own `bound` line is enough
    log.pod_seen(member("t-2", "w-0"))
    log.housekeeping()
    assert len(admitted(caplog)) == 1


def test_watch_before_answer_and_a_rollback_admits_again(gangs, caplog):
    loop, log = gangs
    loop.gangs["default/train"] = (SCHEDULED, "", 2)
    log.pod_seen(member("t-0", "w-0"))
    log.pod_seen(member("t-1", "w-1"))
    loop.gangs["default/train"] = (RUNNING, "", 2)
    log.bound("default/t-0")  # the answer after the watch: admitted now
    log.bound("default/t-1")
    assert [len(d["members"]) for d in admitted(caplog)] == [2]
    loop.gangs["default/train"] = (WAITING, "only 1 of minimum 2 members placed", 2)  # a member failed
    log.pod_gone("default/t-1")
    log.housekeeping()
    log.pod_seen(member("t-1b", "w-1"))
    log.bound("default/t-1b")
    loop.gangs["default/train"] = (RUNNING, "", 2)
    log.housekeeping()
    assert [[m["pod"] for m in d["members"]] for d in admitted(caplog)] == [
        ["default/t-0", "default/t-1"], ["default/t-0", "default/t-1b"]]


def test_a_gang_already_running_at_start_up_is_not_admitted_again(gangs, caplog):
    loop, log = gangs
    loop.gangs["default/train"] = (RUNNING, "", 2)
    log.pod_seen(member("t-0", "w-0"))  # the initial list: bound by an earlier leader
    log.pod_seen(member("t-1", "w-1"))
    log.housekeeping()
    assert admitted(caplog) == []


def test_a_gang_whose_members_are_all_gone_is_forgotten(gangs):
    loop, log = gangs
    log.pod_seen(member("t-0", "w-0"))
    log.bound("default/t-0")
    log.pod_gone("default/t-0")
    assert log._members == {} and log._bound == {} and log._binding == set()
