"""The health/metrics server listens where --metrics-bind-address says."""
from __future__ import annotations

import socket
import urllib.request

import pytest

from scheduler.metrics.exporter import HealthServer, SchedulerMetrics


def _serve(host: str) -> HealthServer:
    return HealthServer(SchedulerMetrics(), lambda: (True, "ok"), lambda: (True, "ready"), 0, host=host).start()


def test_loopback_only_binds_loopback_and_answers_there():
    server = _serve("127.0.0.1")
    try:
        assert server.server.server_address[0] == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=2) as resp:
            assert resp.status == 200 and resp.read() == b"ok"
    finally:
        server.stop()


def test_ipv6_literal_gets_an_ipv6_socket():
    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6 support")
    try:
        server = _serve("::1")
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 here ({exc})")
    try:
        assert server.server.address_family == socket.AF_INET6
        with urllib.request.urlopen(f"http://[::1]:{server.port}/metrics", timeout=2) as resp:
            assert b"scheduler_" in resp.read()
    finally:
        server.stop()
