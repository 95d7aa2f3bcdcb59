"""Load-aware placement end to end: the Daemon (HTTP, stand-in kube-apiserver) reading a real Prometheus.

Prometheus runs over a TSDB backfilled with node-exporter-like series (see
tests/integration/prometheus_server.py):

- ``busy``  -- cpu ~0.9, series ``instance="10.1.0.1:9100"`` (matched by the node's InternalIP);
- ``idle``  -- cpu ~0.2, series ``instance="idle:9100"`` (matched by node name);
- ``stale`` -- cpu ~0.1, series ``instance="stale:9100"`` that ended eight minutes ago, so Prometheus
  returns nothing for it (lookback delta and rate window are 5m): the node counts as missing.

Nodes are sized so that the resource-fit and LeastAllocated scores alone would *prefer* ``busy``
(8 cpu) and ``stale`` (8 cpu) over ``idle`` (2 cpu): whatever lands on ``idle`` instead is there
because of the load filter.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/integration: the helper module

from prometheus_server import PrometheusServer, backfill, node_series, openmetrics, require_prometheus  # noqa: E402

from scheduler.testing import make_node  # noqa: E402

pytestmark = pytest.mark.prometheus

Cluster = RunningDaemon = Any  # fixtures from tests/integration/conftest.py

REFRESH = 0.5
ALPHA = 0.8
THRESHOLD_MSG = "would exceed cpu utilisation threshold 0.8"
MISSING_MSG = "had no fresh load metrics"
SOURCE_LOGGER = "scheduler.metrics.prometheus_source"

# node name -> (InternalIP, allocatable cpu, allocatable memory)
NODES: Dict[str, tuple] = {
    "busy": ("10.1.0.1", "8", "32Gi"),
    "idle": ("10.1.0.2", "2", "8Gi"),
    "stale": ("10.1.0.3", "8", "32Gi"),
}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    require_prometheus()
    now = time.time()
    start = now - 30 * 60
    recent_end = now - 2  # older than the (empty) head block of a fresh server
    series = (
        node_series("10.1.0.1:9100", cpu=0.9, memory=0.3, start=start, end=recent_end)
        + node_series("idle:9100", cpu=0.2, memory=0.3, start=start, end=recent_end)
        + node_series("stale:9100", cpu=0.1, memory=0.1, start=start, end=now - 8 * 60)
    )
    data_dir = tmp_path_factory.mktemp("prometheus-load") / "data"
    backfill(openmetrics(series), data_dir)
    server = PrometheusServer(data_dir).start()  # default lookback delta: 5m
    try:
        yield server
    finally:
        server.stop()


def add_node(cluster: Cluster, name: str) -> None:
    ip, cpu, memory = NODES[name]
    obj = make_node(name, cpu=cpu, memory=memory)
    obj["status"]["addresses"] = [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]
    cluster.srv.create(obj)


def load_up(daemon: RunningDaemon) -> float:
    value = daemon.daemon.metrics.registry.get_sample_value("scheduler_load_metrics_up")
    return -1.0 if value is None else value


def start(cluster: Cluster, start_daemon: Callable[..., RunningDaemon], server: PrometheusServer,
          wait_until: Callable[..., Any], **overrides: Any) -> RunningDaemon:
    config: Dict[str, Any] = dict(prometheus_url=server.url, metrics_refresh=REFRESH, alpha=ALPHA)
    config.update(overrides)
    daemon = start_daemon(cluster, **config)
    wait_until(lambda: load_up(daemon) == 1.0, 10, message="scheduler_load_metrics_up == 1")
    # the first refresh may have run before the node list synced: wait for one that covers every node
    names = {n["metadata"]["name"] for n in cluster.srv.list("Node")}

    def covered() -> bool:
        reading = daemon.daemon.refresher.last_reading
        return reading is not None and reading.up and names <= set(reading.values) | set(reading.missing)
    wait_until(covered, 10, message="a reading covering every node")
    return daemon


def failed_message(cluster: Cluster, name: str) -> str:
    events = cluster.events_for(name, "FailedScheduling")
    return events[-1]["note"] if events else ""


def place(cluster: Cluster, names: List[str], cpu: str = "100m", memory: str = "64Mi") -> List[str]:
    for name in names:
        cluster.add_pod(name, cpu=cpu, memory=memory)
    return names


# ---------------------------------------------------------------------------------------------- 1
def test_busy_node_gets_no_pods_and_its_rejection_is_explained(
        prometheus: PrometheusServer, cluster: Cluster, start_daemon: Callable[..., RunningDaemon],
        wait_until: Callable[..., Any]) -> None:
    add_node(cluster, "busy")
    add_node(cluster, "idle")
    daemon = start(cluster, start_daemon, prometheus, wait_until)
    reading = daemon.daemon.refresher.last_reading
    assert reading.values["busy"].cpu == pytest.approx(0.9, abs=0.05)  # matched by InternalIP
    assert reading.values["idle"].cpu == pytest.approx(0.2, abs=0.15)  # matched by node name

    small = place(cluster, [f"small-{i}" for i in range(6)])
    wait_until(lambda: len(cluster.bound(small)) == len(small), 15, message="small pods bound")
    assert {cluster.node_of(n) for n in small} == {"idle"}

    # 2 cpu: no room left on idle (600m used of 2); busy has room by requests but is too loaded.
    cluster.add_pod("big", cpu="2", memory="64Mi")
    wait_until(lambda: failed_message(cluster, "big"), 10, message="FailedScheduling for big")
    message = failed_message(cluster, "big")
    assert "0/2 nodes are available" in message
    assert THRESHOLD_MSG in message, message
    assert "Insufficient cpu" in message, message
    time.sleep(3 * REFRESH)  # a few more refreshes: still nothing lands on busy
    assert not cluster.node_of("big")
    assert {cluster.node_of(n) for n in small} == {"idle"}
    assert daemon.sample("scheduler_load_nodes_unknown") == 0


# ---------------------------------------------------------------------------------------------- 2
@pytest.mark.parametrize("on_missing", ["deny", "allow"])
def test_node_whose_series_ended_long_ago_counts_as_missing(
        on_missing: str, prometheus: PrometheusServer, cluster: Cluster,
        start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    add_node(cluster, "idle")
    add_node(cluster, "stale")
    overrides = {"on_missing_metrics": on_missing} if on_missing == "deny" else {}  # allow is the default
    daemon = start(cluster, start_daemon, prometheus, wait_until, **overrides)
    reading = daemon.daemon.refresher.last_reading
    assert reading.missing == ("stale",)
    assert "stale" not in reading.values
    wait_until(lambda: daemon.sample("scheduler_load_nodes_unknown") == 1, 5, message="one unknown node")

    # 1500m fits idle by requests, but 0.2 + 1.5/2 > 0.8: only stale can take it.
    cluster.add_pod("wide", cpu="1500m", memory="64Mi")
    small = place(cluster, [f"small-{i}" for i in range(4)])
    if on_missing == "deny":
        wait_until(lambda: len(cluster.bound(small)) == len(small), 15, message="small pods bound")
        wait_until(lambda: failed_message(cluster, "wide"), 10, message="FailedScheduling for wide")
        message = failed_message(cluster, "wide")
        assert MISSING_MSG in message and THRESHOLD_MSG in message, message
        time.sleep(3 * REFRESH)
        assert not cluster.node_of("wide")
        assert {cluster.node_of(n) for n in small} == {"idle"}
    else:
        wait_until(lambda: len(cluster.bound(small + ["wide"])) == 5, 15, message="all pods bound")
        assert cluster.node_of("wide") == "stale"
        assert "stale" in {cluster.node_of(n) for n in small + ["wide"]}


# ---------------------------------------------------------------------------------------------- 3
def _outage_setup(prometheus: PrometheusServer, cluster: Cluster, start_daemon: Callable[..., RunningDaemon],
                  wait_until: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> RunningDaemon:
    caplog.set_level(logging.INFO, logger=SOURCE_LOGGER)
    add_node(cluster, "busy")
    add_node(cluster, "idle")
    daemon = start(cluster, start_daemon, prometheus, wait_until)
    before = place(cluster, ["before-0", "before-1", "before-2"])
    wait_until(lambda: len(cluster.bound(before)) == 3, 15, message="pods bound before the outage")
    assert {cluster.node_of(n) for n in before} == {"idle"}
    return daemon


def _unavailable_lines(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == SOURCE_LOGGER and r.getMessage().startswith("load metrics unavailable")]


def test_prometheus_outage_keeps_scheduling_and_recovers(
        prometheus: PrometheusServer, cluster: Cluster, start_daemon: Callable[..., RunningDaemon],
        wait_until: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    daemon = _outage_setup(prometheus, cluster, start_daemon, wait_until, caplog)
    assert daemon.daemon.metrics.load_metrics_up._value.get() == 1.0

    prometheus.stop()
    try:
        wait_until(lambda: load_up(daemon) == 0.0, 10, message="scheduler_load_metrics_up == 0")
        during = place(cluster, ["during-0", "during-1", "during-2"])
        wait_until(lambda: len(cluster.bound(during)) == 3, 15, message="pods bound during the outage")
        time.sleep(6 * REFRESH)  # several failed refreshes
        assert load_up(daemon) == 0.0
        assert daemon.daemon.refresher.up is False
        lines = _unavailable_lines(caplog)
        assert len(lines) == 1, lines
        assert "scheduling on requests alone" in lines[0] and "127.0.0.1" in lines[0]
    finally:
        prometheus.start()  # same port

    wait_until(lambda: load_up(daemon) == 1.0, 10, message="scheduler_load_metrics_up back to 1")
    messages = [r.getMessage() for r in caplog.records if r.name == SOURCE_LOGGER]
    assert len([m for m in messages if m.startswith("load metrics available again")]) == 1, messages
    assert len(_unavailable_lines(caplog)) == 1

    after = place(cluster, ["after-0", "after-1", "after-2"])
    wait_until(lambda: len(cluster.bound(after)) == 3, 15, message="pods bound after the outage")
    assert {cluster.node_of(n) for n in after} == {"idle"}  # busy avoided again
    cluster.add_pod("after-big", cpu="2", memory="64Mi")  # fits only busy by requests
    wait_until(lambda: THRESHOLD_MSG in failed_message(cluster, "after-big"), 10,
               message="after-big rejected by the load threshold")
    assert not cluster.node_of("after-big")


def test_prometheus_outage_places_on_requests_alone(
        prometheus: PrometheusServer, cluster: Cluster, start_daemon: Callable[..., RunningDaemon],
        wait_until: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    """README: while Prometheus is down the scheduler places pods "on their requests alone, as if
    load-awareness were off" -- so a pod that fits only the (last measured) busy node is bound there."""
    daemon = _outage_setup(prometheus, cluster, start_daemon, wait_until, caplog)
    prometheus.stop()
    try:
        wait_until(lambda: load_up(daemon) == 0.0, 10, message="scheduler_load_metrics_up == 0")
        cluster.add_pod("outage-big", cpu="2", memory="64Mi")  # idle has 1.7 cpu left: only busy fits
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not cluster.node_of("outage-big"):
            time.sleep(0.1)
        assert cluster.node_of("outage-big") == "busy", failed_message(cluster, "outage-big")
    finally:
        prometheus.start()
    wait_until(lambda: load_up(daemon) == 1.0, 10, message="scheduler_load_metrics_up back to 1")
