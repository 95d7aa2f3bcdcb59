"""Effects: everything the core asks of the world, as immutable values.

`SchedulingLoop.cycle()` and `SchedulingLoop.housekeeping()` return these; the
daemon's actuator (against the Kubernetes API) and the in-memory cluster
(simulate, bench, tests) are the only two executors, and they give every effect
the same meaning:

- `Bind`: POST the binding; on success post a `Scheduled` Event.  The answer comes
  back through `SchedulingLoop.bind_result`.
- `Evict`: evict `victims` in order through the Eviction API; stop at the first
  refusal (the rest are reported as not attempted), so a plan is never executed
  beyond what the API accepted.  Each accepted eviction posts its entry of
  `notes` as a `Preempted` (or, without a preemptor, `Evicted`) Event on the victim; each answer comes back through
  `SchedulingLoop.eviction_result`.
- `SetCondition`: set the pod's `PodScheduled` condition to False with this reason
  and message (kept as is when neither changed).
- `Nominate` / `ClearNomination`: set or clear `status.nominatedNodeName`.
- `Event`: post a Kubernetes Event about the pod.
- `UpdatePodGroupStatus`: write a PodGroup's status (phase, scheduled, running,
  succeeded), so `kubectl get podgroups` shows how a gang is doing.

Effects about one pod are executed in the order given; effects about different
pods may run concurrently.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple, Union

from scheduler.core.model import Pod

NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class PodRef:
    """Which pod: the uid makes sure a re-created pod of the same name is never mistaken for it."""

    namespace: str
    name: str
    uid: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def of(cls, pod: Pod) -> PodRef:
        return cls(pod.namespace, pod.name, pod.uid)


@dataclass(frozen=True)
class Bind:
    pod: PodRef
    node: str


@dataclass(frozen=True)
class Evict:
    victims: Tuple[PodRef, ...]
    node: str
    preemptor: Optional[PodRef]  # None: not a preemption (a gang rolled back)
    notes: Tuple[str, ...]  # per victim: the Event message posted on it once evicted

    def note(self, victim: PodRef) -> str:
        return self.notes[self.victims.index(victim)]

    @property
    def pod(self) -> PodRef:
        """The pod this effect is ordered with: the preemptor (its nomination goes first), else the victim."""
        return self.preemptor or self.victims[0]


@dataclass(frozen=True)
class SetCondition:
    pod: PodRef
    reason: str
    message: str


@dataclass(frozen=True)
class Nominate:
    pod: PodRef
    node: str


@dataclass(frozen=True)
class ClearNomination:
    pod: PodRef


@dataclass(frozen=True)
class Event:
    pod: PodRef
    type: str  # NORMAL or WARNING
    reason: str
    action: str
    message: str


def unschedulable_verdict(pod: PodRef, message: str) -> Event:
    """The Event of one attempt that found no node: there is exactly one per such attempt (the
    condition is written only when it changes), so it is what counts attempts."""
    return Event(pod, WARNING, "FailedScheduling", "Scheduling", message)


def is_unschedulable_verdict(effect: object) -> bool:
    return isinstance(effect, Event) and effect.reason == "FailedScheduling" and effect.action == "Scheduling"


@dataclass(frozen=True)
class UpdatePodGroupStatus:
    namespace: str
    name: str
    phase: str  # scheduler-plugins phases: Pending, Scheduling, Scheduled, Running, Failed
    scheduled: int
    running: int
    succeeded: int

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


Effect = Union[Bind, Evict, SetCondition, Nominate, ClearNomination, Event, UpdatePodGroupStatus]


def subject(effect: Effect) -> str:
    """What an effect is about, for ordering: effects with the same subject run in order."""
    if isinstance(effect, UpdatePodGroupStatus):
        return f"podgroup:{effect.key}"
    return effect.pod.key


@dataclass(frozen=True)
class BindResult:
    """What became of a `Bind`: `ok`, or why not (`status` 0: no answer).

    `uncertain`: the binding may have been applied and the pod could not be re-read."""

    pod: PodRef
    node: str
    ok: bool
    status: int = 0
    message: str = ""
    retry_after: float = 0.0
    uncertain: bool = False


@dataclass(frozen=True)
class EvictionResult:
    """What became of one victim of an `Evict`: evicted (or already gone), or refused (429: a budget)."""

    victim: PodRef
    preemptor: Optional[PodRef]
    ok: bool
    status: int = 0
    message: str = ""
    aborted: bool = False  # not attempted: an earlier eviction of the same plan failed

    @property
    def refused(self) -> bool:
        return self.status == 429


NOT_ATTEMPTED = "not attempted: an earlier eviction of this plan was refused"


def evict_in_order(plan: Evict, evict_one: Callable[[PodRef], EvictionResult]) -> List[EvictionResult]:
    """An `Evict`'s semantics, for both executors: evict the victims in order with `evict_one` (which
    reports each answer itself); at the first that fails, stop, and return the rest as not attempted."""
    for i, victim in enumerate(plan.victims):
        if not evict_one(victim).ok:
            return [EvictionResult(rest, plan.preemptor, False, aborted=True, message=NOT_ATTEMPTED)
                    for rest in plan.victims[i + 1:]]
    return []
