"""Configuration: one frozen dataclass filled from defaults, a YAML file, the environment and flags.

Precedence, lowest first: built-in defaults, `--config FILE`, environment
(`PROMETHEUS_URL`), command-line flags.  Every value is validated once at
start-up; a bad one raises ConfigError naming the value and what was expected
(the CLI turns that into exit code 2).
"""
from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

import yaml

from scheduler.core.framework import FILTERS, SCORES
from scheduler.core.model import INT32_MAX, INT32_MIN, INT64_MAX, SYSTEM_CRITICAL, ModelError
from scheduler.core.plugins import DEFAULT_FILTERS, DEFAULT_SCORES
from scheduler.core.plugins.spread import SYSTEM_DEFAULTS
from scheduler.core.untrusted import preview
from scheduler.quantity import KUBERNETES_QUANTITIES

MAX_PRIORITY_GAP = INT32_MAX - INT32_MIN
"""Priorities are int32, so no two differ by more."""
MAX_PORT = 65535
MAX_BIND_WORKERS = 256
"""Each worker holds a connection and a thread; more than the API server admits at once only queues there."""
_MAX_NUMBER_TEXT = 64
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
"""Longer text is no sane setting (and int() of huge digit strings is slow before Python 3.11)."""


class ConfigError(ValueError):
    """An invalid setting; the message names the setting, the value and what was expected."""


@dataclass(frozen=True)
class Config:
    # scheduling policy (every subcommand that runs the engine)
    preemption: bool = False
    node: str = ""
    cpu: float = 1.0
    mem: int = 1 << 30
    priority: int = 10
    alpha: float = 0.8
    scheduler_name: str = "preemptive-scheduler"
    filters: Tuple[str, ...] = DEFAULT_FILTERS
    scores: Tuple[Tuple[str, float], ...] = tuple(DEFAULT_SCORES.items())
    backoff_initial: float = 1.0
    backoff_max: float = 10.0
    unschedulable_timeout: float = 300.0
    preemption_min_priority_gap: int = 1
    max_victims: int = 0
    nomination_timeout: float = 120.0
    preempt_daemonset_pods: bool = False
    max_annotation_priority: int = 1_000_000_000
    protected_namespaces: Tuple[str, ...] = ("kube-system",)
    gang_timeout: float = 60.0
    percentage_of_nodes_to_score: int = 0
    default_spread_constraints: Tuple[Tuple[str, int, bool], ...] = SYSTEM_DEFAULTS
    # load-aware placement
    prometheus_url: str = ""
    prometheus_bearer_token_file: str = ""
    prometheus_ca_file: str = ""
    prometheus_client_cert: str = ""
    prometheus_client_key: str = ""
    prometheus_insecure_skip_verify: bool = False
    cpu_query: str = ""
    memory_query: str = ""
    metrics_window: str = "5m"
    metrics_refresh: float = 15.0
    metrics_max_age: float = 120.0
    on_missing_metrics: str = "allow"
    # daemon
    kubeconfig: str = ""
    leader_elect: bool = True
    leader_elect_lease_name: str = "preemptive-scheduler"
    leader_elect_namespace: str = "kube-system"
    metrics_port: int = 10260
    metrics_bind_address: str = "0.0.0.0"
    bind_workers: int = 16
    log_level: str = "info"
    log_format: str = "text"

    @property
    def cpu_millis(self) -> int:
        return int(round(self.cpu * 1000))



# ------------------------------------------------------------------ parsers


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true or false")


Number = TypeVar("Number", int, float)


def _to_number(kind: Callable[[Any], Number], value: Any) -> Number:
    """`kind(value)` for a number or numeric text; anything else (bool, 1.5 for an int, huge text) is ValueError."""
    noun = "an integer" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected {noun}")
    if isinstance(value, str) and len(value) > _MAX_NUMBER_TEXT:
        raise ValueError(f"expected {noun} (got {len(value)} characters)")
    if kind is int and isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError("expected an integer" if math.isfinite(value) else "expected a finite number")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected {noun}") from None
    except OverflowError:  # float() of an int beyond 1e308
        raise ValueError("expected a finite number") from None


