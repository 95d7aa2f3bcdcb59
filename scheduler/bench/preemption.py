"""PreemptionBasic: a full cluster of low-priority pods, then high-priority pods that each need one victim.

Nodes have 4 cores and hold four 1-core low-priority pods; every preemptor
asks for 1 core, so exactly one victim per preemptor is enough.  The run goes
through the in-memory cluster: victims terminate after `--termination-delay`
simulated seconds (0 by default, so the figure is the engine's own cost, not
waiting).  Target: >= 200 preemptor pods/s at 500 nodes.
"""
from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from typing import Any, Dict

from scheduler.bench import workloads
from scheduler.bench.runner import latency_figures, peak_rss_mb, queue_and_drain, register
from scheduler.config import Config
from scheduler.core.parse import parse_pod
from scheduler.sim.world import InMemoryCluster

LOW_PER_NODE = 4


def preemption_basic(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    config = dataclasses.replace(config, preemption=True)
    grace = getattr(args, "termination_delay", 0.0)
    world = InMemoryCluster.from_config(config)
    for raw in workloads.nodes(args.nodes, cpu="4", memory="16Gi"):
        world.add_node(raw)
    low = args.nodes * LOW_PER_NODE
    for i in range(low):
        world.add_pod(workloads.pod(f"low-{i}", config.scheduler_name, cpu="1", memory="1Gi", priority=1,
                                    node_name=f"node-{i % args.nodes}", created=float(i)), grace=grace)
    world.advance(0.0)
    preemptors = [parse_pod(workloads.pod(f"high-{i}", config.scheduler_name, cpu="1", memory="1Gi", priority=1000),
                            world.defaults) for i in range(args.pods)]
    run = queue_and_drain(world, preemptors)
    bound, durations, elapsed = run.bound, run.durations, run.seconds
    victims = [victim for victim, _ in world.victims]
    per_preemptor = Counter(preemptor for _, preemptor in world.victims)
    per_node = Counter(world.pods[p.key].node_name for p in preemptors if p.key in world.pods and world.pods[p.key].node_name)
    return {
        "workload": "PreemptionBasic",
        "target": "sim",
        "nodes": args.nodes,
        "low_priority_pods": low,
        "preemptors": len(preemptors),
        "preemptors_bound": bound,
        "termination_delay_s": grace,
        "simulated_seconds": round(world.now, 3),
        "seconds": round(elapsed, 3),
        "preemptor_pods_per_s": round(bound / elapsed, 1) if elapsed else 0.0,
        "cpu_ms_per_pod": run.cpu_ms_per_pod(),
        "victims": len(victims),
        "victims_needed": len(preemptors),
        "over_evicted": len(victims) > len(preemptors),
        "duplicate_victims": len(victims) - len(set(victims)),
        "decisions_with_more_than_one_victim": sum(1 for n in per_preemptor.values() if n > 1),
        "max_preemptors_on_one_node": max(per_node.values(), default=0),
        **latency_figures(durations),
        "peak_rss_mb": peak_rss_mb(),
    }


register("PreemptionBasic", preemption_basic)
