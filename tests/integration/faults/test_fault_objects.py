"""Fault suite: hostile objects never crash the daemon (issue item 1)."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List

from scheduler.testing import make_node

Cluster = RunningDaemon = FaultRun = Any  # fixtures from tests/integration/conftest.py and faults/conftest.py

HUGE_PRIORITY = "-99999999999999999999"
TWO_TO_63 = "9223372036854775808"


def _pod(name: str, namespace: str = "default", scheduler: str = "preemptive-scheduler", cpu: str = "1",
         memory: str = "1Gi", priority: Any = None, node: str = "") -> Dict[str, Any]:
    obj: Dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "hostile"},
                     "annotations": {} if priority is None else {"scheduler.alpha.kubernetes.io/priority": str(priority)}},
        "spec": {"schedulerName": scheduler, "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "c", "image": "pause",
                                 "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
        "status": {"phase": "Pending"}}
    if node:
        obj["spec"]["nodeName"] = node
    return obj


def _hostile(part: int) -> List[Dict[str, Any]]:
    """The crash triggers of the issue, in two halves (listed at start / arriving on the watch)."""
    return [
        # any pod, any scheduler, any namespace, with an out-of-range priority annotation
        _pod(f"neg-prio-{part}", priority=HUGE_PRIORITY),
        _pod(f"neg-prio-{part}", namespace="team-b", priority=HUGE_PRIORITY),
        _pod(f"neg-prio-foreign-{part}", namespace="team-b", scheduler="default-scheduler", priority=HUGE_PRIORITY),
        _pod(f"neg-prio-bound-{part}", namespace="team-b", scheduler="default-scheduler", priority=HUGE_PRIORITY,
             cpu="500m", node="node-2"),
        # pending pods of ours with quantities that are not numbers
        _pod(f"nan-cpu-{part}", cpu="NaN"),
        _pod(f"inf-mem-{part}", memory="Infinity"),
        _pod(f"nan-foreign-{part}", namespace="team-b", scheduler="other-scheduler", cpu="NaN"),
        # a bound pod with a quantity >= 2^63 (on the node that is invalid as well)
        _pod(f"huge-bound-{part}", scheduler="default-scheduler", memory=TWO_TO_63, node="huge-node"),
    ]


def test_hostile_objects_are_quarantined_and_everything_else_is_scheduled(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    srv = cluster.srv
    cluster.add_nodes(3, cpu="4", memory="16Gi")
    srv.create(make_node("huge-node", cpu="4", memory=TWO_TO_63))  # allocatable >= 2^63
    for obj in _hostile(0):
        srv.create(obj)
    handle = start_daemon(cluster, preemption=True)
    for obj in _hostile(1):
        srv.create(obj)
    workload = [f"w{i}" for i in range(6)]
    for name in workload:
        cluster.add_pod(name, cpu="1")
    # cannot fit anywhere, even with every lower-priority pod gone: preemption looks at every pod
    # (the hostile priorities included) and finds nothing to do
    cluster.add_pod("too-big", cpu="5", priority=1000)

    neg = [f"neg-prio-{p}" for p in (0, 1)] + [f"team-b/neg-prio-{p}" for p in (0, 1)]
    wait_until(lambda: len(cluster.bound(workload)) == len(workload), 15, message="the workload bound")
    wait_until(lambda: all(cluster.node_of(n.split("/")[-1], "team-b" if "/" in n else "default") for n in neg),
               10, message="the pods with an out-of-range priority bound (with the fallback priority)")
    bad = [f"nan-cpu-{p}" for p in (0, 1)] + [f"inf-mem-{p}" for p in (0, 1)]
    wait_until(lambda: all(cluster.events_for(n, "FailedScheduling") for n in bad), 10,
               message="a Warning Event on each unparsable pod of ours")
    wait_until(lambda: cluster.events_for("too-big", "FailedScheduling"), 10, message="too-big told why")
    time.sleep(1.0)

    for name in bad:
        event = cluster.events_for(name, "FailedScheduling")[0]
        assert event["type"] == "Warning"
        assert "NaN" in event["note"] or "Infinity" in event["note"], event["note"]
        assert cluster.node_of(name) == ""
    for name in ("neg-prio-0", "neg-prio-1"):
        invalid = cluster.events_for(name, "InvalidPriority")
        assert invalid and HUGE_PRIORITY in invalid[0]["note"]
    assert not cluster.events_for("nan-foreign-0", namespace="team-b"), "Events only on our own pods"
    assert cluster.node_of("too-big") == ""
    assert not run.calls.evictions, "nothing to evict"
    # pods: 4 bad of ours + 2 foreign NaN + 2 huge bound; nodes: the huge one
    assert handle.sample("scheduler_object_parse_errors_total", resource="pods") >= 8
    assert handle.sample("scheduler_object_parse_errors_total", resource="nodes") >= 1
    assert sum(handle.sample("scheduler_internal_errors_total", where=w) for w in ("event", "cycle")) == 0, \
        "hostile objects reached the last-resort guard instead of being quarantined at parse time"
    assert handle.daemon.healthz() == (True, "ok")

    # fixing a bad pod gets it scheduled
    for name in ("nan-cpu-0", "inf-mem-1"):
        pod = cluster.pod(name)
        pod["spec"]["containers"][0]["resources"]["requests"] = {"cpu": "500m", "memory": "1Gi"}
        srv.update(pod)
    wait_until(lambda: cluster.node_of("nan-cpu-0") and cluster.node_of("inf-mem-1"), 10,
               message="the fixed pods bound")
    assert cluster.node_of("nan-cpu-1") == "" and cluster.node_of("inf-mem-0") == ""

    run.check("hostile objects", "priority -1e20, NaN/Infinity requests, quantities >= 2^63 (pod, node)",
              workload + neg + ["nan-cpu-0", "inf-mem-1"], [handle], max_attempts=1)
