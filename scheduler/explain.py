"""`preemptive-scheduler explain POD`: why is this pod pending, or where would it go?  Read-only.

The answer `kubectl describe` cannot give: per node, the first filter that
rejects the pod and why (in the profile's order), the best-scoring nodes, and
the preemption plan the scheduler would start.  The cluster comes from
`--kubeconfig` (the live cluster, nothing is written) or from a simulated
scenario at `--at` seconds (default: the bundled scenario after its last
arrival).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any, Dict, Optional, Tuple

from scheduler.config import Config
from scheduler.core.loop import SchedulingLoop
from scheduler.core.model import Pod
from scheduler.core.whatif import WhatIf


def explain(loop: SchedulingLoop, pod: Pod) -> Dict[str, Any]:
    ask = WhatIf(loop)
    answer: Dict[str, Any] = {
        "pod": pod.key, "priority": pod.priority,
        "requests": {name: amount for name, amount in sorted(pod.requests.items())},
    }
    if pod.node_name:
        answer["bound_to"] = pod.node_name
        return answer
    if pod.scheduling_gates:  # pending, but not attempted at all until every gate is removed
        answer["gated_by"] = list(pod.scheduling_gates)
        answer["would_bind_to"] = None
        answer["message"] = f"gated by {', '.join(pod.scheduling_gates)}: not attempted until its spec.schedulingGates are removed"
        return answer
    decision = ask.decide(pod)
    answer["would_bind_to"] = decision.node
    answer["message"] = "" if decision.node else decision.message
    answer["nodes"] = ask.verdicts(pod)
    answer["top_scores"] = ask.top_scores(pod)
    if decision.victims or decision.nominated_node:
        answer["preemption"] = {"node": decision.nominated_node,
                                "victims": [{"pod": v.key, "priority": v.priority} for v in decision.victims]}
    return answer


def render_text(answer: Dict[str, Any]) -> str:
    requests = ", ".join(f"{k} {v}" for k, v in answer["requests"].items())
    lines = [f"{answer['pod']} (priority {answer['priority']}; requests {requests}):"]
    if "bound_to" in answer:
        return "\n".join(lines + [f"  already bound to {answer['bound_to']}"])
    if "gated_by" in answer:
        return "\n".join(lines + [f"  pending: {answer['message']}"])
    if answer["would_bind_to"]:
        lines.append(f"  would be bound to {answer['would_bind_to']}")
    else:
        lines.append(f"  pending: {answer['message']}")
    if answer["top_scores"]:
        lines.append("  best nodes: " + ", ".join(f"{s['node']} ({s['score']:g})" for s in answer["top_scores"]))
    pre = answer.get("preemption")
    if pre:
        victims = ", ".join(f"{v['pod']} (priority {v['priority']})" for v in pre["victims"]) or "nothing (room already leaving)"
        lines.append(f"  preemption: nominate {pre['node']}, evict {victims}")
    lines.append("  per node:")
    width = max((len(n["node"]) for n in answer["nodes"]), default=4)
    for node in answer["nodes"]:
        verdict = "fits" if node["fits"] else f"{node['rejected_by']}: {node['reason']}"
        lines.append(f"    {node['node']:<{width}}  {verdict}")
    return "\n".join(lines)


def _split(target: str) -> Tuple[str, str]:
    namespace, _, name = target.rpartition("/")
    return namespace or "default", name


def _from_cluster(config: Config, namespace: str, name: str) -> Tuple[SchedulingLoop, Optional[Pod]]:
    from scheduler.cli import UsageError
    from scheduler.core.model import ModelError
    from scheduler.core.parse import parse_pod
    from scheduler.k8s.api import ApiError, KubeApi
    from scheduler.k8s.snapshot import loop_from_cluster
    from scheduler.stack import defaults_from

    try:
        api = KubeApi.from_kubeconfig(config.kubeconfig)
        loop = loop_from_cluster(config, api)
        raw = api.get_pod(namespace, name)
    except ApiError as exc:
        raise UsageError(f"--kubeconfig {config.kubeconfig}: {exc.message or exc}") from None
    if raw is None:
        return loop, None
    try:
        return loop, parse_pod(raw, defaults_from(config))
    except ModelError as exc:
        raise UsageError(f"pod {namespace}/{name} cannot be scheduled as it is: {exc}") from None


def _from_scenario(args: argparse.Namespace, config: Config, key: str) -> Tuple[SchedulingLoop, Optional[Pod]]:
    from scheduler.sim.cluster import Simulator
    from scheduler.sim.scenario import load_scenario

    scenario = load_scenario(args.scenario, config.scheduler_name)
    scenario.until = args.at if args.at is not None else max((p.at for p in scenario.pods), default=0.0)
    simulator = Simulator(scenario, config)
    simulator.run()
    return simulator.loop, simulator.world.pods.get(key)


def main(args: argparse.Namespace, config: Config) -> int:
    from scheduler.cli import UsageError

    namespace, name = _split(args.pod)
    key = f"{namespace}/{name}"
    if config.kubeconfig:
        loop, pod = _from_cluster(config, namespace, name)
    else:
        loop, pod = _from_scenario(args, dataclasses.replace(config), key)
    if pod is None:
        raise UsageError(f"pod {key}: not found")
    answer = explain(loop, pod)
    print(json.dumps(answer, indent=2) if args.json else render_text(answer))
    return 0
