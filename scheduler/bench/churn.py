"""Unschedulable and SchedulingWithMixedChurn: the SchedulingBasic measurement with parked pods or churn around it.

Unschedulable: 2,000 pods too large for any node are tried (and parked) first, then
the measured small pods arrive; every placement is a cluster change, and none of them
can help a pod short of room, so the parked pods must not be retried (target: within
10 % of SchedulingBasic, 0 retries).  SchedulingWithMixedChurn: while the measured pods
are scheduled, every `CHURN_EVERY` cycles a node changes (a label flips, as a real
update would; heartbeat-only updates are free already), a running pod of another
scheduler is deleted and another one created (target: within 15 % of SchedulingBasic).
Both print the parked-pod retries seen while measuring.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, List

from scheduler.bench import workloads
from scheduler.bench.runner import new_cluster, peak_rss_mb, place_initial, queue_and_drain, register
from scheduler.config import Config
from scheduler.core.model import Pod
from scheduler.core.parse import parse_pod
from scheduler.sim.world import InMemoryCluster
from scheduler.stack import defaults_from

PARKED = 2000
CHURN_EVERY = 10
"""Cycles between churn rounds (at ~10k pods/s: about 1,000 node updates and 2,000 pod events a second)."""


def _drain_with(world: InMemoryCluster, pods: List[Pod], every: int = 0, churn: Any = None) -> Dict[str, Any]:
    """SchedulingBasic's measurement, calling `churn(round)` every `every` cycles."""
    cycles = 0

    def after_cycle() -> None:
        nonlocal cycles
        cycles += 1
        if every and cycles % every == 0:
            churn(cycles // every)

    return {**queue_and_drain(world, pods, after_cycle).figures(), "cycles": cycles}


def _measured(config: Config, count: int) -> List[Pod]:
    defaults = defaults_from(config)
    return [parse_pod(workloads.pod(f"pod-{i}", config.scheduler_name), defaults) for i in range(count)]


def unschedulable(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    world = new_cluster(config, args.nodes)
    place_initial(world, config, args.initial_pods or 0, args.nodes)
    defaults = defaults_from(config)
    for i in range(PARKED):
        world.create_pod(parse_pod(workloads.pod(f"large-{i}", config.scheduler_name, cpu="64"), defaults))
    world.run()  # every large pod tried once and parked
    measured = args.pods if args.pods_given else 5000
    result = _drain_with(world, _measured(config, measured))
    retries = result.pop("cycles") - result["scheduled"]
    return {"workload": "Unschedulable", "target": "sim", "nodes": args.nodes, "parked_pods": PARKED,
            "pods": measured, **result, "parked_pod_retries": retries, "peak_rss_mb": peak_rss_mb()}


def mixed_churn(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    world = new_cluster(config, args.nodes)
    initial = args.initial_pods if args.initial_pods is not None else 1000
    place_initial(world, config, initial, args.nodes)
    defaults = defaults_from(config)
    for i in range(PARKED // 10):  # some parked pods, to count retries the churn causes
        world.create_pod(parse_pod(workloads.pod(f"large-{i}", config.scheduler_name, cpu="64"), defaults))
    world.run()
    node_updates = pod_events = 0

    def churn(round_: int) -> None:
        nonlocal node_updates, pod_events
        name = f"node-{round_ % args.nodes}"
        world.add_node(workloads.node(name, labels={"churn": str(round_ % 2)}))
        victim = f"default/init-{round_ % max(initial, 1)}"
        if victim in world.pods:
            world.delete_pod(victim)
            pod_events += 1
        world.add_pod(workloads.pod(f"other-{round_}", "default-scheduler", node_name=f"node-{(round_ * 7) % args.nodes}"))
        node_updates += 1
        pod_events += 1

    measured = args.pods if args.pods_given else 5000
    result = _drain_with(world, _measured(config, measured), CHURN_EVERY, churn)
    retries = result.pop("cycles") - result["scheduled"]
    return {"workload": "SchedulingWithMixedChurn", "target": "sim", "nodes": args.nodes, "pods": measured,
            "node_updates": node_updates, "pod_events": pod_events, **result, "parked_pod_retries": retries,
            "peak_rss_mb": peak_rss_mb()}


register("Unschedulable", unschedulable)
register("SchedulingWithMixedChurn", mixed_churn)
