"""GangScheduling: many small gangs, or a few huge ones, on a large cluster.

Nodes are the SchedulingBasic nodes (32 cores, 128Gi); every gang's
min-available is its size, so each gang is one all-or-nothing transaction.
Target: >= 2000 gang pods/s at 5000 nodes.
"""
from __future__ import annotations

import argparse
from collections import Counter
from typing import Any, Dict

from scheduler.bench import workloads
from scheduler.bench.runner import latency_figures, new_cluster, peak_rss_mb, queue_and_drain, register
from scheduler.config import Config
from scheduler.core.model import POD_GROUP_LABEL
from scheduler.core.parse import parse_pod
from scheduler.stack import defaults_from


def gang_scheduling(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    world = new_cluster(config, args.nodes)
    defaults = defaults_from(config)
    pods = [
        parse_pod(workloads.pod(f"g{g}-{m}", config.scheduler_name, gang=f"g{g}", min_available=args.gang_size,
                                created=float(g)), defaults)
        for g in range(args.gangs) for m in range(args.gang_size)
    ]
    run = queue_and_drain(world, pods)
    elapsed, durations, placed = run.seconds, run.durations, run.bound
    per_gang = list(Counter(pod.labels.get(POD_GROUP_LABEL) for pod in pods if world.bindings.get(pod.key)).values())
    per_gang += [0] * (args.gangs - len(per_gang))
    complete = sum(1 for n in per_gang if n >= args.gang_size)
    partial = sum(1 for n in per_gang if 0 < n < args.gang_size)
    return {
        "workload": "GangScheduling",
        "target": "sim",
        "nodes": args.nodes,
        "gangs": args.gangs,
        "gang_size": args.gang_size,
        "pods_placed": placed,
        "gangs_complete": complete,
        "gangs_partial": partial,
        "seconds": round(elapsed, 3),
        "gangs_per_s": round(complete / elapsed, 1) if elapsed else 0.0,
        "pods_per_s": round(placed / elapsed, 1) if elapsed else 0.0,
        "cpu_ms_per_pod": run.cpu_ms_per_pod(),
        **{k.replace("decision", "gang_decision"): v for k, v in latency_figures(durations).items()},
        "peak_rss_mb": peak_rss_mb(),
    }


register("GangScheduling", gang_scheduling)
