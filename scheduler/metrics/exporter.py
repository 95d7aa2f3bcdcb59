"""The scheduler's own /metrics (prometheus_client), /healthz and /readyz.

Metric names follow kube-scheduler's where one exists, so existing dashboards
and alerts carry over.
"""
from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)


class SchedulerMetrics:
    """All metrics in one registry (one per process, or per test)."""

    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.schedule_attempts = Counter("scheduler_schedule_attempts_total",
                                         "Scheduling attempts by result (scheduled, unschedulable, error).",
                                         ["result"], registry=r)
        self.attempt_duration = Histogram("scheduler_scheduling_attempt_duration_seconds",
                                          "Time to decide for one pod (filter, score, preemption).", ["result"],
                                          buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1, 0.25, 0.5, 1.0), registry=r)
        self.pending_pods = Gauge("scheduler_pending_pods", "Pending pods by queue (active, backoff, unschedulable, gated).",
                                  ["queue"], registry=r)
        self.preemption_attempts = Counter("scheduler_preemption_attempts_total", "Preemption attempts that chose victims.",
                                           registry=r)
        self.preemption_victims = Histogram("scheduler_preemption_victims", "Victims per preemption.",
                                            buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.events_dropped = Counter("scheduler_events_dropped_total",
                                      "Events not posted: the recorder's queue was full (the API was slow to take them).",
                                      registry=r)
        self.bind_errors = Counter("scheduler_bind_errors_total", "Failed binding calls by HTTP status.", ["code"],
                                   registry=r)
        self.evictions = Counter("scheduler_evictions_total", "Eviction calls by outcome.", ["result"], registry=r)
        self.watch_restarts = Counter("scheduler_watch_restarts_total", "Watch streams re-established, by resource and cause.",
                                      ["resource", "cause"], registry=r)
        self.parse_errors = Counter("scheduler_object_parse_errors_total", "API objects that could not be parsed.",
                                    ["resource"], registry=r)
        self.is_leader = Gauge("scheduler_leader", "1 while this replica holds the leader Lease.", registry=r)
        self.load_metrics_up = Gauge("scheduler_load_metrics_up", "1 when the last Prometheus refresh succeeded.",
                                     registry=r)
        self.load_nodes_unknown = Gauge("scheduler_load_nodes_unknown",
                                        "Nodes without fresh utilisation data (the load filter skips or denies them).",
                                        registry=r)
        self.gangs = Gauge("scheduler_gangs", "Gangs by state.", ["state"], registry=r)
        self.internal_errors = Counter("scheduler_internal_errors_total",
                                       "Unexpected errors caught while applying an event or running a cycle "
                                       "(the offending pod or unit is retried with backoff).", ["where"], registry=r)

    def drop_load_metrics(self) -> None:
        """No load source configured: do not report one as down (0) when there is none at all."""
        for metric in (self.load_metrics_up, self.load_nodes_unknown):
            self.registry.unregister(metric)

    def render(self) -> bytes:
        return generate_latest(self.registry)


Check = Callable[[], Tuple[bool, str]]


def _server_class(host: str) -> type:
    """ThreadingHTTPServer for IPv4 hosts and names; its IPv6 variant for an IPv6 literal."""
    if ":" not in host:
        return ThreadingHTTPServer
    return type("ThreadingHTTPServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})


class HealthServer:
    """Serves /metrics, /healthz (process and watches alive) and /readyz (caches synced)."""

    def __init__(self, metrics: SchedulerMetrics, healthz: Check, readyz: Check, port: int, host: str = "0.0.0.0") -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, outer.metrics.render(), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/livez", "/readyz"):
                    ok, detail = (outer.readyz if path == "/readyz" else outer.healthz)()
                    self._send(200 if ok else 503, (detail or ("ok" if ok else "not ok")).encode(), "text/plain")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.metrics = metrics
        self.healthz = healthz
        self.readyz = readyz
        self.server = _server_class(host)((host, port), Handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="health-server", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("serving /metrics, /healthz and /readyz on %s port %d", self.host, self.port)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
