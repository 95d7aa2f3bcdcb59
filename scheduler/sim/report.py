"""Reports of a simulation: a text table for people, one JSON object for tools."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from typing import Any, Dict, List

from scheduler.core.loop import SchedulingLoop
from scheduler.sim.cluster import SimResult


def node_rows(loop: SchedulingLoop) -> List[Dict[str, Any]]:
    """Requested/allocatable per node at the end of the simulation."""
    return loop.node_usage()


def summary(result: SimResult) -> Dict[str, Any]:
    states = Counter(record.state for record in result.pods)
    scheduled = sum(1 for record in result.pods if record.scheduled_at is not None)
    return {
        "pods": len(result.pods),
        "scheduled": scheduled,
        "pending": states.get("Pending", 0),
        "running": states.get("Running", 0),
        "succeeded": states.get("Succeeded", 0),
        "evicted": states.get("Evicted", 0),
        "evictions": len(result.evictions),
        "end_time": round(result.end_time, 3),
    }


def to_json(result: SimResult) -> Dict[str, Any]:
    pods = []
    for record in result.pods:
        entry: Dict[str, Any] = {
            "name": record.name,
            "key": record.key,
            "priority": record.priority,
            "arrived": record.arrived,
            "node": record.node,
            "scheduled_at": record.scheduled_at,
            "state": record.state,
        }
        if record.state == "Pending" or record.evicted_at is not None:
            entry["reason"] = record.reason
        if record.nominated_node:
            entry["nominated_node"] = record.nominated_node
        if record.warnings:
            entry["warnings"] = list(record.warnings)
        pods.append(entry)
    return {
        "scenario": result.scenario,
        "pods": pods,
        "evictions": [asdict(e) for e in result.evictions],
        "nodes": result.nodes,
        "gangs": result.gangs,
        "summary": summary(result),
    }


def render_json(result: SimResult) -> str:
    return json.dumps(to_json(result), indent=2, sort_keys=False)


def _fmt_time(value: Any) -> str:
    return "-" if value is None else f"{value:g}s"


def render_text(result: SimResult) -> str:
    lines = [f"Scenario {result.scenario}: simulated {result.end_time:g}s", ""]
    width = max([28] + [len(r.key) + 1 for r in result.pods])
    lines.append(f"{'POD':<{width}} {'PRIO':>6} {'ARRIVED':>8} {'STATE':<10} {'NODE':<14} {'AT':>7}  REASON")
    for r in result.pods:
        prio = "?" if r.priority is None else str(r.priority)
        reason = r.reason if r.state in ("Pending", "Evicted") else ""
        if r.nominated_node and r.state == "Pending":
            reason = f"nominated to {r.nominated_node}; {reason}"
        lines.append(
            f"{r.key:<{width}} {prio:>6} {_fmt_time(r.arrived):>8} {r.state:<10} {r.node or '-':<14} "
            f"{_fmt_time(r.scheduled_at):>7}  {reason}"
        )
        for warning in r.warnings:
            lines.append(f"{'':<{width}} warning: {warning}")
    if result.evictions:
        lines += ["", "Evictions:"]
        for e in result.evictions:
            lines.append(f"  {e.time:g}s  {e.victim} evicted from {e.node} for {e.preemptor}")
    if result.gangs:
        lines += ["", "Gangs:"]
        for g in result.gangs:
            lines.append(f"  {g['name']}: {g['state']} ({g['scheduled']}/{g['min_available']} min, "
                         f"{g['members']} members) {g.get('message', '')}")
    lines += ["", f"{'NODE':<14} {'PODS':>5} {'CPU REQ':>8} {'MEM REQ':>8} {'MEASURED CPU':>13}"]
    for n in result.nodes:
        measured = "-" if n["measured_cpu"] is None else f"{n['measured_cpu']:.0%}"
        lines.append(f"{n['name']:<14} {n['pods']:>5} {n['cpu_requested']:>8.0%} {n['memory_requested']:>8.0%} {measured:>13}")
    s = summary(result)
    lines += ["", "Summary: {pods} pods, {scheduled} scheduled, {pending} pending, {running} running, "
              "{succeeded} succeeded, {evicted} evicted ({evictions} evictions)".format(**s)]
    return "\n".join(lines)
