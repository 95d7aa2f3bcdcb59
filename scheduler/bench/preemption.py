"""PreemptionBasic: a full cluster of low-priority pods, then high-priority pods that each need one victim.

kube-scheduler's scheduler_perf shape: nodes have 4 cores; `--initial-pods`
low-priority 1-core pods (default 4 per node: the cluster is full) are bound
round-robin; then `--pods` high-priority 1-core preemptors (default one per
node, scheduler_perf's measurePods) arrive.  A preemptor needs exactly one
victim once the free cores are used, so the minimum number of victims is
known and checked.  `--nodes 5000 --initial-pods 20000 --pods 5000` is
scheduler_perf's 5000Nodes case (upstream: "always fails").

The run goes through the in-memory cluster: victims terminate after
`--termination-delay` simulated seconds (0 by default, so the figure is the
engine's own cost, not waiting).  Target: >= 300 preemptors/s at 5,000 nodes.
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
    slots = args.nodes * LOW_PER_NODE
    low = args.initial_pods if args.initial_pods is not None else slots
    if not 0 <= low <= slots:
        from scheduler.cli import UsageError

        raise UsageError(f"--initial-pods {low}: PreemptionBasic nodes hold {LOW_PER_NODE} pods each "
                         f"(expected 0..{slots} for {args.nodes} nodes)")
    count = args.pods if args.pods_given else args.nodes  # scheduler_perf: one preemptor per node
    for i in range(low):
        world.add_pod(workloads.pod(f"low-{i}", config.scheduler_name, cpu="1", memory="1Gi", priority=1,
                                    node_name=f"node-{i % args.nodes}", created=float(i)), grace=grace)
    world.advance(0.0)
    preemptors = [parse_pod(workloads.pod(f"high-{i}", config.scheduler_name, cpu="1", memory="1Gi", priority=1000),
                            world.defaults) for i in range(count)]
    run = queue_and_drain(world, preemptors)
    bound, durations, elapsed = run.bound, run.durations, run.seconds
    victims = [victim for victim, _ in world.victims]
    per_preemptor = Counter(preemptor for _, preemptor in world.victims)
    needed = min(len(preemptors), slots) - (slots - low)  # the free cores first, then one victim each
    needed = max(needed, 0)
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
        "all_preemptors_bound": bound == len(preemptors),
        "victims": len(victims),
        "victims_needed": needed,
        "victims_per_preemptor": round(len(victims) / bound, 3) if bound else 0.0,
        "victims_minimal": len(victims) == needed,
        "over_evicted": len(victims) > needed,
        "duplicate_victims": len(victims) - len(set(victims)),
        "decisions_with_more_than_one_victim": sum(1 for n in per_preemptor.values() if n > 1),
        "max_preemptors_on_one_node": max(per_node.values(), default=0),
        **latency_figures(durations),
        "peak_rss_mb": peak_rss_mb(),
    }


register("PreemptionBasic", preemption_basic)
