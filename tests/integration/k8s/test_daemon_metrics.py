"""What /metrics says: scheduled only once the API accepted the binding; pods (not queue units); no load
metrics without a load source."""
from __future__ import annotations

import time
from typing import Any, Callable

Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py


def test_scheduled_is_counted_when_the_binding_is_accepted_not_when_decided(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="4")
    cluster.srv.faults.fail_next("POST", r"/pods/p/binding$", 500, count=3)
    handle = start_daemon(cluster)
    cluster.add_pod("p", cpu="1")
    wait_until(lambda: cluster.node_of("p"), 20, message="p bound after three failed bindings")
    wait_until(lambda: handle.sample("scheduler_schedule_attempts_total", result="scheduled") == 1, 5,
               message="the accepted binding counted")  # its answer may reach the daemon after the watch does
    assert handle.sample("scheduler_schedule_attempts_total", result="error") == 3
    time.sleep(0.3)
    assert handle.sample("scheduler_schedule_attempts_total", result="scheduled") == 1  # once, not per attempt


def test_a_waiting_gang_counts_each_member_and_no_load_metrics_without_prometheus(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="4")
    handle = start_daemon(cluster)
    for i in range(3):  # a gang of 3 whose minimum (5) is not there: it waits, parked
        cluster.add_pod(f"g{i}", cpu="1", labels={"app": "test", "scheduling.x-k8s.io/pod-group": "g"})
        pod = cluster.srv.get("Pod", "default", f"g{i}")
        pod["metadata"].setdefault("annotations", {})["scheduling.x-k8s.io/min-available"] = "5"
        cluster.srv.update(pod)
    wait_until(lambda: sum(handle.sample("scheduler_pending_pods", queue=q) for q in ("active", "backoff", "unschedulable"))
               == 3, 10, message="3 pending pods reported")
    assert handle.daemon.metrics.registry.get_sample_value("scheduler_load_metrics_up") is None


def test_an_object_with_malformed_sections_is_reported_and_nothing_stops(
        cluster: Cluster, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="4")
    handle = start_daemon(cluster)
    # what a broken proxy or a future API version could deliver: sections of the wrong JSON type
    for weird in ({"metadata": [1], "spec": "x"}, {"metadata": {"name": "w", "namespace": "default"}, "spec": [2]}):
        handle.daemon.inbox.put(("pods", ("ADDED", weird)))
    cluster.add_pod("fine", cpu="1")
    wait_until(lambda: cluster.node_of("fine"), 10, message="the next pod scheduled as usual")
    assert handle.sample("scheduler_internal_errors_total", where="event") == 0
    assert handle.sample("scheduler_object_parse_errors_total", resource="pods") >= 1
