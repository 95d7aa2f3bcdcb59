"""Node utilisation read from Prometheus, off the scheduling hot path.

`PrometheusLoadSource.fetch(nodes)` runs two instant queries (cpu and memory
utilisation, fractions 0..1) and maps each returned series to a node.
`LoadRefresher` calls it from a daemon thread every `interval` seconds and
hands each `LoadReading` to a sink (the cluster cache); the scheduling loop
never waits on Prometheus.

Node matching, per series: a ``node`` (or ``kubernetes_node``) label when
present, else the host part of ``instance`` (``10.0.0.7:9100``,
``[fd00::7]:9100``, ``worker-1.example.com:9100``).  A candidate matches a node
by exact name, by one of the node's addresses (InternalIP, Hostname, ...), or
by short name (the part before the first dot, on either side).  A node with no
series is reported in `LoadReading.missing` -- unknown, never 0 %.

Samples are bounded as they are read: a NaN, infinite or clearly negative value,
or a NaN/infinite timestamp, counts as missing; values above 1 (over-commit)
are kept up to MAX_UTILISATION; a timestamp more than FUTURE_TOLERANCE ahead of
the wall clock is taken as "now", so it goes stale like any other sample.

When Prometheus cannot be queried, `fetch` returns ``up=False`` with the error
and no values; it never raises.  `LoadRefresher` logs one warning when
Prometheus becomes unreachable and one line when it comes back.
"""
from __future__ import annotations

import inspect
import ipaddress
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Protocol, Sequence, Tuple

from scheduler.core.model import Node, NodeUtilisation

log = logging.getLogger(__name__)

DEFAULT_CPU_QUERY = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[{window}]))'
DEFAULT_MEMORY_QUERY = "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"
WINDOW_PLACEHOLDER = "{window}"
NODE_LABELS = ("node", "kubernetes_node")

_DURATION = re.compile(r"^(\d+(ms|[smhdwy]))+$")

FUTURE_TOLERANCE = 60.0
"""Seconds a sample may be stamped ahead of our wall clock (clock skew); further ahead it is taken as now."""
MAX_UTILISATION = 10.0
"""Utilisation above 1 is kept (over-commit, rate() extrapolation) up to this; beyond it is clamped."""
NEGATIVE_JITTER = 0.1
"""rate() extrapolation can put an idle node slightly below 0: read as 0.  Further below is garbage: missing."""


@dataclass(frozen=True)
class LoadReading:
    """One refresh: utilisation per node name, plus what could not be matched."""

    values: Dict[str, NodeUtilisation] = field(default_factory=dict)
    missing: Tuple[str, ...] = ()
    unmatched_series: Tuple[str, ...] = ()
    up: bool = True
    error: str = ""


def fresh(util: NodeUtilisation, now: float, max_age: float) -> bool:
    """True when `util` was sampled at most `max_age` seconds before `now`."""
    return now - util.sampled_at <= max_age


def sample_time(ts: float, now: float) -> Optional[float]:
    """A sample's wall-clock time, or None when it is not finite (the sample counts as missing).

    A time further than FUTURE_TOLERANCE ahead of `now` is taken as `now`: a sample
    stamped in the future must still go stale, not stay fresh forever.
    """
    if not math.isfinite(ts):
        return None
    return now if ts > now + FUTURE_TOLERANCE else ts


def on_clock(values: Mapping[str, NodeUtilisation], clock: Callable[[], float],
             wall: Callable[[], float] = time.time) -> Dict[str, NodeUtilisation]:
    """Re-express Prometheus' wall-clock sample times on the scheduler's clock (usually monotonic).

    Times are bounded on the way (`sample_time`): non-finite ones are dropped, future ones clamped.
    """
    now = wall()
    offset = clock() - now
    result: Dict[str, NodeUtilisation] = {}
    for name, util in values.items():
        sampled_at = sample_time(util.sampled_at, now)
        if sampled_at is not None:
            result[name] = replace(util, sampled_at=sampled_at + offset)
    return result


def instance_host(instance: str) -> str:
    """Host part of an ``instance`` label: strips ``:port``, IPv6 brackets, a URL scheme/path."""
    text = instance.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text[1:]
    if text.count(":") == 1:  # host:port; more colons = a bare IPv6 address
        return text.rsplit(":", 1)[0]
    return text


