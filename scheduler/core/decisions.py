"""Turning the engine's decisions into effects: what the world is told about each pod.

Kept apart from the loop so the wording of Events and conditions lives in one
place.  A condition is written only when its message changes (retries of an
unschedulable pod would otherwise PATCH its status every time), a nomination
only when the API does not already show it.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from scheduler.core.effects import (
    NORMAL,
    Bind,
    ClearNomination,
    Effect,
    Event,
    Evict,
    Nominate,
    PodRef,
    SetCondition,
    unschedulable_verdict,
)
from scheduler.core.engine import Decision


class DecisionEffects:
    def __init__(self) -> None:
        self._conditions: Dict[str, Tuple[str, str]] = {}  # pod -> (uid, message) of the condition last written

    def forget(self, key: str) -> None:
        """The pod is gone: a pod of the same name later is told everything afresh."""
        self._conditions.pop(key, None)

    def of(self, decision: Decision) -> List[Effect]:
        pod = PodRef.of(decision.pod)
        if decision.node is not None:
            self._conditions.pop(pod.key, None)
            return [Bind(pod, decision.node)]
        effects: List[Effect] = []
        if self._conditions.get(pod.key) != (pod.uid, decision.message):
            self._conditions[pod.key] = (pod.uid, decision.message)
            effects.append(SetCondition(pod, "Unschedulable", decision.message))
        if decision.nominated_node and decision.nominated_node != decision.pod.nominated_node:
            effects.append(Nominate(pod, decision.nominated_node))
        elif decision.pod.nominated_node and not decision.nominated_node:
            effects.append(ClearNomination(pod))  # the nomination ended (re-planned without a new one)
        effects.append(unschedulable_verdict(pod, decision.message))
        if decision.victims:
            effects += _preemption(decision, pod)
        return effects


def _preemption(decision: Decision, pod: PodRef) -> List[Effect]:
    node = decision.nominated_node
    names = ", ".join(v.key for v in decision.victims)
    notes = tuple(f"Preempted by pod {pod.key} (uid {pod.uid}, priority {decision.pod.priority}) on node {node}: "
                  f"this pod's priority {v.priority} is lower" for v in decision.victims)
    return [Event(pod, NORMAL, "Preempting", "Preempting",
                  f"Nominated to {node}; evicting {len(decision.victims)} lower-priority pod(s): {names}"),
            Evict(tuple(PodRef.of(v) for v in decision.victims), node, pod, notes)]
