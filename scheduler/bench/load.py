"""LoadAwareOverhead: SchedulingBasic with and without the Prometheus load filter.

Every node gets a fresh utilisation sample (10-60 %), so the LoadAware filter
and score do real work on every pod.  Three variants, interleaved and repeated
(medians): plain, the load filter alone (score weight 0), filter and score.  Target: the load filter costs
under 10 % of the plain run's throughput at 5000 nodes.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
from typing import Any, Dict, List

from scheduler.bench.runner import measure_basic, peak_rss_mb, register
from scheduler.config import Config
from scheduler.core.plugins.load import LoadScore

REPEATS = 5


def _median_throughput(runs: List[Dict[str, Any]]) -> float:
    return float(statistics.median(r["throughput_pods_per_s"] for r in runs))


def load_overhead(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    """Interleaved repeats of the three variants; medians, so machine noise hits all alike."""
    filter_config = dataclasses.replace(config, scores=tuple((k, 0.0 if k == LoadScore.name else v) for k, v in config.scores))
    plain: List[Dict[str, Any]] = []
    filter_only: List[Dict[str, Any]] = []
    loaded: List[Dict[str, Any]] = []
    for _ in range(REPEATS):
        plain.append(measure_basic(args, config, load=False))
        filter_only.append(measure_basic(args, filter_config, load=True))
        loaded.append(measure_basic(args, config, load=True))
    base = _median_throughput(plain)
    return {
        "workload": "LoadAwareOverhead",
        "nodes": args.nodes,
        "pods": args.pods,
        "repeats": REPEATS,
        "plain_throughput_pods_per_s": base,
        "load_filter_throughput_pods_per_s": _median_throughput(filter_only),
        "load_filter_overhead_percent": round((1 - _median_throughput(filter_only) / base) * 100, 1),
        "load_filter_and_score_throughput_pods_per_s": _median_throughput(loaded),
        "load_filter_and_score_overhead_percent": round((1 - _median_throughput(loaded) / base) * 100, 1),
        "load_aware_scheduled": loaded[-1]["scheduled"],
        "plain_p99_decision_ms": plain[-1]["p99_decision_ms"],
        "load_aware_p99_decision_ms": loaded[-1]["p99_decision_ms"],
        "peak_rss_mb": peak_rss_mb(),
    }


register("LoadAwareOverhead", load_overhead)