def _norm(host: str) -> str:
    """Canonical form for comparison: lower-case names, compressed IP addresses."""
    host = host.strip().lower()
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def _short(name: str) -> str:
    return name.split(".", 1)[0]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class NodeIndex:
    """Finds the node a Prometheus series belongs to."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self._names: Dict[str, str] = {}
        self._addresses: Dict[str, str] = {}
        shorts: Dict[str, List[str]] = {}
        for node in nodes:
            self._names[_norm(node.name)] = node.name
            for address in node.addresses:
                self._addresses.setdefault(_norm(address), node.name)
            if not _is_ip(node.name):
                shorts.setdefault(_short(_norm(node.name)), []).append(node.name)
        # A short name shared by two nodes is ambiguous: only exact matches count then.
        self._shorts = {short: names[0] for short, names in shorts.items() if len(names) == 1}

    def lookup_host(self, host: str) -> Optional[str]:
        key = _norm(host)
        if not key:
            return None
        if key in self._names:
            return self._names[key]
        if key in self._addresses:
            return self._addresses[key]
        if _is_ip(key):
            return None
        short = _short(key)
        if short in self._names:  # series "worker-1.example.com", node "worker-1"
            return self._names[short]
        if short in self._addresses:
            return self._addresses[short]
        return self._shorts.get(short)  # series "worker-1", node "worker-1.example.com"

    def lookup(self, labels: Mapping[str, str]) -> Optional[str]:
        for label in NODE_LABELS:
            value = labels.get(label)
            if value:
                found = self.lookup_host(value)
                if found:
                    return found
        instance = labels.get("instance")
        if instance:
            return self.lookup_host(instance_host(instance))
        return None


def describe_series(labels: Mapping[str, str]) -> str:
    """``{instance="10.0.0.9:9100",job="node"}`` -- how an unmatched series is reported."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def render_query(query: str, window: str) -> str:
    """Substitute ``{window}``; PromQL's own braces are left alone."""
    return query.replace(WINDOW_PLACEHOLDER, window)


class QueryError(Exception):
    pass


def _sample_float(raw: Any) -> float:
    """float(raw); a number too large for a float is infinite (dropped later), not an error."""
    try:
        return float(raw)
    except OverflowError:
        return math.inf


def _parse_vector(query_name: str, result: Any) -> List[Tuple[Dict[str, str], float, float]]:
    """[(labels, value, timestamp)] from an instant-vector result."""
    if not isinstance(result, list):
        raise QueryError(f"{query_name} query must return an instant vector, got {type(result).__name__}")
    samples = []
    for item in result:
        try:
            labels = dict(item.get("metric") or {})
            ts, raw = item["value"]
            samples.append((labels, _sample_float(raw), _sample_float(ts)))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise QueryError(f"{query_name} query must return an instant vector: {exc!r}") from None
    return samples


