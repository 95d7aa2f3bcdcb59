"""SimulateLarge: `simulate` on a generated 5,000-node cluster with 50,000 pods, timed end to end.

The scenario mixes what a busy cluster sees: general workers in three zones and a
tainted GPU pool, waves of pods of mixed priority arriving every 10 s and finishing
after a while, pods too large for any node and GPU pods without the toleration (both
stay pending with an explanation), and a few gangs.  Run it with `--preemption` too.
Targets: <= 60 s and <= 300 MiB, with and without preemption.  `--nodes` and `--pods`
scale it (default 5,000 and 50,000); `scenario(nodes, pods)` returns the raw scenario
for `preemptive-scheduler simulate` (`python -m scheduler.bench.simulate_large > big.yaml`).
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Dict, List

from scheduler.bench.runner import peak_rss_mb, register
from scheduler.config import Config
from scheduler.sim.cluster import Simulator
from scheduler.sim.scenario import parse_scenario

WAVE = 1000
"""Pods per arrival wave; waves come every 10 s."""


def scenario(nodes: int = 5000, pods: int = 50000) -> Dict[str, Any]:
    gpu = max(1, nodes // 10)
    workers = max(1, nodes - gpu)
    node_entries: List[Dict[str, Any]] = [
        {"name": f"worker-{zone}", "count": workers // 3 + (1 if i < workers % 3 else 0), "cpu": 32, "memory": "128Gi",
         "labels": {"topology.kubernetes.io/zone": zone}}
        for i, zone in enumerate(("a", "b", "c"))
    ]
    node_entries.append({"name": "gpu", "count": gpu, "cpu": 64, "memory": "256Gi", "resources": {"nvidia.com/gpu": 8},
                         "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]})
    entries: List[Dict[str, Any]] = []
    for wave in range(max(1, pods // WAVE)):
        at = wave * 10
        size = min(WAVE, pods - wave * WAVE)
        if size <= 0:
            break
        batch = size * 7 // 10
        web = size * 2 // 10
        odd = size - batch - web
        entries += [
            {"name": f"batch-{wave}", "count": batch, "at": at, "duration": 120, "priority": 1 + wave % 5,
             "cpu": "2", "memory": "4Gi"},
            {"name": f"web-{wave}", "count": web, "at": at + 2, "duration": 300, "priority": 100, "cpu": "500m",
             "memory": "1Gi", "labels": {"app": f"web-{wave % 10}"}},
            {"name": f"huge-{wave}", "count": max(1, odd // 3), "at": at + 4, "priority": 50, "cpu": "48"},
            {"name": f"gpu-no-toleration-{wave}", "count": max(1, odd // 3), "at": at + 5, "priority": 50,
             "cpu": "1", "resources": {"nvidia.com/gpu": 1}},
            {"name": f"trainer-{wave}", "count": max(1, odd - 2 * max(1, odd // 3)), "at": at + 6, "duration": 90,
             "priority": 500, "cpu": "4", "memory": "16Gi", "resources": {"nvidia.com/gpu": 1},
             "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]},
        ]
        if wave % 5 == 0:
            entries.append({"name": f"gang-{wave}", "count": 8, "at": at + 7, "duration": 60, "priority": 300,
                            "cpu": "8", "memory": "16Gi", "gang": f"job-{wave}"})
    return {"name": "large", "until": (pods // WAVE) * 10 + 400, "nodes": node_entries, "pods": entries}


def simulate_large(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    pods = args.pods if args.pods_given else 50000
    raw = scenario(args.nodes, pods)
    start, cpu_start = time.perf_counter(), time.process_time()
    simulator = Simulator(parse_scenario(raw, config.scheduler_name), config)
    result = simulator.run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    states: Dict[str, int] = {}
    for pod in result.pods:
        states[pod.state] = states.get(pod.state, 0) + 1
    return {"workload": "SimulateLarge", "target": "sim", "nodes": args.nodes, "pods": len(result.pods),
            "preemption": config.preemption, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
            **{f"pods_{k.lower()}": v for k, v in sorted(states.items())},
            "diagnoses_shared": simulator.loop.engine.diagnoses_shared, "peak_rss_mb": peak_rss_mb()}


register("SimulateLarge", simulate_large)

if __name__ == "__main__":
    import sys

    import yaml

    yaml.safe_dump(scenario(), sys.stdout, sort_keys=False)
