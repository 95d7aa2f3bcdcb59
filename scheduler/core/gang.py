"""Gang scheduling: the pods of a group are placed all together or not at all.

A pod joins gang `<namespace>/<group>` with the label
`scheduling.x-k8s.io/pod-group: <group>`; the minimum comes from a PodGroup
object of that name (`spec.minMember`, `spec.scheduleTimeoutSeconds`) when one
exists, else from the members' `scheduling.x-k8s.io/min-available`
annotation.  The queue hands the pending members over as one unit.

One attempt is a transaction on the current state: members are assumed one
after another; if at least the missing minimum fit, every placed member is
kept (and bound by the caller), otherwise every assumption is undone and
nothing is bound.  With preemption on, victims are planned for the whole gang
at once and nothing is evicted unless the minimum can then be placed.

Starvation: the most important blocked gang (highest priority, then oldest)
holds the room its members would use as nominations, so pods of equal or
lower priority cannot take it; everything else is backfilled.  Only one gang
holds room at a time, so two gangs can never deadlock on partial holds.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from scheduler.core.engine import Decision, Engine
from scheduler.core.framework import UNRESOLVABLE, UNSCHEDULABLE
from scheduler.core.model import INT32_MAX, MIN_AVAILABLE_ANNOTATION, Pod
from scheduler.core.nomination import Nomination, Nominations
from scheduler.core.preemption import Preemption
from scheduler.core.queue import Unit
from scheduler.core.untrusted import is_int, preview

log = logging.getLogger(__name__)

WAITING, SCHEDULED, RUNNING, INVALID, ROLLED_BACK = "Waiting", "Scheduled", "Running", "Invalid", "RolledBack"
_MAX_MIN_AVAILABLE_TEXT = 32
"""An annotation longer than this cannot be an int32 (and int() of huge text is slow)."""


@dataclass(frozen=True)
class GangSpec:
    min_available: int
    timeout: float
    source: str
    error: str = ""


@dataclass
class Gang:
    name: str
    members: Dict[str, Pod] = field(default_factory=dict)
    succeeded: Set[str] = field(default_factory=set)  # finished members still count toward the minimum
    below_min_since: Optional[float] = None
    state: str = WAITING
    message: str = ""


@dataclass
class PodGroupInfo:
    min_member: Optional[int]
    timeout: Optional[float]
    error: str = ""


def _valid_timeout(value: Any) -> bool:
    """scheduleTimeoutSeconds: a finite, positive number of seconds within int32 (as the CRD declares it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 < value <= INT32_MAX  # NaN fails both comparisons; +inf fails the upper bound


def parse_podgroup(obj: Any) -> PodGroupInfo:
    """PodGroup JSON -> its minimum and timeout.  Never raises: a bad object is reported in `error`."""
    spec = obj.get("spec") if isinstance(obj, Mapping) else None
    if not spec:
        spec = {}
    if not isinstance(spec, Mapping):
        return PodGroupInfo(None, None, f"PodGroup spec {preview(spec)} is not an object")
    raw_min, raw_timeout = spec.get("minMember"), spec.get("scheduleTimeoutSeconds")
    if not (is_int(raw_min) and 1 <= raw_min <= INT32_MAX):
        return PodGroupInfo(None, None, f"PodGroup spec.minMember {preview(raw_min)} is not a positive integer "
                                        f"(expected 1..{INT32_MAX})")
    if raw_timeout is not None and not _valid_timeout(raw_timeout):
        return PodGroupInfo(raw_min, None, f"PodGroup spec.scheduleTimeoutSeconds {preview(raw_timeout)} is not a "
                                           f"positive number (expected seconds in (0, {INT32_MAX}])")
    return PodGroupInfo(raw_min, None if raw_timeout is None else float(raw_timeout))


def min_available(raw: Any) -> Optional[int]:
    """The min-available annotation as an integer in 1..INT32_MAX, or None when it is anything else."""
    text = str(raw).strip()
    if len(text) > _MAX_MIN_AVAILABLE_TEXT:
        return None
    try:
        minimum = int(text)
    except ValueError:
        return None
    return minimum if 1 <= minimum <= INT32_MAX else None


class GangRegistry:
    """Every known gang, its members (pending and placed) and its PodGroup, if any."""

    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout
        self.gangs: Dict[str, Gang] = {}
        self.podgroups: Dict[str, PodGroupInfo] = {}
        self._member_of: Dict[str, str] = {}

    def track(self, pod: Pod) -> None:
        gang = self.gangs.setdefault(pod.gang_name, Gang(pod.gang_name))
        gang.members[pod.key] = pod
        self._member_of[pod.key] = pod.gang_name

    def gang_of(self, pod_key: str) -> str:
        return self._member_of.get(pod_key, "")

    def untrack(self, pod_key: str, succeeded: bool = False) -> None:
        """A member left: deleted or failed (the gang may fall below its minimum), or succeeded (it did its part)."""
        name = self._member_of.pop(pod_key, "")
        gang = self.gangs.get(name)
        if gang is None:
            return
        gang.members.pop(pod_key, None)
        if succeeded:
            gang.succeeded.add(pod_key)
        if not gang.members and gang.name not in self.podgroups:
            del self.gangs[gang.name]

    def podgroup_changed(self, kind: str, key: str, obj: Mapping[str, Any]) -> None:
        if kind == "DELETED":
            self.podgroups.pop(key, None)
        else:
            self.podgroups[key] = parse_podgroup(obj)

    def spec(self, gang: Gang) -> GangSpec:
        group = self.podgroups.get(gang.name)
        if group is not None:
            if group.error:
                return GangSpec(0, self.default_timeout, "PodGroup", group.error)
            return GangSpec(int(group.min_member or 1), group.timeout or self.default_timeout, "PodGroup")
        values = {str(p.annotations[MIN_AVAILABLE_ANNOTATION]) for p in gang.members.values()
                  if p.annotations.get(MIN_AVAILABLE_ANNOTATION) is not None}
        if not values:
            return GangSpec(0, self.default_timeout, "annotation",
                            f"no {MIN_AVAILABLE_ANNOTATION} annotation and no PodGroup named {gang.name}")
        if len(values) > 1:
            return GangSpec(0, self.default_timeout, "annotation",
                            f"members disagree on {MIN_AVAILABLE_ANNOTATION}: {', '.join(sorted(map(str, values)))}")
        raw = values.pop()
        minimum = min_available(raw)
        if minimum is None:
            return GangSpec(0, self.default_timeout, "annotation",
                            f"{MIN_AVAILABLE_ANNOTATION}={preview(raw)} is not a positive integer (expected 1..{INT32_MAX})")
        return GangSpec(minimum, self.default_timeout, "annotation")


class GangScheduler:
    """The loop's handler for gang units."""

    def __init__(self, engine: Engine, nominations: Nominations, preemption: Preemption, clock: Callable[[], float],
                 default_timeout: float = 60.0) -> None:
        self.engine = engine
        self.preemption = preemption
        self.state = engine.state
        self.nominations = nominations
        self.clock = clock
        self.registry = GangRegistry(default_timeout)
        self.holding: Optional[Tuple[str, int, float]] = None  # (gang, priority, queued_at) that holds room
        self._last_expiry = float("-inf")

    # ------------------------------------------------------------ bookkeeping
    def placed_members(self, gang: Gang) -> List[Pod]:
        return [p for key, p in gang.members.items() if key in self.state.placed]

    def counted(self, gang: Gang) -> int:
        """Members that count toward the minimum: placed ones, plus those that already succeeded."""
        return len(self.placed_members(gang)) + len(gang.succeeded)

    def refresh(self, gang_name: str) -> None:
        """Recompute a gang's state after a member changed; start or stop its below-minimum clock."""
        gang = self.registry.gangs.get(gang_name)
        if gang is None:
            return
        spec = self.registry.spec(gang)
        placed = self.counted(gang)
        if spec.error:
            gang.state, gang.message = INVALID, spec.error
            return
        if placed >= spec.min_available:
            gang.below_min_since = None
            gang.state = RUNNING if all(not self.state.placed[p.key].assumed for p in self.placed_members(gang)) else SCHEDULED
            gang.message = ""
            self._release_hold(gang.name)
        elif placed > 0:
            if gang.below_min_since is None:
                gang.below_min_since = self.clock()
            gang.state = WAITING
            gang.message = f"only {placed} of minimum {spec.min_available} members placed"

    def podgroup_status(self, key: str) -> Tuple[str, int, int, int]:
        """(phase, scheduled, running, succeeded) of a gang in scheduler-plugins' PodGroup terms."""
        gang = self.registry.gangs.get(key)
        if gang is None:
            return ("Pending", 0, 0, 0)
        placed = [self.state.placed[k] for k in gang.members if k in self.state.placed]
        running = sum(1 for p in placed if not p.assumed)
        phase = {RUNNING: "Running", SCHEDULED: "Scheduled", ROLLED_BACK: "Failed"}.get(gang.state)
        if phase is None:
            phase = "Scheduling" if placed else "Pending"
        return (phase, len(placed), running, len(gang.succeeded))

    @staticmethod
    def priority_mismatch(pending: List[Pod]) -> str:
        """Why members of one gang unit disagree on priority ("" when they agree)."""
        priorities = sorted({p.priority for p in pending})
        if len(priorities) < 2:
            return ""
        return (f"gang {pending[0].gang_name}: members have different priorities {priorities}; "
                f"the gang is queued at the highest, {priorities[-1]}")

    def expire(self) -> List[Tuple[Gang, List[Pod]]]:
        """Gangs stuck below their minimum past the timeout, with the placed members to evict (rollback)."""
        now = self.clock()
        rollbacks: List[Tuple[Gang, List[Pod]]] = []
        if now - self._last_expiry < 1.0:
            return rollbacks
        self._last_expiry = now
        for gang in list(self.registry.gangs.values()):
            if gang.below_min_since is None:
                continue
            spec = self.registry.spec(gang)
            if now - gang.below_min_since < spec.timeout:
                continue
            members = self.placed_members(gang)
            gang.below_min_since = None
            if not members or self.counted(gang) >= spec.min_available:
                continue
            gang.state = ROLLED_BACK
            gang.message = (f"gang {gang.name}: only {len(members)} of minimum {spec.min_available} members placed "
                            f"after {spec.timeout:g}s; evicting them so the gang can be placed whole")
            log.info(gang.message)
            for member in members:
                self.state.mark_evicting(member.key)
            rollbacks.append((gang, members))
        return rollbacks

    def _release_hold(self, gang_name: str) -> None:
        if self.holding is not None and self.holding[0] == gang_name:
            self.holding = None
            for nomination in self.nominations.of_gang(gang_name):
                if not nomination.victims:
                    self.nominations.pop(nomination.pod.key)

    # ------------------------------------------------------------ one attempt
    def schedule(self, unit: Unit) -> List[Decision]:
        """Decide for a gang unit as one transaction: its minimum placed (assumed), or nothing."""
        pending = unit.pods()
        name = pending[0].gang_name
        gang = self.registry.gangs.get(name) or Gang(name)
        spec = self.registry.spec(gang)
        if spec.error:
            gang.state, gang.message = INVALID, spec.error
            return [self._fail(p, f"gang {name}: {spec.error}; waiting", UNRESOLVABLE) for p in pending]
        placed_before = self.counted(gang)
        need = spec.min_available - placed_before
        if need <= 0:
            decisions = [self._place_one(p) for p in pending]  # beyond the minimum: ordinary pods of the gang
            self.refresh(name)
            return decisions
        present = placed_before + len(pending)
        if present < spec.min_available:
            gated = sum(1 for p in gang.members.values() if p.scheduling_gates)  # held out of the unit until ungated
            held = f" ({gated} more gated by spec.schedulingGates)" if gated else ""
            gang.state, gang.message = WAITING, f"{present}/{spec.min_available} members present{held}, waiting"
            return [self._fail(p, f"gang {name}: {gang.message}") for p in pending]
        placements = self._try_place(pending)
        if len(placements) >= need:
            decisions = [Decision(p, node=node) for p, node in placements]
            placed_keys = {p.key for p, _ in placements}
            decisions += [self._fail(p, f"gang {name}: member does not fit yet; the gang's minimum is placed")
                          for p in pending if p.key not in placed_keys]
            self.refresh(name)
            self._release_hold(name)
            return decisions
        self._undo(placements)
        message = f"gang {name}: only {len(placements)} of {len(pending)} pending members fit (need {need})"
        preempted = self._preempt(pending, need, message)
        if preempted is not None:
            return preempted
        self._hold_room(unit, pending, placements)
        gang.state, gang.message = WAITING, message
        return [self._fail(p, message) for p in pending]

    def _place_one(self, pod: Pod) -> Decision:
        decision = self.preemption.decide(pod)
        if decision.node is not None:
            self.engine.assume(pod, decision.node)
        return decision

    def _try_place(self, pending: List[Pod]) -> List[Tuple[Pod, str]]:
        placements = []
        for pod in pending:
            row = self.engine.select(pod, self.engine.feasible(pod))
            if row is None:
                continue
            node = self.state.name_of(row)
            self.engine.assume(pod, node)
            placements.append((pod, node))
        return placements

    def _undo(self, placements: List[Tuple[Pod, str]]) -> None:
        for pod, _ in placements:
            self.state.forget(pod.key)

    def _fail(self, pod: Pod, message: str, status: str = UNSCHEDULABLE) -> Decision:
        return Decision(pod, message=message, status=status)

    # ------------------------------------------------------------ holding room against starvation
    def _hold_room(self, unit: Unit, pending: List[Pod], placements: List[Tuple[Pod, str]]) -> None:
        """The most important blocked gang keeps the room its fitting members would use."""
        name = pending[0].gang_name
        rank = (unit.priority, -unit.queued_at)
        if self.holding is not None and self.holding[0] != name:
            held_rank = (self.holding[1], -self.holding[2])
            if held_rank >= rank and self.holding[0] in self.registry.gangs:
                return
            self._release_hold(self.holding[0])
        self.holding = (name, unit.priority, unit.queued_at)
        now = self.clock()
        for pod, node in placements:
            if self.nominations.get(pod.key) is None:
                self.nominations.add(Nomination(pod, node, now))

    # ------------------------------------------------------------ gang preemption
    def _preempt(self, pending: List[Pod], need: int, message: str) -> Optional[List[Decision]]:
        """Plan victims so at least `need` members fit; evict nothing unless the plan succeeds."""
        preemptor = self.preemption
        if not preemptor.active:
            return None
        removed: List[Tuple[Pod, str, bool, float]] = []
        tentative: List[Pod] = []
        plan: List[Tuple[Pod, str, List[Pod]]] = []
        for pod in pending:
            row = self.engine.select(pod, self.engine.feasible(pod))
            if row is not None:
                node, victims = self.state.name_of(row), []
            else:
                diagnosis = self.engine.diagnose(pod)
                candidate = preemptor.best_candidate(pod, diagnosis.resolvable_rows) \
                    or preemptor.best_gang_candidate(pod, diagnosis.resolvable_rows)
                if candidate is None or candidate.pdb_violations:
                    continue  # the Eviction API would refuse part of it: never start such a plan
                node, victims = candidate.node, preemptor.eviction_order(candidate.victims)
                for victim in victims:
                    held = self.state.placed.get(victim.key)
                    if held is None:
                        continue  # already removed for an earlier member of this plan (a whole gang)
                    removed.append((victim, self.state.name_of(held.row), held.assumed, held.assumed_at))
                    self.state.forget(victim.key)
            self.engine.assume(pod, node)
            tentative.append(pod)
            plan.append((pod, node, victims))
        for pod in tentative:
            self.state.forget(pod.key)
        for victim, node, assumed, at in removed:
            self.state.place(victim, node, assumed=assumed, now=at)
        if len(plan) < need or not any(victims for _, _, victims in plan):
            return None
        now = self.clock()
        decisions = []
        for pod, node, victims in plan:
            for victim in victims:
                self.state.mark_evicting(victim.key)
            self.nominations.add(Nomination(pod, node, now, tuple(v.key for v in victims)))
            note = f"{message}; preemption: nominated to {node}"
            if victims:
                note += f", evicting {len(victims)} lower-priority pod(s): {', '.join(v.key for v in victims)}"
            decisions.append(Decision(pod, message=note, status=UNSCHEDULABLE, victims=victims, nominated_node=node))
        return decisions
