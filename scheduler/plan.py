"""`preemptive-scheduler plan`: would a pod of this size and priority fit on --node now, and why not?

Read-only.  The cluster comes from a scenario (run in the simulator up to
`--at`, default just after its last arrival) or, with `--kubeconfig`, from
the live cluster.  The answer runs the same plugins the scheduler runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any, Dict, Optional

from scheduler.config import Config
from scheduler.core.loop import SchedulingLoop
from scheduler.core.model import PRIORITY_ANNOTATION, Pod
from scheduler.core.parse import parse_pod
from scheduler.core.whatif import WhatIf
from scheduler.stack import defaults_from

PLAN_POD = "plan-what-if"


def what_if_pod(config: Config, index: int = 0, namespace: str = "default") -> Pod:
    """The hypothetical pod: --cpu/--mem are its requests, --priority its priority."""
    raw = {
        "metadata": {"name": f"{PLAN_POD}-{index}", "namespace": namespace,
                     "annotations": {PRIORITY_ANNOTATION: str(config.priority)}},
        "spec": {
            "schedulerName": config.scheduler_name,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": f"{config.cpu_millis}m", "memory": str(config.mem)}}}],
        },
    }
    return parse_pod(raw, defaults_from(config))


def plan(loop: SchedulingLoop, config: Config, gang_size: int = 1) -> Dict[str, Any]:
    from scheduler.cli import UsageError

    if gang_size < 1:
        raise UsageError(f"--gang-size {gang_size}: expected a positive integer")
    ask = WhatIf(loop)
    if not ask.node_names():
        raise UsageError("the cluster has no nodes to ask about")
    pod = what_if_pod(config)
    decision = ask.decide(pod)
    node = config.node or decision.node or decision.nominated_node or ask.node_names()[0]
    try:
        ask.node(node)
    except KeyError:
        raise UsageError(f"--node {node}: no such node (known: {', '.join(ask.node_names()[:10])})") from None
    reasons = ask.node_reasons(pod, node)
    answer: Dict[str, Any] = {
        "node": node,
        "pod": {"cpu_millis": pod.requests.get("cpu", 0), "memory_bytes": pod.requests.get("memory", 0), "priority": pod.priority},
        "fits": not reasons,
        "reasons": reasons,
        "best_node": decision.node,
        "cluster_message": "" if decision.node else decision.message,
    }
    if decision.victims or decision.nominated_node:
        answer["preemption"] = {
            "node": decision.nominated_node,
            "victims": [{"pod": v.key, "priority": v.priority} for v in decision.victims],
        }
        if ask.load_aware:
            answer["preemption"]["utilisation"] = ask.eviction_effect(pod, decision.nominated_node, decision.victims)
    if gang_size > 1:
        placed = ask.gang([what_if_pod(config, index) for index in range(gang_size)])
        nodes: Dict[str, int] = {}
        for _, where in placed:
            nodes[where] = nodes.get(where, 0) + 1
        answer["gang"] = {"size": gang_size, "fit": len(placed), "fits": len(placed) == gang_size, "nodes": nodes}
    if ask.load_aware:
        answer["utilisation"] = [{**row, "alpha": config.alpha} for row in ask.utilisation()]
    return answer


def render_text(answer: Dict[str, Any]) -> str:
    pod = answer["pod"]
    lines = [f"A pod requesting {pod['cpu_millis']}m cpu, {pod['memory_bytes']} bytes memory, priority {pod['priority']}:"]
    if answer["fits"]:
        lines.append(f"  fits on {answer['node']}")
    else:
        lines.append(f"  does NOT fit on {answer['node']}: " + "; ".join(answer["reasons"]))
    if answer["best_node"]:
        lines.append(f"  the scheduler would choose {answer['best_node']}")
    else:
        lines.append(f"  anywhere in the cluster: {answer['cluster_message']}")
    if "preemption" in answer:
        pre = answer["preemption"]
        lines.append(f"  preemption would nominate {pre['node']} and evict {len(pre['victims'])} pod(s):")
        lines += [f"    - {v['pod']} (priority {v['priority']})" for v in pre["victims"]]
        for resource, change in pre.get("utilisation", {}).items():
            if change["now"] is not None:
                lines.append(f"    {resource} utilisation of {pre['node']}: {change['now']:.0%} now, "
                             f"{change['after']:.0%} after the evictions and this pod")
    gang = answer.get("gang")
    if gang:
        verdict = "fits" if gang["fits"] else f"does NOT fit (only {gang['fit']} of {gang['size']})"
        spread = ", ".join(f"{node} x{count}" for node, count in sorted(gang["nodes"].items()))
        lines.append(f"  a gang of {gang['size']} such pods {verdict}" + (f": {spread}" if spread else ""))
    for row in answer.get("utilisation", []):
        def pct(v: Optional[float]) -> str:
            return "unknown" if v is None else f"{v:.0%}"
        lines.append(f"  {row['node']}: cpu {pct(row['cpu'])}, memory {pct(row['memory'])} (alpha {row['alpha']:.0%})")
    return "\n".join(lines)


def _loop_from_scenario(args: argparse.Namespace, config: Config) -> SchedulingLoop:
    from scheduler.sim.cluster import Simulator
    from scheduler.sim.scenario import load_scenario

    # --cpu/--mem describe the what-if pod here; the cluster's own pods keep the built-in defaults
    cluster_config = dataclasses.replace(config, cpu=Config.cpu, mem=Config.mem)
    scenario = load_scenario(args.scenario, config.scheduler_name)
    last_arrival = max((p.at for p in scenario.pods), default=0.0)
    scenario.until = args.at if getattr(args, "at", None) is not None else last_arrival
    simulator = Simulator(scenario, cluster_config)
    simulator.run()
    return simulator.loop


def main(args: argparse.Namespace, config: Config) -> int:
    if config.kubeconfig:
        from scheduler.cli import UsageError
        from scheduler.k8s.api import ApiError
        from scheduler.k8s.snapshot import loop_from_cluster

        try:
            loop = loop_from_cluster(dataclasses.replace(config, cpu=Config.cpu, mem=Config.mem))
        except ApiError as exc:
            raise UsageError(f"--kubeconfig {config.kubeconfig}: {exc}") from None
    else:
        loop = _loop_from_scenario(args, config)
    answer = plan(loop, config, args.gang_size)
    print(json.dumps(answer, indent=2) if args.json else render_text(answer))
    return 0

