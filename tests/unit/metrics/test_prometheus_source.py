"""PrometheusLoadSource node matching, failure handling, LoadRefresher logging, staleness."""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.model import Node, NodeUtilisation
from scheduler.metrics.prometheus_source import (
    DEFAULT_CPU_QUERY,
    DEFAULT_MEMORY_QUERY,
    FUTURE_TOLERANCE,
    MAX_UTILISATION,
    LoadReading,
    LoadRefresher,
    PrometheusLoadSource,
    fresh,
    instance_host,
    on_clock,
    sample_time,
)

LOGGER = "scheduler.metrics.prometheus_source"


def node(name: str, *addresses: str) -> Node:
    return Node(name=name, allocatable={"cpu": 4000}, addresses=tuple(addresses))


def series(value: float, ts: float = 1000.0, **labels: str) -> Dict[str, Any]:
    return {"metric": labels, "value": [ts, str(value)]}


class FakeClient:
    """Stands in for PrometheusConnect: answers by query text, or raises."""

    def __init__(self, cpu: List[Dict[str, Any]], memory: List[Dict[str, Any]],
                 error: Optional[Exception] = None) -> None:
        self.answers = {"cpu": cpu, "memory": memory}
        self.error = error
        self.queries: List[str] = []

    def custom_query(self, query: str, params: Any = None) -> Any:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        return self.answers["cpu" if "cpu" in query else "memory"]


def source(cpu: List[Dict[str, Any]], memory: Optional[List[Dict[str, Any]]] = None,
           **kwargs: Any) -> PrometheusLoadSource:
    return PrometheusLoadSource("http://prom:9090", client=FakeClient(cpu, memory or []), **kwargs)


@pytest.mark.parametrize("instance, host", [
    ("10.0.0.7:9100", "10.0.0.7"),
    ("[fd00::7]:9100", "fd00::7"),
    ("[::1]:9100", "::1"),
    ("fd00::7", "fd00::7"),
    ("worker-1.example.com:9100", "worker-1.example.com"),
    ("worker-1", "worker-1"),
    ("https://worker-1:9100/metrics", "worker-1"),
])
def test_instance_host(instance: str, host: str) -> None:
    assert instance_host(instance) == host


def test_node_label_wins_over_instance() -> None:
    reading = source([series(0.8, node="worker-2", instance="10.0.0.1:9100")]).fetch(
        [node("worker-1", "10.0.0.1"), node("worker-2", "10.0.0.2")])
    assert reading.values["worker-2"].cpu == pytest.approx(0.8)
    assert reading.missing == ("worker-1",)


def test_instance_with_port_matches_internal_ip() -> None:
    reading = source([series(0.5, instance="10.0.0.2:9100")],
                     [series(0.25, instance="10.0.0.2:9100")]).fetch(
        [node("worker-1", "10.0.0.1"), node("worker-2", "10.0.0.2", "worker-2.lan")])
    assert reading.up
    assert reading.values["worker-2"] == NodeUtilisation(cpu=0.5, memory=0.25, sampled_at=1000.0)


def test_ipv6_instance_matches_node_address() -> None:
    reading = source([series(0.4, instance="[fd00:0:0::7]:9100")]).fetch(
        [node("worker-7", "fd00::7")])
    assert reading.values["worker-7"].cpu == pytest.approx(0.4)


def test_instance_equal_to_node_name() -> None:
    reading = source([series(0.3, instance="worker-3:9100")]).fetch([node("worker-3")])
    assert reading.values["worker-3"].cpu == pytest.approx(0.3)


def test_short_hostname_both_ways() -> None:
    nodes = [node("worker-1"), node("worker-2.example.internal")]
    reading = source([series(0.1, instance="worker-1.example.internal:9100"),
                      series(0.2, instance="worker-2:9100")]).fetch(nodes)
    assert reading.values["worker-1"].cpu == pytest.approx(0.1)
    assert reading.values["worker-2.example.internal"].cpu == pytest.approx(0.2)
    assert reading.missing == ()


def test_ambiguous_short_name_is_not_guessed() -> None:
    nodes = [node("worker-1.a.example"), node("worker-1.b.example")]
    reading = source([series(0.1, instance="worker-1:9100")]).fetch(nodes)
    assert reading.values == {}
    assert reading.unmatched_series == ('{instance="worker-1:9100"}',)