def _make_client(url: str, timeout: float, retries: int, disable_ssl: bool,
                 headers: Optional[Dict[str, str]], ca_file: str = "",
                 client_cert: Optional[Tuple[str, str]] = None) -> Any:
    import requests
    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    class _TimeoutSession(requests.Session):
        """Applies `timeout` to every request, for client versions without a `timeout` parameter."""

        def request(self, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().request(*args, **kwargs)

    session = _TimeoutSession()
    session.verify = False if disable_ssl else (ca_file or True)
    if client_cert is not None:
        session.cert = client_cert
    retry = Retry(total=retries, connect=retries, read=retries, status=retries,
                  backoff_factor=0.1, status_forcelist=(502, 503, 504),
                  allowed_methods=frozenset({"GET", "POST"}))
    kwargs: Dict[str, Any] = dict(url=url, headers=headers, disable_ssl=disable_ssl, retry=retry)
    accepted = inspect.signature(PrometheusConnect.__init__).parameters
    if "session" in accepted:
        kwargs["session"] = session
    if "timeout" in accepted:
        kwargs["timeout"] = timeout
    return PrometheusConnect(**kwargs)


class PrometheusLoadSource:
    """Queries Prometheus for per-node cpu and memory utilisation."""

    def __init__(
        self,
        url: str,
        cpu_query: str = DEFAULT_CPU_QUERY,
        memory_query: str = DEFAULT_MEMORY_QUERY,
        window: str = "5m",
        timeout: float = 5.0,
        retries: int = 1,
        disable_ssl: bool = False,
        headers: Optional[Dict[str, str]] = None,
        ca_file: str = "",
        client_cert: Optional[Tuple[str, str]] = None,
        client: Any = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not _DURATION.match(window):
            raise ValueError(f"window must be a Prometheus duration such as 5m or 30s, got {window!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if retries < 0:
            raise ValueError(f"retries must not be negative, got {retries}")
        self.url = url.rstrip("/")
        self.window = window
        self.timeout = timeout
        self.cpu_query = render_query(cpu_query, window)
        self.memory_query = render_query(memory_query, window)
        self.wall = wall
        self._client = client if client is not None else _make_client(
            self.url, timeout, retries, disable_ssl, headers, ca_file, client_cert)

    def _query(self, name: str, query: str) -> List[Tuple[Dict[str, str], float, float]]:
        try:
            result = self._client.custom_query(query=query)
        except Exception as exc:  # requests/urllib3/client errors: all mean "cannot read"
            raise QueryError(f"{name} query failed against {self.url}: {type(exc).__name__}: {exc}") from None
        return _parse_vector(name, result)

    def fetch(self, nodes: Sequence[Node]) -> LoadReading:
        """Read utilisation for `nodes`. Never raises: failures give ``up=False``."""
        try:
            cpu = self._query("cpu", self.cpu_query)
            memory = self._query("memory", self.memory_query)
        except QueryError as exc:
            return LoadReading(values={}, missing=(), unmatched_series=(), up=False, error=str(exc))
        except Exception as exc:  # pragma: no cover - defensive: fetch must not raise
            return LoadReading(values={}, up=False, error=f"{type(exc).__name__}: {exc}")
        return build_reading(nodes, cpu, memory, now=self.wall())


def _clamp(value: float) -> Optional[float]:
    """A utilisation in 0..MAX_UTILISATION, or None (missing) for NaN, infinities and clearly negative values."""
    if not math.isfinite(value) or value < -NEGATIVE_JITTER:
        return None
    return min(MAX_UTILISATION, max(0.0, value))


def build_reading(nodes: Sequence[Node],
                  cpu: Sequence[Tuple[Dict[str, str], float, float]],
                  memory: Sequence[Tuple[Dict[str, str], float, float]],
                  now: Optional[float] = None) -> LoadReading:
    """Map query samples to nodes. Several series for one node: the highest value wins.

    `now` is the wall clock when the samples were read (default: time.time()); sample
    times are bounded against it (`sample_time`), and bad values count as missing.
    """
    now = time.time() if now is None else now
    index = NodeIndex(nodes)
    found: Dict[str, Dict[str, Tuple[float, float]]] = {}
    unmatched: List[str] = []
    for resource, samples in (("cpu", cpu), ("memory", memory)):
        for labels, value, ts in samples:
            name = index.lookup(labels)
            if name is None:
                unmatched.append(describe_series(labels))
                continue
            clamped = _clamp(value)
            sampled_at = sample_time(ts, now)
            if clamped is None or sampled_at is None:
                continue
            per_node = found.setdefault(name, {})
            previous = per_node.get(resource)
            if previous is None or clamped > previous[0]:
                per_node[resource] = (clamped, sampled_at)
    values: Dict[str, NodeUtilisation] = {}
    for name, per_node in found.items():
        cpu_sample = per_node.get("cpu")
        mem_sample = per_node.get("memory")
        sampled_at = min(s[1] for s in per_node.values())  # the older of the two
        values[name] = NodeUtilisation(
            cpu=cpu_sample[0] if cpu_sample else None,
            memory=mem_sample[0] if mem_sample else None,
            sampled_at=sampled_at,
        )
    missing = tuple(node.name for node in nodes if node.name not in values)
    return LoadReading(values=values, missing=missing,
                       unmatched_series=tuple(sorted(set(unmatched))), up=True, error="")


class LoadSource(Protocol):
    """What LoadRefresher reads: PrometheusLoadSource, or a stand-in in tests."""

    def fetch(self, nodes: Sequence[Node]) -> LoadReading: ...


class LoadRefresher:
    """Refreshes node load in a daemon thread and hands each reading to `sink`."""

    def __init__(
        self,
        source: LoadSource,
        nodes_provider: Callable[[], Sequence[Node]],
        sink: Callable[[LoadReading], None],
        interval: float = 15.0,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.source = source
        self.nodes_provider = nodes_provider
        self.sink = sink
        self.interval = interval
        self.up: Optional[bool] = None
        self.last_reading: Optional[LoadReading] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def refresh_once(self) -> LoadReading:
        """One refresh, synchronously. Never raises."""
        with self._lock:
            try:
                nodes = list(self.nodes_provider())
                reading = self.source.fetch(nodes)
            except Exception as exc:  # a broken source or provider must not kill the thread
                reading = LoadReading(values={}, up=False, error=f"{type(exc).__name__}: {exc}")
            self._note_state(reading)
            self.last_reading = reading
            try:
                self.sink(reading)
            except Exception:
                log.exception("load metrics sink failed")
            return reading

    def _note_state(self, reading: LoadReading) -> None:
        was = self.up
        self.up = reading.up
        if not reading.up and was is not False:
            log.warning("load metrics unavailable, scheduling on requests alone: %s", reading.error)
        elif reading.up and was is False:
            log.info("load metrics available again (%d nodes with data, %d missing)",
                     len(reading.values), len(reading.missing))
        if reading.up and was is not True and reading.missing:
            log.info("no load series for %d node(s), treated as unknown: %s",
                     len(reading.missing), ", ".join(reading.missing[:10]))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh_once()
            self._stop.wait(self.interval)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="load-refresher", daemon=True)
        self._thread.start()

    def stop(self, timeout: Optional[float] = None) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():
                self._thread = None
