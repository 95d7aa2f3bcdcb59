"""The daemon end to end over HTTP (real `kubernetes` transport) against the stand-in kube-apiserver."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, List

SCHEDULER = "preemptive-scheduler"
Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py


def _all_bound(cluster: Cluster, names: List[str]) -> bool:
    return len(cluster.bound(names)) == len(names)


def _bound_once(cluster: Cluster, names: List[str]) -> None:
    counts = {n: cluster.srv.bindings_count(f"default/{n}") for n in names}
    assert all(c == 1 for c in counts.values()), {n: c for n, c in counts.items() if c != 1}


def test_pods_that_fit_are_bound_once_and_the_rest_are_told_why(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    nodes = cluster.add_nodes(3, cpu="4", memory="16Gi")
    names = [f"p{i:02d}" for i in range(40)]
    for name in names:
        cluster.add_pod(name, cpu="1", memory="1Gi")
    start_daemon(cluster)

    wait_until(lambda: len(cluster.bound(names)) == 12, 15, message="12 pods bound")
    pending = [n for n in names if not cluster.node_of(n)]
    assert len(pending) == 28
    wait_until(lambda: all(cluster.scheduled_condition(n).get("status") == "False" for n in pending), 10,
               message="PodScheduled=False on the 28 that do not fit")
    wait_until(lambda: all(cluster.events_for(n, "FailedScheduling") for n in pending), 10,
               message="FailedScheduling events")
    time.sleep(1.0)  # give a buggy scheduler the chance to over-commit or bind twice

    bound = cluster.bound(names)
    assert len(bound) == 12
    _bound_once(cluster, bound)
    per_node = {n: sum(1 for p in bound if cluster.node_of(p) == n) for n in nodes}
    assert per_node == {n: 4 for n in nodes}
    for name in bound:
        events = cluster.events_for(name, "Scheduled")
        assert len(events) == 1, name
        ev = events[0]
        assert ev["reportingController"] == SCHEDULER
        assert ev["type"] == "Normal"
        assert cluster.node_of(name) in ev["note"]
        assert cluster.scheduled_condition(name).get("status") == "True"
    for name in pending:
        cond = cluster.scheduled_condition(name)
        assert cond["reason"] == "Unschedulable"
        assert cond["message"] == "0/3 nodes are available: 3 Insufficient cpu."
        ev = cluster.events_for(name, "FailedScheduling")[0]
        assert ev["type"] == "Warning"
        assert ev["reportingController"] == SCHEDULER
        assert "0/3 nodes are available: 3 Insufficient cpu." in ev["note"]
        assert not cluster.events_for(name, "Scheduled")


def test_dropped_watch_and_410_expired_lose_and_duplicate_nothing(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(3, cpu="32", memory="64Gi")
    handle = start_daemon(cluster)
    first = [f"a{i}" for i in range(10)]
    for name in first:
        cluster.add_pod(name, cpu="100m", memory="100Mi")
    wait_until(lambda: _all_bound(cluster, first), 10, message="first batch bound")

    # a plain disconnect, with pods created right before and right after it
    second = [f"b{i}" for i in range(10)]
    for name in second[:5]:
        cluster.add_pod(name, cpu="100m", memory="100Mi")
    assert cluster.srv.faults.drop_watches() >= 1
    for name in second[5:]:
        cluster.add_pod(name, cpu="100m", memory="100Mi")
    wait_until(lambda: _all_bound(cluster, second), 10, message="pods around a dropped watch bound")

    # a forced 410: once the pod watch is quiet, the history is forgotten past what it has seen and
    # the streams drop; reconnecting is slowed down so pods are created while the scheduler is blind
    third = [f"c{i}" for i in range(10)]
    for name in third[:5]:
        cluster.add_pod(name, cpu="100m", memory="100Mi")
    wait_until(lambda: all((cluster.pod(n) or {}).get("status", {}).get("phase") == "Running" for n in third[:5]), 10,
               message="pods created before the 410 to be bound and running")
    time.sleep(0.3)
    cluster.srv.faults.delay(0.5, r"^/api/v1/pods$")
    cluster.srv.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bump", "namespace": "default"}})
    cluster.srv.faults.expire_history()
    cluster.srv.faults.drop_watches()
    for name in third[5:]:
        cluster.add_pod(name, cpu="100m", memory="100Mi")
    wait_until(lambda: handle.sample("scheduler_watch_restarts_total", resource="pods", cause="expired") >= 1, 5,
               message="the pod watch to relist after 410")
    cluster.srv.faults.delay(0, r"^/api/v1/pods$")
    wait_until(lambda: _all_bound(cluster, third), 10, message="pods around a 410 bound")

    time.sleep(0.5)
    everything = first + second + third
    _bound_once(cluster, everything)
    assert len(cluster.srv.bindings) == len(everything)
    late = "d0"
    cluster.add_pod(late, cpu="100m", memory="100Mi")
    wait_until(lambda: cluster.node_of(late), 10, message="scheduling continues after the relist")
    _bound_once(cluster, [late])


def test_bind_409_does_not_crash_and_the_pod_ends_bound_once(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="8")
    handle = start_daemon(cluster)
    cluster.srv.faults.fail_next("POST", r"/pods/victim409/binding$", 409)
    cluster.add_pod("victim409", cpu="1")
    cluster.add_pod("other", cpu="1")
    wait_until(lambda: cluster.node_of("other"), 10, message="the other pod bound")
    wait_until(lambda: handle.sample("scheduler_bind_errors_total", code="409") >= 1, 5, message="the 409 to be seen")
    assert handle.thread.is_alive()
    wait_until(lambda: cluster.node_of("victim409"), 6, message="the pod that got a 409 to be bound eventually")
    _bound_once(cluster, ["victim409", "other"])


def test_bind_409_is_recovered_when_the_pod_changes(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="8")
    handle = start_daemon(cluster)
    cluster.srv.faults.fail_next("POST", r"/pods/p409/binding$", 409)
    cluster.add_pod("p409", cpu="1")
    wait_until(lambda: handle.sample("scheduler_bind_errors_total", code="409") >= 1, 10, message="the 409")
    pod = cluster.pod("p409")
    pod["metadata"]["labels"]["touched"] = "yes"
    cluster.srv.update(pod)
    wait_until(lambda: cluster.node_of("p409"), 10, message="the changed pod to be bound")
    _bound_once(cluster, ["p409"])
    assert handle.thread.is_alive()


def test_bind_500_is_retried(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="8")
    handle = start_daemon(cluster)
    cluster.srv.faults.fail_next("POST", r"/pods/p500/binding$", 500, count=2)
    cluster.add_pod("p500", cpu="1")
    wait_until(lambda: cluster.node_of("p500"), 15, message="the pod to be bound after two 500s")
    assert handle.sample("scheduler_bind_errors_total", code="500") == 2
    _bound_once(cluster, ["p500"])
    assert len(cluster.events_for("p500", "Scheduled")) == 1


def test_pod_deleted_while_queued_is_forgotten(cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any],
                                               caplog: Any) -> None:
    caplog.set_level(logging.WARNING)
    cluster.add_nodes(1, cpu="2")
    handle = start_daemon(cluster)
    cluster.add_pod("filler", cpu="2")
    wait_until(lambda: cluster.node_of("filler"), 10, message="filler bound")
    cluster.add_pod("doomed", cpu="1")
    wait_until(lambda: cluster.events_for("doomed", "FailedScheduling"), 10, message="doomed unschedulable")
    cluster.srv.delete("Pod", "default", "doomed")
    wait_until(lambda: "default/doomed" not in handle.daemon.known["pods"], 5, message="the deletion to be seen")

    cluster.srv.delete("Pod", "default", "filler")  # room appears
    wait_until(lambda: cluster.pod("filler") is None, 10, message="filler gone")
    cluster.add_pod("after", cpu="2")
    wait_until(lambda: cluster.node_of("after"), 10, message="a new pod to take the room")
    time.sleep(0.5)

    assert cluster.srv.bindings_count("default/doomed") == 0
    assert all(b["pod"] != "default/doomed" for b in cluster.srv.bindings)
    assert handle.sample("scheduler_bind_errors_total", code="404") == 0
    assert "default/doomed" not in handle.daemon.loop.pending
    assert "default/doomed" not in handle.daemon.loop.queue
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def _foreign_pods_scenario(cluster: Cluster, start_daemon: Callable[..., RunningDaemon],
                           wait_until: Callable[..., Any], daemon_first: bool) -> None:
    cluster.add_nodes(2, cpu="2")
    if daemon_first:
        start_daemon(cluster)
    cluster.add_pod("foreign-bound", cpu="2", scheduler="default-scheduler", node="node-0")
    cluster.add_pod("foreign-pending", cpu="100m", scheduler="other-scheduler")
    wait_until(lambda: (cluster.pod("foreign-bound") or {}).get("status", {}).get("phase") == "Running", 5)
    if not daemon_first:
        # the node list answers a little later than the pod list (as on any busy cluster), so the
        # bound pods are seen before their nodes
        cluster.srv.faults.delay(0.3, r"^/api/v1/nodes$")
        start_daemon(cluster)
        cluster.srv.faults.delay(0, r"^/api/v1/nodes$")
    else:
        time.sleep(0.3)  # let the watch deliver the foreign pods
    ours = ["o1", "o2", "o3"]
    for name in ours:
        cluster.add_pod(name, cpu="1")
    wait_until(lambda: len(cluster.bound(ours)) >= 2, 10, message="two of ours bound")
    wait_until(lambda: cluster.events_for("o3", "FailedScheduling") or cluster.node_of("o3"), 10,
               message="the third one decided")
    time.sleep(0.5)

    assert {cluster.node_of(n) for n in cluster.bound(ours)} == {"node-1"}, \
        {n: cluster.node_of(n) for n in ours}
    assert cluster.node_of("o3") == ""
    assert "0/2 nodes are available: 2 Insufficient cpu." in cluster.scheduled_condition("o3")["message"]
    assert cluster.node_of("foreign-pending") == ""
    assert cluster.srv.bindings_count("default/foreign-pending") == 0
    assert cluster.srv.bindings_count("default/foreign-bound") == 0
    assert not cluster.events_for("foreign-pending")
    assert not cluster.scheduled_condition("foreign-pending")


def test_foreign_pods_are_left_alone_but_count_toward_usage(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    _foreign_pods_scenario(cluster, start_daemon, wait_until, daemon_first=True)


def test_pods_bound_before_the_scheduler_starts_count_toward_usage(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    _foreign_pods_scenario(cluster, start_daemon, wait_until, daemon_first=False)


def test_malformed_pods_are_reported_and_do_not_stop_the_rest(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="4")
    handle = start_daemon(cluster)
    cluster.add_pod("bad-qty", cpu="lots")
    cluster.add_pod("bad-prio", cpu="1", priority="very-high")
    good = [f"g{i}" for i in range(4)]
    for name in good:
        cluster.add_pod(name, cpu="1")

    wait_until(lambda: _all_bound(cluster, good + ["bad-prio"]), 10, message="the valid pods bound")
    warnings = wait_until(lambda: cluster.events_for("bad-qty", "FailedScheduling"), 10,
                          message="a warning about the bad quantity")
    assert warnings[0]["type"] == "Warning"
    assert "lots" in warnings[0]["note"] or "cpu" in warnings[0]["note"]
    assert cluster.node_of("bad-qty") == ""
    assert handle.sample("scheduler_object_parse_errors_total", resource="pods") >= 1

    invalid = wait_until(lambda: cluster.events_for("bad-prio", "InvalidPriority"), 10,
                         message="an InvalidPriority warning")
    assert len(invalid) == 1
    assert invalid[0]["type"] == "Warning"
    assert "very-high" in invalid[0]["note"]
    assert cluster.events_for("bad-prio", "Scheduled")

    # the cluster keeps being scheduled
    cluster.add_pod("later", cpu="1")
    wait_until(lambda: cluster.node_of("later"), 10, message="scheduling continues")
    assert cluster.node_of("bad-qty") == ""

    # fixing the pod gets it scheduled
    pod = cluster.pod("bad-qty")
    pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "500m"
    cluster.srv.update(pod)
    wait_until(lambda: cluster.node_of("bad-qty"), 10, message="the fixed pod to be bound")
    _bound_once(cluster, good + ["bad-prio", "later", "bad-qty"])