def test_missing_nodes_and_unmatched_series_reported() -> None:
    nodes = [node("a", "10.0.0.1"), node("b", "10.0.0.2"), node("c", "10.0.0.3")]
    reading = source([series(0.9, instance="10.0.0.1:9100"), series(0.5, instance="10.9.9.9:9100")],
                     [series(0.7, instance="10.0.0.1:9100")]).fetch(nodes)
    assert set(reading.values) == {"a"}
    assert reading.missing == ("b", "c")
    assert reading.unmatched_series == ('{instance="10.9.9.9:9100"}',)
    assert reading.up and reading.error == ""


def test_node_with_only_cpu_has_unknown_memory() -> None:
    reading = source([series(0.6, ts=990.0, instance="10.0.0.1:9100")]).fetch([node("a", "10.0.0.1")])
    assert reading.values["a"] == NodeUtilisation(cpu=0.6, memory=None, sampled_at=990.0)
    assert reading.missing == ()


def test_sample_time_is_prometheus_timestamp_older_of_two() -> None:
    reading = source([series(0.6, ts=1000.0, instance="10.0.0.1:9100")],
                     [series(0.2, ts=995.5, instance="10.0.0.1:9100")]).fetch([node("a", "10.0.0.1")])
    assert reading.values["a"].sampled_at == 995.5


def test_values_bounded_and_nan_is_unknown() -> None:
    reading = source([series(1.3, instance="10.0.0.1:9100"), series(-0.1, instance="10.0.0.2:9100"),
                      series(25.0, instance="10.0.0.3:9100")],
                     [{"metric": {"instance": "10.0.0.1:9100"}, "value": [1000, "NaN"]}]).fetch(
        [node("a", "10.0.0.1"), node("b", "10.0.0.2"), node("c", "10.0.0.3")])
    assert reading.values["a"].cpu == 1.3 and reading.values["a"].memory is None  # over-committed is kept
    assert reading.values["b"].cpu == 0.0  # rate() jitter just below 0 reads as idle
    assert reading.values["c"].cpu == MAX_UTILISATION


@pytest.mark.parametrize("value", ["-0.5", "-Inf", "+Inf", "Infinity", "NaN", 10**400])
def test_negative_infinite_or_nan_utilisation_is_missing(value: Any) -> None:
    reading = source([{"metric": {"instance": "10.0.0.1:9100"}, "value": [1000, value]}]).fetch([node("a", "10.0.0.1")])
    assert reading.up and reading.values == {} and reading.missing == ("a",)


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), float("-inf"), "NaN", "+Inf", 10**400])
def test_sample_with_a_non_finite_timestamp_is_missing(ts: Any) -> None:
    reading = source([{"metric": {"instance": "10.0.0.1:9100"}, "value": [ts, "0.5"]}],
                     [series(0.2, ts=1000.0, instance="10.0.0.1:9100")]).fetch([node("a", "10.0.0.1")])
    assert reading.up
    assert reading.values["a"].cpu is None and reading.values["a"].memory == 0.2


def test_future_timestamp_is_clamped_to_the_wall_clock_when_read() -> None:
    reading = source([series(0.5, ts=1e12, instance="10.0.0.1:9100")],
                     [series(0.2, ts=5030.0, instance="10.0.0.1:9100")], wall=lambda: 5000.0).fetch(
        [node("a", "10.0.0.1")])
    assert reading.values["a"].sampled_at == 5000.0  # the older of: clamped cpu (now), memory within tolerance
    within = source([series(0.5, ts=5000.0 + FUTURE_TOLERANCE, instance="10.0.0.1:9100")],
                    wall=lambda: 5000.0).fetch([node("a", "10.0.0.1")])
    assert within.values["a"].sampled_at == 5000.0 + FUTURE_TOLERANCE  # ordinary clock skew is left alone


def test_future_stamped_sample_goes_stale_like_any_other() -> None:
    values = {"a": NodeUtilisation(cpu=0.5, memory=0.5, sampled_at=1e15)}
    util = on_clock(values, clock=lambda: 100.0, wall=lambda: 5000.0)["a"]
    assert util.sampled_at == 100.0
    assert fresh(util, now=160.0, max_age=60.0)
    assert not fresh(util, now=160.5, max_age=60.0)


