"""LoadAwareOverhead: SchedulingBasic with and without the Prometheus load filter.

Every node gets a fresh utilisation sample (10-60 %), so the LoadAware filter
and score do real work on every pod.  Three runs: plain, the load filter
alone (score weight 0), filter and score.  Target: the load filter costs
under 10 % of the plain run's throughput at 5000 nodes.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any, Dict

import numpy as np

from scheduler.bench import workloads
from scheduler.bench.runner import drain, latency_figures, peak_rss_mb, place_initial, register
from scheduler.config import Config
from scheduler.core.model import NodeUtilisation, parse_node, parse_pod
from scheduler.stack import build_loop, defaults_from


def _run(args: argparse.Namespace, config: Config, load: bool) -> Dict[str, Any]:
    loop = build_loop(config, time.monotonic, load_enabled=load)
    for raw in workloads.nodes(args.nodes):
        loop.node_changed(parse_node(raw))
    if load:
        rng = np.random.default_rng(0)
        now = time.monotonic()
        loop.state.set_utilisation({f"node-{i}": NodeUtilisation(float(c), float(m), now)
                                    for i, (c, m) in enumerate(rng.uniform(0.1, 0.6, size=(args.nodes, 2)))})
    initial = args.initial_pods if args.initial_pods is not None else 1000
    place_initial(loop, config, initial, args.nodes)
    defaults = defaults_from(config)
    pods = [parse_pod(workloads.pod(f"pod-{i}", config.scheduler_name), defaults) for i in range(args.pods)]
    start = time.perf_counter()
    for pod in pods:
        loop.pod_changed(pod)
    durations = drain(loop)
    elapsed = time.perf_counter() - start
    scheduled = sum(1 for pod in pods if pod.key in loop.state.placed)
    return {"throughput_pods_per_s": round(scheduled / elapsed, 1), "scheduled": scheduled, **latency_figures(durations)}


def load_overhead(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    plain = _run(args, config, load=False)
    filter_only = _run(args, dataclasses.replace(config, scores=tuple((k, 0.0 if k == "LoadAware" else v)
                                                                      for k, v in config.scores)), load=True)
    loaded = _run(args, config, load=True)
    ratio = loaded["throughput_pods_per_s"] / plain["throughput_pods_per_s"]
    filter_ratio = filter_only["throughput_pods_per_s"] / plain["throughput_pods_per_s"]
    return {
        "workload": "LoadAwareOverhead",
        "nodes": args.nodes,
        "pods": args.pods,
        "plain_throughput_pods_per_s": plain["throughput_pods_per_s"],
        "load_filter_throughput_pods_per_s": filter_only["throughput_pods_per_s"],
        "load_filter_overhead_percent": round((1 - filter_ratio) * 100, 1),
        "load_filter_and_score_throughput_pods_per_s": loaded["throughput_pods_per_s"],
        "load_filter_and_score_overhead_percent": round((1 - ratio) * 100, 1),
        "load_aware_scheduled": loaded["scheduled"],
        "plain_p99_decision_ms": plain["p99_decision_ms"],
        "load_aware_p99_decision_ms": loaded["p99_decision_ms"],
        "peak_rss_mb": peak_rss_mb(),
    }


register("LoadAwareOverhead", load_overhead)
