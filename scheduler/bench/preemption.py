"""PreemptionBasic: a full cluster of low-priority pods, then high-priority pods that each need one victim.

Nodes have 4 cores and hold four 1-core low-priority pods; every preemptor
asks for 1 core, so exactly one victim per preemptor is enough.  Victims
terminate at once (grace 0) on a simulated clock, so the figure is the
engine's own cost, not waiting.  Target: >= 200 preemptor pods/s at 500 nodes.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any, Dict, List

from scheduler.bench import workloads
from scheduler.bench.runner import latency_figures, peak_rss_mb, register
from scheduler.config import Config
from scheduler.core.model import parse_node, parse_pod
from scheduler.stack import build_loop, defaults_from

LOW_PER_NODE = 4


class StepClock:
    """A clock the benchmark advances itself when only backoff is left."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def preemption_basic(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    config = dataclasses.replace(config, preemption=True)
    clock = StepClock()
    loop = build_loop(config, clock)
    defaults = defaults_from(config)
    for raw in workloads.nodes(args.nodes, cpu="4", memory="16Gi"):
        loop.node_changed(parse_node(raw))
    low = args.nodes * LOW_PER_NODE
    for i in range(low):
        raw = workloads.pod(f"low-{i}", config.scheduler_name, cpu="1", memory="1Gi", priority=1,
                            node_name=f"node-{i % args.nodes}", created=float(i))
        loop.pod_changed(parse_pod(raw, defaults))
    preemptors = [parse_pod(workloads.pod(f"high-{i}", config.scheduler_name, cpu="1", memory="1Gi", priority=1000), defaults)
                  for i in range(args.pods)]
    victims: List[str] = []
    durations: List[float] = []
    bound = 0
    start = time.perf_counter()
    for pod in preemptors:
        loop.pod_changed(pod)
    while bound < len(preemptors):
        t0 = time.perf_counter()
        decisions = loop.cycle()
        if decisions is None:
            wait = loop.queue.next_ready_in()
            if wait is None:
                break  # nothing pending can make progress
            clock.now += max(wait, 1e-3)
            continue
        durations.append(time.perf_counter() - t0)
        for decision in decisions:
            for victim in decision.victims:
                victims.append(victim.key)
                loop.pod_deleted(victim.key)  # grace 0: gone at once
            if decision.node is not None:
                raw = workloads.pod(decision.pod.name, config.scheduler_name, cpu="1", memory="1Gi", priority=1000,
                                    node_name=decision.node)
                loop.pod_changed(parse_pod(raw, defaults))
                bound += 1
    elapsed = time.perf_counter() - start
    return {
        "workload": "PreemptionBasic",
        "target": "sim",
        "nodes": args.nodes,
        "low_priority_pods": low,
        "preemptors": len(preemptors),
        "preemptors_bound": bound,
        "seconds": round(elapsed, 3),
        "preemptor_pods_per_s": round(bound / elapsed, 1) if elapsed else 0.0,
        "victims": len(victims),
        "victims_needed": len(preemptors),
        "over_evicted": len(victims) > len(preemptors),
        "duplicate_victims": len(victims) - len(set(victims)),
        **latency_figures(durations),
        "peak_rss_mb": peak_rss_mb(),
    }


register("PreemptionBasic", preemption_basic)