def test_on_clock_drops_non_finite_times_and_shifts_the_rest() -> None:
    values = {"nan": NodeUtilisation(0.5, 0.5, float("nan")), "inf": NodeUtilisation(0.5, 0.5, float("inf")),
              "ok": NodeUtilisation(0.5, 0.5, 4990.0)}
    assert on_clock(values, clock=lambda: 100.0, wall=lambda: 5000.0) == {"ok": NodeUtilisation(0.5, 0.5, 90.0)}


def test_sample_time_bounds() -> None:
    assert sample_time(4000.0, now=5000.0) == 4000.0
    assert sample_time(5000.0 + FUTURE_TOLERANCE + 1, now=5000.0) == 5000.0
    assert sample_time(float("nan"), now=5000.0) is None
    assert sample_time(float("-inf"), now=5000.0) is None


def test_query_error_gives_up_false_and_never_raises() -> None:
    client = FakeClient([], [], error=ConnectionError("connection refused"))
    reading = PrometheusLoadSource("http://prom:9090", client=client).fetch([node("a")])
    assert reading == LoadReading(values={}, up=False, error=reading.error)
    assert not reading.up
    assert "connection refused" in reading.error and "http://prom:9090" in reading.error


def test_non_vector_result_is_an_error() -> None:
    client = FakeClient(cpu=[1000, "0.5"], memory=[])  # type: ignore[arg-type]
    reading = PrometheusLoadSource("http://prom:9090", client=client).fetch([node("a")])
    assert not reading.up and "instant vector" in reading.error


def test_unreachable_server_gives_up_false() -> None:
    reading = PrometheusLoadSource("http://127.0.0.1:1", timeout=1.0, retries=0).fetch([node("a")])
    assert not reading.up and reading.values == {}
    assert "127.0.0.1:1" in reading.error


def test_window_templated_into_queries() -> None:
    client = FakeClient([], [])
    src = PrometheusLoadSource("http://prom:9090", window="2m", client=client,
                               memory_query='avg_over_time(mem_used_ratio[{window}])')
    src.fetch([])
    assert client.queries == [
        '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[2m]))',
        "avg_over_time(mem_used_ratio[2m])",
    ]
    assert "{window}" in DEFAULT_CPU_QUERY and "MemAvailable" in DEFAULT_MEMORY_QUERY