def _number(kind: Callable[[Any], Number], low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False) -> Callable[[Any], Number]:
    noun = "an integer" if kind is int else "a number"

    def parse(value: Any) -> Number:
        number = _to_number(kind, value)
        if isinstance(number, float) and not math.isfinite(number):  # isfinite() of a huge int overflows
            raise ValueError("expected a finite number")
        if low is not None and (number <= low if low_open else number < low):
            raise ValueError(f"expected {noun} {'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else ""))
        if high is not None and number > high:
            raise ValueError(f"expected {noun} <= {high}" if low is None else f"expected {noun} >= {low} and <= {high}")
        return number

    return parse


def parse_alpha(value: Any) -> float:
    number = _number(float)(value)
    if not 0.0 < number <= 1.0:
        raise ValueError("expected a utilisation threshold in (0, 1]")
    return number


def parse_cpu(value: Any) -> float:
    """Cores as a number (1.5) or a Kubernetes quantity (1500m); Config.cpu_millis must fit int64."""
    if isinstance(value, str) and value.strip().endswith("m"):
        try:
            cores = KUBERNETES_QUANTITIES.amount("cpu", value.strip()) / 1000.0
        except ModelError:
            raise ValueError("expected cores (e.g. 1.5) or a quantity such as 500m") from None
    else:
        try:
            cores = _number(float, 0.0)(value)
        except ValueError as exc:
            raise ValueError(f"{exc}: cores >= 0 (e.g. 1.5) or a quantity such as 500m") from None
    if cores * 1000 > INT64_MAX:  # exact float/int comparison: Config.cpu_millis then fits int64
        raise ValueError(f"expected at most {INT64_MAX} millicores")
    return cores


def parse_memory(value: Any) -> int:
    try:
        return KUBERNETES_QUANTITIES.amount("memory", value.strip() if isinstance(value, str) else value)
    except ModelError:
        raise ValueError("expected a quantity such as 1Gi, 512Mi or a byte count") from None


def parse_choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else None
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return parse


def parse_bind_address(value: Any) -> str:
    """HOST or HOST:PORT to listen on; HOST an IPv4/IPv6 literal ([::1]:PORT with a port) or a host name."""
    text = value.strip() if isinstance(value, str) else ""
    expected = "expected HOST or HOST:PORT with an IP address or host name, e.g. 0.0.0.0, 127.0.0.1:10260, [::]:10260"
    host, port = _split_host_port(text)
    if port is not None and not (port.isdigit() and 0 < int(port) <= MAX_PORT):
        raise ValueError(f"{expected} (port must be 1..{MAX_PORT})")
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        if not (len(host) <= 253 and _HOST_NAME.fullmatch(host)):
            raise ValueError(expected) from None
    shown = f"[{host}]" if ":" in host and port is not None else host
    return shown if port is None else f"{shown}:{int(port)}"


def _split_host_port(text: str) -> Tuple[str, Optional[str]]:
    if text.startswith("["):  # [v6] or [v6]:port
        end = text.find("]")
        rest = text[end + 1:] if end > 0 else "?"
        if rest and not rest.startswith(":"):
            return "?", None
        return text[1:end], (rest[1:] if rest else None)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None


def listen_address(config: Config) -> Tuple[str, int]:
    """(host, port) for the health server: --metrics-bind-address, whose port (if any) beats --metrics-port."""
    host, port = _split_host_port(config.metrics_bind_address)
    return host, int(port) if port else config.metrics_port


def parse_namespaces(value: Any) -> Tuple[str, ...]:
    """Comma-separated (or a YAML list of) namespace names; empty means none."""
    items = [i for i in value.split(",") if i.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected namespace names, comma-separated")
    names = tuple(i.strip() for i in items)
    bad = [n for n in names if not _NAMESPACE.fullmatch(n)]
    if bad:
        raise ValueError(f"{preview(bad[0])} is not a namespace name (lower-case letters, digits and '-', at most 63)")
    return names


def parse_name_list(value: Any) -> Tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and i.strip() for i in items):
        raise ValueError("expected a list of plugin names")
    return tuple(i.strip() for i in items)


def parse_weights(value: Any) -> Tuple[Tuple[str, float], ...]:
    if isinstance(value, str):
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        if not all(len(p) == 2 for p in pairs):
            raise ValueError("expected NAME=WEIGHT[,NAME=WEIGHT...]")
        value = {k.strip(): v for k, v in pairs}
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of score plugin name to weight")
    weights = []
    for name, weight in value.items():
        if not isinstance(name, str):
            raise ValueError(f"expected plugin names, got {preview(name)}")
        try:
            weights.append((name, _number(float, 0.0)(weight)))
        except ValueError as exc:
            raise ValueError(f"weight of {name}: {exc} (0 disables)") from None
    return tuple(weights)


def parse_spread_defaults(value: Any) -> Tuple[Tuple[str, int, bool], ...]:
    """KEY=MAXSKEW[:DoNotSchedule|:ScheduleAnyway],... (a YAML list of such strings too); empty: none."""
    items = [i for i in value.split(",") if i.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected TOPOLOGY_KEY=MAX_SKEW[:DoNotSchedule|:ScheduleAnyway], comma-separated")
    constraints = []
    for item in items:
        key, _, rest = item.strip().partition("=")
        skew, _, when = rest.partition(":")
        if not key or when not in ("", "DoNotSchedule", "ScheduleAnyway"):
            raise ValueError(f"{preview(item)}: expected TOPOLOGY_KEY=MAX_SKEW[:DoNotSchedule|:ScheduleAnyway]")
        try:
            max_skew = _number(int, 1, INT32_MAX)(skew)
        except ValueError as exc:
            raise ValueError(f"{preview(item)}: max skew {exc}") from None
        constraints.append((key, max_skew, when == "DoNotSchedule"))
    return tuple(constraints)


def _string(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError("expected a string")
    return str(value)


@dataclass(frozen=True)
class Option:
    """One setting: its flag/config-key name, parser and help text."""

    name: str
    parse: Callable[[Any], Any]
    help: str
    scope: str = "engine"  # engine: every engine subcommand; run: the daemon; plan: plan
    metavar: Optional[str] = None

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return f"--{self.name}"


OPTIONS: Tuple[Option, ...] = (
    Option("preemption", parse_bool, "evict lower-priority pods when a pod fits nowhere (--preemption or --preemption=true|false)"),
    Option("node", _string, "node that `plan` asks about (default: the node the scheduler would choose)", scope="plan", metavar="NODE"),
    Option("cpu", parse_cpu, "cpu cores accounted for a pod that requests none (0 = kube-scheduler behaviour)", metavar="CORES"),
    Option("mem", parse_memory, "memory accounted for a pod that requests none (quantity or bytes; 0 = kube-scheduler behaviour)", metavar="QUANTITY"),
    Option("priority", _number(int, INT32_MIN, INT32_MAX), "priority of a pod with no priority annotation and no spec.priority", metavar="INT"),
    Option("alpha", parse_alpha, "utilisation threshold in (0, 1]: nodes measured above it get no new pods", metavar="FRACTION"),
    Option("scheduler-name", _string, "pods with this spec.schedulerName are ours", metavar="NAME"),
    Option("filters", parse_name_list, "enabled filter plugins, in order (comma-separated)", metavar="LIST"),
    Option("scores", parse_weights, "score plugin weights, NAME=WEIGHT,... (weight 0 disables)", metavar="WEIGHTS"),
    Option("backoff-initial", _number(float, 0.0, low_open=True), "first retry backoff in seconds (doubles per attempt)", metavar="SECONDS"),
    Option("backoff-max", _number(float, 0.0, low_open=True), "longest retry backoff in seconds", metavar="SECONDS"),
    Option("unschedulable-timeout", _number(float, 0.0, low_open=True), "retry unschedulable pods at least this often (seconds; kube-scheduler: 5 min); changes that may help wake them sooner", metavar="SECONDS"),
    Option("preemption-min-priority-gap", _number(int, 1, MAX_PRIORITY_GAP), "victims must be at least this much lower in priority", metavar="INT"),
    Option("max-victims", _number(int, 0), "most pods one preemption may evict (0 = unlimited)", metavar="INT"),
    Option("nomination-timeout", _number(float, 0.0, low_open=True), "seconds a preemptor waits for its victims before re-planning", metavar="SECONDS"),
    Option("preempt-daemonset-pods", parse_bool, "allow DaemonSet pods as victims (off: they cannot run elsewhere)"),
    Option("max-annotation-priority", _number(int, INT32_MIN, SYSTEM_CRITICAL - 1),
           "highest priority the scheduler.alpha.kubernetes.io/priority annotation may claim; above it the value is "
           "clamped, with a Warning Event (1000000000 is the highest user-definable PriorityClass)", metavar="INT"),
    Option("protected-namespaces", parse_namespaces,
           "namespaces whose pods are never preemption victims (comma-separated; pods at system-critical priority "
           ">= 2000000000 never are, wherever they run)", metavar="LIST"),
    Option("default-spread-constraints", parse_spread_defaults,
           "topology spread for pods of a ReplicaSet, StatefulSet or ReplicationController that declare none, counting "
           "their controller's pods: TOPOLOGY_KEY=MAX_SKEW[:DoNotSchedule|:ScheduleAnyway],... (default: kube-scheduler's "
           "system defaults, soft; empty: none)", metavar="LIST"),
    Option("percentage-of-nodes-to-score", _number(int, 0, 100),
           "how many feasible nodes are scored, in percent of the nodes (at least 100 nodes); 0 adapts like "
           "kube-scheduler (50 % at 100 nodes down to 5 % at 5,625 and more), 100 scores every feasible node",
           metavar="PERCENT"),
    Option("gang-timeout", _number(float, 0.0, low_open=True), "seconds a gang may stay below its minimum before it is rolled back", metavar="SECONDS"),
    Option("prometheus-url", _string, "Prometheus base URL for load-aware placement (env PROMETHEUS_URL)", metavar="URL"),
    Option("prometheus-bearer-token-file", _string, "file holding a bearer token sent to Prometheus (e.g. a ServiceAccount token)", metavar="FILE"),
    Option("prometheus-ca-file", _string, "CA bundle that signs Prometheus's TLS certificate", metavar="FILE"),
    Option("prometheus-client-cert", _string, "client certificate for Prometheus (mutual TLS; with --prometheus-client-key)", metavar="FILE"),
    Option("prometheus-client-key", _string, "private key of --prometheus-client-cert", metavar="FILE"),
    Option("prometheus-insecure-skip-verify", parse_bool, "do not verify Prometheus's TLS certificate (testing only)"),
    Option("cpu-query", _string, "PromQL for node cpu utilisation ({window} is substituted)", metavar="PROMQL"),
    Option("memory-query", _string, "PromQL for node memory utilisation", metavar="PROMQL"),
    Option("metrics-window", _string, "rate() window used by the default cpu query", metavar="DURATION"),
    Option("metrics-refresh", _number(float, 0.0, low_open=True), "seconds between Prometheus refreshes", metavar="SECONDS"),
    Option("metrics-max-age", _number(float, 0.0, low_open=True), "samples older than this (seconds) count as missing", metavar="SECONDS"),
    Option("on-missing-metrics", parse_choice("allow", "deny"), "nodes without fresh load data: allow (skip the load filter) or deny", metavar="allow|deny"),
    Option("kubeconfig", _string, "kubeconfig file (default: $KUBECONFIG, then in-cluster)", scope="cluster", metavar="FILE"),
    Option("leader-elect", parse_bool, "take a Lease before acting, so replicas > 1 are safe", scope="run"),
    Option("leader-elect-lease-name", _string, "name of the Lease", scope="run", metavar="NAME"),
    Option("leader-elect-namespace", _string, "namespace of the Lease", scope="run", metavar="NS"),
    Option("metrics-port", _number(int, 0, MAX_PORT), "port for /metrics, /healthz and /readyz (0 disables)", scope="run", metavar="PORT"),
    Option("metrics-bind-address", parse_bind_address, "HOST or HOST:PORT the /metrics and health server listens on (0.0.0.0 all IPv4, :: all, 127.0.0.1 local only); a port here beats --metrics-port", scope="run", metavar="HOST[:PORT]"),
    Option("bind-workers", _number(int, 1, MAX_BIND_WORKERS), f"concurrent binding/eviction API calls (at most {MAX_BIND_WORKERS}: "
           "kube-apiserver admits 200 mutating requests at once by default)", scope="run", metavar="N"),
    Option("log-level", parse_choice("debug", "info", "warning", "error"), "log verbosity", scope="all"),
    Option("log-format", parse_choice("text", "json"), "log line format", scope="all"),
)
BY_ATTR: Dict[str, Option] = {o.attr: o for o in OPTIONS}


def _apply(values: Dict[str, Any], raw: Mapping[str, Any], source: str) -> None:
    for key, value in raw.items():
        option = BY_ATTR.get(key.replace("-", "_")) if isinstance(key, str) else None
        if option is None:
            raise ConfigError(f"{source}: unknown key {preview(key)} (known: {', '.join(o.name for o in OPTIONS)})")
        try:
            values[option.attr] = option.parse(value)
        except ValueError as exc:
            where = option.flag if source == "flags" else f"{source}: {option.name}"
            raise ConfigError(f"{where} {preview(value, 80)}: {exc}") from None


def yaml_error_summary(exc: Exception) -> str:
    """One line for a PyYAML error (its str() spans several lines): the problem and where."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def read_config_file(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: not valid YAML ({yaml_error_summary(exc)})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"--config {path}: nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def load_config(flags: Mapping[str, Any], config_file: str = "", env: Optional[Mapping[str, str]] = None) -> Config:
    """Merge defaults < file < environment < flags and validate the result."""
    env = os.environ if env is None else env
    values: Dict[str, Any] = {}
    if config_file:
        _apply(values, read_config_file(config_file), f"--config {config_file}")
    if env.get("PROMETHEUS_URL"):
        _apply(values, {"prometheus-url": env["PROMETHEUS_URL"]}, "environment PROMETHEUS_URL")
    _apply(values, {k: v for k, v in flags.items() if v is not None}, "flags")
    config = Config(**values)
    if config.backoff_initial > config.backoff_max:
        raise ConfigError(f"--backoff-initial {config.backoff_initial}: expected <= --backoff-max {config.backoff_max}")
    if bool(config.prometheus_client_cert) != bool(config.prometheus_client_key):
        raise ConfigError("--prometheus-client-cert and --prometheus-client-key: expected both or neither")
    _check_plugins("--filters", "filter", config.filters, FILTERS)
    _check_plugins("--scores", "score", [name for name, _ in config.scores], SCORES)
    return config


def _check_plugins(flag: str, kind: str, names: Sequence[str], registry: Mapping[str, Any]) -> None:
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise ConfigError(f"{flag} {preview(unknown[0])}: unknown {kind} plugin (known: {', '.join(sorted(registry))})")


def known_keys() -> List[str]:
    return [o.name for o in OPTIONS]

