"""PrometheusLoadSource against a real Prometheus server fed with backfilled node-exporter series."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/integration: the helper module

from prometheus_server import PrometheusServer, backfill, node_series, openmetrics, require_prometheus  # noqa: E402

from scheduler.core.model import Node  # noqa: E402
from scheduler.metrics.prometheus_source import LoadReading, LoadRefresher, PrometheusLoadSource, fresh  # noqa: E402

pytestmark = pytest.mark.prometheus

TOLERANCE = 0.02

NODES = [
    Node(name="node-a", allocatable={}, addresses=("10.0.0.1", "node-a")),        # matched by InternalIP
    Node(name="node-b", allocatable={}, addresses=("10.0.0.2",)),                  # matched by short name
    Node(name="node-c", allocatable={}, addresses=("10.0.0.3",)),                  # only old data
    Node(name="node-d", allocatable={}, addresses=("fd00::4",)),                   # IPv6 instance
    Node(name="node-e", allocatable={}, addresses=("10.0.0.5",)),                  # no series at all
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    require_prometheus()
    now = time.time()
    # rate() extrapolates only half a scrape interval past the last sample, so a series
    # that stops 45 s before "now" reads ~13 % low over 5m. Real node-exporters keep being
    # scraped; here the recent series end a few seconds ago (a fresh server's head block
    # is empty, so this is still "older than the head").
    recent_end = now - 3
    start = now - 30 * 60
    series = (
        node_series("10.0.0.1:9100", cpu=0.9, memory=0.75, start=start, end=recent_end)
        + node_series("node-b.example.internal:9100", cpu=0.3, memory=0.25, start=start, end=recent_end)
        + node_series("10.0.0.3:9100", cpu=0.6, memory=0.6, start=start, end=now - 10 * 60)
        + node_series("[fd00::4]:9100", cpu=0.5, memory=0.4, start=start, end=recent_end)
        + node_series("10.9.9.9:9100", cpu=0.2, memory=0.2, start=start, end=recent_end)  # not a node
    )
    data_dir = tmp_path_factory.mktemp("prometheus") / "data"
    backfill(openmetrics(series), data_dir)
    # Lookback 3m: the recent series are current, the one ending 10 min ago is not.
    srv = PrometheusServer(data_dir, lookback_delta="3m").start()
    try:
        yield srv
    finally:
        srv.stop()


def test_fetch_reads_backfilled_utilisation(server: PrometheusServer) -> None:
    reading = PrometheusLoadSource(server.url, window="5m", timeout=5.0).fetch(NODES)
    assert reading.up, reading.error
    assert set(reading.values) == {"node-a", "node-b", "node-d"}
    a, b, d = reading.values["node-a"], reading.values["node-b"], reading.values["node-d"]
    assert a.cpu == pytest.approx(0.9, abs=TOLERANCE) and a.memory == pytest.approx(0.75, abs=TOLERANCE)
    assert b.cpu == pytest.approx(0.3, abs=TOLERANCE) and b.memory == pytest.approx(0.25, abs=TOLERANCE)
    assert d.cpu == pytest.approx(0.5, abs=TOLERANCE) and d.memory == pytest.approx(0.4, abs=TOLERANCE)
    # Timestamps are Prometheus' evaluation time: "now", not the backfilled sample time.
    assert all(fresh(u, now=time.time(), max_age=30.0) for u in reading.values.values())


def test_node_with_only_old_data_and_node_without_series_are_missing(server: PrometheusServer) -> None:
    reading = PrometheusLoadSource(server.url).fetch(NODES)
    assert reading.up, reading.error
    assert reading.missing == ("node-c", "node-e")
    assert all(s.startswith('{instance="10.9.9.9:9100"') for s in reading.unmatched_series)
    assert len(reading.unmatched_series) == 2  # one series per query
    # node-c's data is stored; it is just too old for a query evaluated now.
    from prometheus_api_client import PrometheusConnect
    past = PrometheusConnect(server.url, timeout=5).custom_query(
        'node_memory_MemTotal_bytes{instance="10.0.0.3:9100"}', params={"time": time.time() - 11 * 60})
    assert len(past) == 1


def test_bad_query_reports_error(server: PrometheusServer) -> None:
    reading = PrometheusLoadSource(server.url, cpu_query="rate(node_cpu_seconds_total[").fetch(NODES)
    assert not reading.up and reading.values == {}
    assert "cpu query failed" in reading.error


def test_refresher_follows_server_down_and_back(server: PrometheusServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="scheduler.metrics.prometheus_source")
    readings: List[LoadReading] = []
    refresher = LoadRefresher(PrometheusLoadSource(server.url, timeout=2.0, retries=1),
                              lambda: NODES, readings.append, interval=3600)
    refresher.refresh_once()
    assert refresher.up is True

    server.stop()
    try:
        refresher.refresh_once()
        refresher.refresh_once()
        assert refresher.up is False
        assert readings[-1].values == {} and "127.0.0.1" in readings[-1].error
    finally:
        server.start()
    refresher.refresh_once()
    assert refresher.up is True
    assert readings[-1].values["node-a"].cpu == pytest.approx(0.9, abs=TOLERANCE)

    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if m.startswith("load metrics unavailable")]) == 1
    assert len([m for m in messages if m.startswith("load metrics available again")]) == 1