@pytest.mark.parametrize("kwargs", [{"window": "five minutes"}, {"timeout": 0}, {"retries": -1}])
def test_bad_settings_rejected(kwargs: Dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PrometheusLoadSource("http://prom:9090", client=FakeClient([], []), **kwargs)


class FakeSource:
    def __init__(self) -> None:
        self.up = True
        self.calls = 0

    def fetch(self, nodes: Any) -> LoadReading:
        self.calls += 1
        if self.up:
            return LoadReading(values={"a": NodeUtilisation(0.5, 0.5, 1.0)}, missing=(), up=True)
        return LoadReading(values={}, up=False, error="connection refused")


def _messages(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_refresher_logs_once_per_outage_and_once_on_recovery(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    src = FakeSource()
    readings: List[LoadReading] = []
    refresher = LoadRefresher(src, lambda: [node("a")], readings.append, interval=60)
    assert refresher.up is None
    refresher.refresh_once()
    assert refresher.up is True and _messages(caplog) == []

    src.up = False
    for _ in range(5):
        refresher.refresh_once()
    assert refresher.up is False
    down = [m for m in _messages(caplog) if "unavailable" in m]
    assert down == ["load metrics unavailable, scheduling on requests alone: connection refused"]

    src.up = True
    for _ in range(3):
        refresher.refresh_once()
    assert refresher.up is True
    assert len([m for m in _messages(caplog) if "available again" in m]) == 1

    src.up = False
    refresher.refresh_once()
    refresher.refresh_once()
    assert len([m for m in _messages(caplog) if "unavailable" in m]) == 2  # a second outage
    assert len(readings) == 11 and [r.up for r in readings[-2:]] == [False, False]


def test_refresher_first_fetch_down_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    src = FakeSource()
    src.up = False
    refresher = LoadRefresher(src, lambda: [], lambda r: None)
    refresher.refresh_once()
    refresher.refresh_once()
    assert len(_messages(caplog)) == 1


def test_refresher_survives_failing_provider_and_sink(caplog: pytest.LogCaptureFixture) -> None:
    def provider() -> List[Node]:
        raise RuntimeError("cache not ready")

    def sink(reading: LoadReading) -> None:
        raise RuntimeError("sink broke")

    refresher = LoadRefresher(FakeSource(), provider, sink)
    reading = refresher.refresh_once()
    assert not reading.up and "cache not ready" in reading.error


def test_refresher_thread_runs_and_stops() -> None:
    src = FakeSource()
    got: List[LoadReading] = []
    import threading
    seen = threading.Event()

    def sink(reading: LoadReading) -> None:
        got.append(reading)
        if len(got) >= 3:
            seen.set()

    refresher = LoadRefresher(src, lambda: [node("a")], sink, interval=0.01)
    refresher.start()
    try:
        assert seen.wait(5)
    finally:
        refresher.stop(timeout=5)
    assert refresher._thread is None
    assert refresher.up is True


def test_fresh() -> None:
    util = NodeUtilisation(cpu=0.5, memory=0.5, sampled_at=1000.0)
    assert fresh(util, now=1030.0, max_age=60.0)
    assert fresh(util, now=1060.0, max_age=60.0)
    assert not fresh(util, now=1060.5, max_age=60.0)
    assert fresh(util, now=999.0, max_age=60.0)  # a sample slightly ahead of our clock is fresh


sample_number = (st.floats(allow_nan=True, allow_infinity=True) | st.integers()
                 | st.sampled_from(["NaN", "+Inf", "-Inf", "1e400", "-0.05", "0.5", "1.3", "abc", 10**400, None]))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(cpu=st.lists(st.tuples(sample_number, sample_number), max_size=4),
       memory=st.lists(st.tuples(sample_number, sample_number), max_size=4))
def test_any_samples_give_bounded_values_or_a_failed_reading(cpu: List[Any], memory: List[Any]) -> None:
    def vector(samples: List[Any]) -> List[Dict[str, Any]]:
        return [{"metric": {"instance": "10.0.0.1:9100"}, "value": [ts, value]} for ts, value in samples]

    now = 5000.0
    reading = source(vector(cpu), vector(memory), wall=lambda: now).fetch([node("a", "10.0.0.1")])
    for util in reading.values.values():
        assert all(v is None or 0.0 <= v <= MAX_UTILISATION for v in (util.cpu, util.memory))
        assert math.isfinite(util.sampled_at) and util.sampled_at <= now + FUTURE_TOLERANCE
    shifted = on_clock(reading.values, clock=lambda: 100.0, wall=lambda: now)
    assert all(util.sampled_at <= 100.0 + FUTURE_TOLERANCE for util in shifted.values())


def test_tls_and_bearer_token_settings_reach_the_http_session(tmp_path):
    from scheduler.config import load_config
    from scheduler.stack import load_source_from

    token = tmp_path / "token"
    token.write_text("s3cret\n")
    config = load_config({"prometheus_url": "https://prom.example:9090", "prometheus_bearer_token_file": str(token),
                          "prometheus_ca_file": "/etc/ca.pem", "prometheus_client_cert": "/etc/c.pem",
                          "prometheus_client_key": "/etc/k.pem"}, env={})
    client = load_source_from(config)._client
    assert client.headers == {"Authorization": "Bearer s3cret"}
    assert client._session.verify == "/etc/ca.pem" and client._session.cert == ("/etc/c.pem", "/etc/k.pem")
    insecure = load_config({"prometheus_url": "https://prom.example", "prometheus_insecure_skip_verify": "true"}, env={})
    assert load_source_from(insecure)._client._session.verify is False
    assert load_source_from(load_config({"prometheus_url": "https://p"}, env={}))._client._session.verify is True


def test_bad_prometheus_credentials_are_one_line_config_errors(tmp_path):
    import pytest

    from scheduler.config import ConfigError, load_config
    from scheduler.stack import load_source_from

    with pytest.raises(ConfigError, match="expected both or neither"):
        load_config({"prometheus_client_cert": "/etc/c.pem"}, env={})
    config = load_config({"prometheus_url": "https://p", "prometheus_bearer_token_file": str(tmp_path / "none")}, env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_source_from(config)
