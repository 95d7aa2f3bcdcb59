"""`preemptive-scheduler bench`: run a workload and print throughput, latency and memory.

Targets (this 2-core machine): SchedulingBasic >= 5000 pods/s at 5000 nodes in
the simulator; 500 nodes no more than 2x faster than 5000.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from scheduler.bench import workloads
from scheduler.config import Config
from scheduler.core.model import CPU, NodeUtilisation, Pod
from scheduler.core.parse import parse_pod
from scheduler.progress import Progress
from scheduler.sim.world import InMemoryCluster
from scheduler.stack import defaults_from


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, 1)


def latency_figures(durations: List[float]) -> Dict[str, float]:
    if not durations:
        return {"p50_decision_ms": 0.0, "p99_decision_ms": 0.0}
    values = np.array(durations) * 1000.0
    return {"p50_decision_ms": round(float(np.percentile(values, 50)), 4),
            "p99_decision_ms": round(float(np.percentile(values, 99)), 4)}


def new_cluster(config: Config, node_count: int, load: bool = False) -> InMemoryCluster:
    """SchedulingBasic nodes in an in-memory cluster; with `load`, each gets a fresh 10-60 % utilisation sample."""
    world = InMemoryCluster.from_config(config, load_enabled=load)
    for raw in workloads.nodes(node_count):
        world.add_node(raw)
    world.advance(0.0)
    if load:
        rng = np.random.default_rng(0)
        samples = rng.uniform(0.1, 0.6, size=(node_count, 2))
        world.sample_load({f"node-{i}": NodeUtilisation(float(c), float(m), 0.0) for i, (c, m) in enumerate(samples)})
    return world


def place_initial(world: InMemoryCluster, config: Config, count: int, node_count: int, **pod_args: Any) -> None:
    for i in range(count):
        world.add_pod(workloads.pod(f"init-{i}", config.scheduler_name, node_name=f"node-{i % node_count}", **pod_args))
    world.advance(world.now)


@dataclass
class Drained:
    """One measured run: wall and CPU seconds (this process), every cycle's duration, pods bound."""

    seconds: float
    cpu_seconds: float
    durations: List[float]
    bound: int

    def cpu_ms_per_pod(self) -> float:
        """CPU per bound pod: on a shared machine this says more than wall-clock throughput."""
        return round(self.cpu_seconds * 1000 / self.bound, 4) if self.bound else 0.0

    def figures(self) -> Dict[str, Any]:
        """What every engine workload prints about the measured pods."""
        return {
            "scheduled": self.bound,
            "seconds": round(self.seconds, 3),
            "throughput_pods_per_s": round(self.bound / self.seconds, 1) if self.seconds else 0.0,
            "cpu_ms_per_pod": self.cpu_ms_per_pod(),
            # the scheduler's own share: cycles only, without the in-memory API answering and echoing each binding
            "engine_pods_per_s": round(self.bound / sum(self.durations), 1) if self.durations else 0.0,
            **latency_figures(self.durations),
        }


def queue_and_drain(world: InMemoryCluster, pods: List[Pod], after_cycle: Optional[Callable[[], None]] = None) -> Drained:
    """Create the pods, schedule until nothing more happens (calling `after_cycle()` after each decision)."""
    durations: List[float] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for pod in pods:
        world.create_pod(pod)
    progress = Progress("bench")
    world.run(cycle_times=durations, progress=lambda: progress.update(
        lambda: f"{len(world.bindings)}/{len(pods)} pods bound"), after_cycle=after_cycle)
    progress.done()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return Drained(seconds, cpu, durations, sum(1 for pod in pods if world.bindings.get(pod.key)))


def measure_basic(args: argparse.Namespace, config: Config, load: bool = False) -> Dict[str, Any]:
    """kube's SchedulingBasic: 32-core/128Gi nodes, initial pods, then the measured small pods."""
    initial = args.initial_pods if args.initial_pods is not None else 1000
    world = new_cluster(config, args.nodes, load)
    place_initial(world, config, initial, args.nodes)
    defaults = defaults_from(config)
    parse_start = time.perf_counter()
    pods = [parse_pod(workloads.pod(f"pod-{i}", config.scheduler_name), defaults) for i in range(args.pods)]
    parse_seconds = time.perf_counter() - parse_start
    run = queue_and_drain(world, pods)
    return {
        "initial_pods": initial,
        **run.figures(),
        "parse_pods_per_s": round(args.pods / parse_seconds, 1) if parse_seconds else 0.0,
        **placement_quality(world),
    }


def placement_quality(world: InMemoryCluster) -> Dict[str, float]:
    """How evenly the pods were spread (least-allocated's aim): the spread of requested cpu across nodes,
    to compare scoring every feasible node with scoring a sample (--percentage-of-nodes-to-score)."""
    used = {name: 0 for name in world.nodes}
    for pod in world.pods.values():
        if pod.node_name in used:
            used[pod.node_name] += pod.requests.get(CPU, 0)
    fractions = np.array([used[name] / max(node.allocatable.get(CPU, 0), 1) for name, node in world.nodes.items()]
                         or [0.0])
    return {"node_cpu_requested_mean": round(float(fractions.mean()), 4),
            "node_cpu_requested_stddev": round(float(fractions.std()), 4),
            "node_cpu_requested_max": round(float(fractions.max()), 4)}


def scheduling_basic(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    result = measure_basic(args, config)
    return {"workload": "SchedulingBasic", "target": "sim", "nodes": args.nodes, "pods": args.pods, **result,
            "peak_rss_mb": peak_rss_mb()}


WORKLOADS: Dict[str, Callable[[argparse.Namespace, Config], Dict[str, Any]]] = {
    "SchedulingBasic": scheduling_basic,
}


def register(name: str, func: Callable[[argparse.Namespace, Config], Dict[str, Any]]) -> None:
    WORKLOADS[name] = func


def render(result: Dict[str, Any]) -> str:
    return "\n".join(f"{key:>24}: {value}" for key, value in result.items())


def main(args: argparse.Namespace, config: Config) -> int:
    from scheduler.cli import UsageError

    _load_optional_workloads()
    key = args.workload if args.target == "sim" else f"{args.workload}@{args.target}"
    func = WORKLOADS.get(key)
    if func is None:
        raise UsageError(f"--workload {args.workload} --target {args.target}: unknown (known: {', '.join(sorted(WORKLOADS))})")
    args.pods_given = args.pods is not None
    if args.pods is None:
        args.pods = DEFAULT_PODS
    for name in ("nodes", "pods", "gangs", "gang_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(args, name)}: expected a positive integer")
    result = func(args, config)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


DEFAULT_PODS = 10000


def _load_optional_workloads() -> None:
    """Workloads of other modules register themselves on import."""
    import importlib

    for module in ("scheduler.bench.preemption", "scheduler.bench.gangs", "scheduler.bench.standin",
                   "scheduler.bench.standin_parked", "scheduler.bench.load",
                   "scheduler.bench.constraints", "scheduler.bench.churn", "scheduler.bench.simulate_large"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
