"""Wire the core from a Config: state, queue, plugins, engine, preemption, gangs.

The daemon, the simulator, `plan` and `bench` all build their engine here, so
one policy (flags or config file) means the same behaviour everywhere.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from scheduler.config import Config, ConfigError
from scheduler.core.cache import ClusterState
from scheduler.core.engine import Engine
from scheduler.core.framework import FilterPlugin, Profile, ScorePlugin, build_profile
from scheduler.core.gang import GangScheduler
from scheduler.core.loop import SchedulingLoop
from scheduler.core.nomination import NominatedRoom, Nominations
from scheduler.core.parse import Defaults
from scheduler.core.plugins.allocation import allocation_factories
from scheduler.core.plugins.load import LoadAware, LoadScore, LoadView
from scheduler.core.plugins.spread import PodTopologySpread, PodTopologySpreadScore, SpreadRules
from scheduler.core.preemption import Preemption, PreemptionPolicy, Preemptor, may_be_victim
from scheduler.core.queue import SchedulingQueue
from scheduler.quantity import KUBERNETES_QUANTITIES


def defaults_from(config: Config) -> Defaults:
    return Defaults(KUBERNETES_QUANTITIES, cpu_millis=config.cpu_millis, memory_bytes=config.mem, priority=config.priority,
                    max_annotation_priority=config.max_annotation_priority, scheduler_name=config.scheduler_name)


def profile_from(config: Config, clock: Callable[[], float], load_enabled: bool) -> Profile:
    """Plugins named in the config; the load plugins only when a load source exists."""
    filters = [f for f in config.filters if load_enabled or f != LoadAware.name]
    weights: Dict[str, float] = {k: v for k, v in config.scores if load_enabled or k != LoadScore.name}
    view = LoadView(config.alpha, config.metrics_max_age, config.on_missing_metrics, clock)  # shared by both
    spread = SpreadRules(config.default_spread_constraints)  # shared by the spread filter and score
    filter_factories: Dict[str, Callable[[], FilterPlugin]] = {
        LoadAware.name: lambda: LoadAware(config.alpha, config.metrics_max_age, config.on_missing_metrics, clock, view),
        PodTopologySpread.name: lambda: PodTopologySpread(spread),
    }
    # the allocation scores share one computation of the fractions per cycle
    score_factories: Dict[str, Callable[[], ScorePlugin]] = {LoadScore.name: lambda: LoadScore(view),
                                                            PodTopologySpreadScore.name: lambda: PodTopologySpreadScore(spread),
                                                            **allocation_factories()}
    return build_profile(filters, weights, filter_factories, score_factories)


def load_source_from(config: Config) -> Any:
    """The Prometheus source the config describes (the daemon and `plan --kubeconfig` share it)."""
    from scheduler.metrics.prometheus_source import PrometheusLoadSource

    kwargs: Dict[str, Any] = {"window": config.metrics_window}
    if config.cpu_query:
        kwargs["cpu_query"] = config.cpu_query
    if config.memory_query:
        kwargs["memory_query"] = config.memory_query
    if config.prometheus_bearer_token_file:
        kwargs["headers"] = {"Authorization": f"Bearer {_read_secret(config.prometheus_bearer_token_file)}"}
    kwargs["ca_file"] = config.prometheus_ca_file
    kwargs["disable_ssl"] = config.prometheus_insecure_skip_verify
    if config.prometheus_client_cert:
        kwargs["client_cert"] = (config.prometheus_client_cert, config.prometheus_client_key)
    return PrometheusLoadSource(config.prometheus_url, **kwargs)


def _read_secret(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--prometheus-bearer-token-file {path}: cannot read ({exc})") from None
    if not token or "\n" in token:
        raise ConfigError(f"--prometheus-bearer-token-file {path}: expected one token on one line")
    return token


def build_loop(config: Config, clock: Callable[[], float], load_enabled: bool = False) -> SchedulingLoop:
    """The composition root: every part of the core built once, each handed what it needs."""
    policy = PreemptionPolicy(
        min_gap=config.preemption_min_priority_gap,
        max_victims=config.max_victims,
        preempt_daemonset_pods=config.preempt_daemonset_pods,
        protected_namespaces=frozenset(config.protected_namespaces),
    )
    evictable = (lambda pod: may_be_victim(pod, policy)) if config.preemption else (lambda pod: False)
    state = ClusterState(is_evictable=evictable)
    queue = SchedulingQueue(clock, config.backoff_initial, config.backoff_max, config.unschedulable_timeout)
    nominations = Nominations()
    engine = Engine(state, profile_from(config, clock, load_enabled), clock, extra_filters=[NominatedRoom(nominations)],
                    percentage_to_score=config.percentage_of_nodes_to_score)
    preemption = Preemptor(engine, policy, clock, nominations) if config.preemption else Preemption(engine)
    gangs = GangScheduler(engine, nominations, preemption, clock, config.gang_timeout)
    return SchedulingLoop(state, queue, engine, nominations, preemption, gangs, config.scheduler_name, clock,
                          nomination_timeout=config.nomination_timeout)
