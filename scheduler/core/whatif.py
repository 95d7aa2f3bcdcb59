"""Read-only questions about a hypothetical pod, for `plan` (and operators asking "why not here?").

Every answer runs the scheduler's own plugins and preemption on the current
state and leaves that state as it found it; answers are plain values.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from scheduler.core.engine import Decision
from scheduler.core.loop import SchedulingLoop
from scheduler.core.model import Node, Pod
from scheduler.core.plugins.load import LoadAware
from scheduler.core.plugins.nodename import NodeName


class WhatIf:
    def __init__(self, loop: SchedulingLoop) -> None:
        self.loop = loop
        self.state = loop.state
        self.engine = loop.engine

    def node(self, name: str) -> Node:
        """The live node of that name, or KeyError."""
        node = self.state.node(name)
        if node is None:
            raise KeyError(name)
        return node

    def node_names(self) -> List[str]:
        return sorted(n.name for n in self.state.live_nodes())

    @property
    def load_aware(self) -> bool:
        return self.engine.profile.filter_named(LoadAware.name) is not None

    def node_reasons(self, pod: Pod, node: str) -> List[str]:
        """Every filter's objection to this one node (not only the first, unlike the pod-level message)."""
        row = self.state.row_of[node]
        reasons: List[str] = []
        for plugin in self.engine.all_filters:
            if plugin.name == NodeName.name or not plugin.applies(pod):
                continue
            if not plugin.filter(pod, self.state)[row]:
                reasons.extend(sorted(plugin.explain(pod, self.state, np.array([row])).keys()))
        return reasons

    def verdicts(self, pod: Pod, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Per live node: the first filter of the profile that rejects the pod there, and why (kube's order).
        With `limit`, only the first `limit` nodes by name (the others are not explained at all)."""
        state = self.state
        rows = [state.row_of[name] for name in self.node_names()[:limit]]
        out: Dict[int, Dict[str, Any]] = {row: {"node": state.name_of(row), "fits": True} for row in rows}
        remaining = set(rows)
        for plugin in self.engine.all_filters:
            if not remaining:
                break
            if not plugin.applies(pod):
                continue
            mask = plugin.filter(pod, state)
            rejected = sorted(row for row in remaining if not mask[row])
            for row in rejected:
                reason = next(iter(plugin.explain(pod, state, np.array([row]))), plugin.default_reason)
                out[row].update(fits=False, rejected_by=plugin.name, reason=reason)
            remaining.difference_update(rejected)
        return [out[row] for row in rows]

    def top_scores(self, pod: Pod, count: int = 5) -> List[Dict[str, Any]]:
        """The best feasible nodes by the profile's weighted score, best first."""
        rows = np.flatnonzero(self.engine.feasible(pod))
        if not len(rows):
            return []
        scores = self.engine.score(pod, rows)
        best = sorted(zip(scores.tolist(), rows.tolist()), key=lambda pair: (-pair[0], pair[1]))[:count]
        return [{"node": self.state.name_of(int(row)), "score": round(float(score), 2)} for score, row in best]

    def decide(self, pod: Pod) -> Decision:
        """Where the scheduler would put the pod now, or the preemption it would start (nothing is kept)."""
        decision = self.loop.preemption.decide(pod)
        self.loop.nominations.pop(pod.key)
        for victim in decision.victims:
            self.state.unmark_evicting(victim.key)
        return decision

    def utilisation(self) -> List[Dict[str, Any]]:
        """Measured utilisation per node (None: unknown)."""
        return [{"node": row["name"], "cpu": row["measured_cpu"], "memory": row["measured_memory"]}
                for row in self.state.usage()]

    def eviction_effect(self, pod: Pod, node: str, victims: List[Pod]) -> Dict[str, Any]:
        """Estimated utilisation of `node` now, and after evicting the victims and placing the pod."""
        state = self.state
        row = state.row_of[node]
        out: Dict[str, Any] = {}
        for i, resource in enumerate(("cpu", "memory")):
            measured = float(state.load.util[i, row])
            if np.isnan(measured):
                out[resource] = {"now": None, "after": None}
                continue
            inverse = float(state.inv_allocatable[state.column[resource], row])
            now = measured + float(state.load.since_sample[i, row]) * inverse
            change = pod.requests.get(resource, 0) - sum(v.requests.get(resource, 0) for v in victims)
            out[resource] = {"now": round(now, 4), "after": round(now + change * inverse, 4)}
        return out

    def gang(self, pods: List[Pod]) -> List[Tuple[Pod, str]]:
        """Which of these pods would fit all together right now (placed tentatively, then undone)."""
        placed: List[Tuple[Pod, str]] = []
        try:
            for pod in pods:
                row = self.engine.select(pod, self.engine.feasible(pod))
                if row is None:
                    continue
                node = self.state.name_of(row)
                self.engine.assume(pod, node)
                placed.append((pod, node))
        finally:
            for pod, _ in placed:
                self.state.forget(pod.key)
        return placed
