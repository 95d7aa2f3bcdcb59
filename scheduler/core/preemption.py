"""Preemption: when a pod fits nowhere, evict the fewest, least important lower-priority pods.

Follows kube-scheduler's DefaultPreemption, made safer:

1. Only nodes rejected for reasons eviction can fix (resources, pod slots, host
   ports, the load threshold) are candidates.
2. On a node, remove every eligible victim (priority at least `min_gap` below
   the preemptor; never mirror, terminating or DaemonSet (unless allowed)
   pods), check the preemptor fits, then give pods back most important first,
   PDB-protected pods first.  A running gang is one victim unit, evicted whole
   or not at all, considered only when single pods cannot make room.
3. Choose the node by: fewest PDB violations, lowest highest-victim priority,
   smallest priority sum, fewest victims, latest start among the top victims,
   then the first from the sampling offset (seeded, so a run repeats).

Room of lower-priority pods already leaving (terminating, or evicted by us)
counts as freed, and room held for nominated pods of equal or higher priority
as taken, so a pod is never evicted twice and a node is never emptied for two
preemptors when one victim suffices.  "Fits" is always the profile's own
filter chain, asked on a what-if view of the node (ClusterState.what_if).

To stay fast on large clusters, a vector pass over per-priority request sums
(VictimIndex) finds every node where eviction could help and the lowest
priority level that suffices; a sample of max(100, 10 %) of those nodes from a
random offset is then ranked, evaluating the most promising first and skipping
nodes whose best possible plan cannot win (all nodes are sampled when a
PodDisruptionBudget is in play, because PDB violations rank first).
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple, Union

import numpy as np

from scheduler.core.cache import RowWhatIf
from scheduler.core.engine import Decision, Engine
from scheduler.core.framework import UNRESOLVABLE, UNSCHEDULABLE, Diagnosis
from scheduler.core.model import SYSTEM_CRITICAL, DisruptionBudget, Pod
from scheduler.core.nomination import Nomination, Nominations

log = logging.getLogger(__name__)

PRIORITY_OFFSET = 1 << 31  # kube sums priority + MaxInt32 + 1 so negative priorities still add up
MIN_CANDIDATES = 100  # kube-scheduler's minCandidateNodesAbsolute
CANDIDATE_PERCENT = 10  # kube-scheduler's minCandidateNodesPercentage
LEAVING_ONLY = -(1 << 62)  # level marker: the pods already leaving free enough room
NO_VICTIMS = -(1 << 62)  # sort key of a plan that evicts nothing: it ranks before any plan that evicts
REFUSED_COOL_DOWN = 60.0  # seconds a victim whose eviction a PDB refused is left out of plans

SortKey = Tuple[Union[int, float, str], ...]
"""(PDB violations, highest victim priority, priority sum, victim count, -latest start, tie-break):
kube-scheduler's node order for preemption, compared element by element (smaller is better)."""


@dataclass(order=True)
class Candidate:
    """A node and the victims that would make room there; orders best first."""

    sort_key: SortKey
    node: str = field(compare=False)
    victims: List[Pod] = field(compare=False, default_factory=list)
    pdb_violations: int = field(compare=False, default=0)


@dataclass
class PreemptionPolicy:
    min_gap: int = 1
    max_victims: int = 0  # 0 = unlimited
    preempt_daemonset_pods: bool = False
    protected_namespaces: FrozenSet[str] = frozenset({"kube-system"})


def protected(pod: Pod, policy: PreemptionPolicy) -> bool:
    """Never a victim, whatever the preemptor's priority: system-critical pods, pods in protected
    namespaces, mirror pods, pods already leaving, DaemonSet pods (unless allowed)."""
    return pod.mirror or pod.deleting or pod.priority >= SYSTEM_CRITICAL \
        or pod.namespace in policy.protected_namespaces \
        or (pod.owner_kind == "DaemonSet" and not policy.preempt_daemonset_pods)


def may_be_victim(pod: Pod, policy: PreemptionPolicy) -> bool:
    """A single pod preemption may choose (gang members only go with their whole gang)."""
    return not pod.gang_name and not protected(pod, policy)


class Preemption:
    """Preemption turned off: a pod that fits nowhere just waits.  The base of `Preemptor`."""

    active = False

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pdbs: Dict[str, DisruptionBudget] = {}

    def decide(self, pod: Pod) -> Decision:
        """The engine's decision for the pod (with preemption on: a plan of victims when it fits nowhere)."""
        return self.engine.schedule(pod)

    def eviction_refused(self, victim_key: str) -> None:
        """The API refused an eviction we asked for (nothing to remember without preemption)."""

    def best_candidate(self, pod: Pod, rows: np.ndarray) -> Optional[Candidate]:
        return None

    def best_gang_candidate(self, pod: Pod, rows: np.ndarray) -> Optional[Candidate]:
        return None

    def eviction_order(self, victims: List[Pod]) -> List[Pod]:
        return list(victims)

    def still_terminating(self, nomination: Nomination) -> bool:
        return False


class Preemptor(Preemption):
    """Plans victims for a pod that fits nowhere, and keeps its nomination while they go."""

    active = True

    def __init__(self, engine: Engine, policy: PreemptionPolicy, clock: Callable[[], float],
                 nominations: Nominations, seed: int = 0) -> None:
        super().__init__(engine)
        self.state = engine.state
        self.policy = policy
        self.clock = clock
        self.nominations = nominations
        self.refused: Dict[str, float] = {}  # victim key -> until when the API refused its eviction (PDB)
        self.random = random.Random(seed)  # candidate sampling offsets: seeded, so runs are reproducible

    def decide(self, pod: Pod) -> Decision:
        nomination = self.nominations.get(pod.key)
        if nomination is not None:  # the room made for it: take it as soon as it fits (kube tries it first)
            row = self.state.row_of.get(nomination.node)
            if row is not None and self.engine.fits_row(pod, row):
                return Decision(pod, node=nomination.node)
        decision = self.engine.schedule(pod)
        if decision.node is not None or decision.diagnosis is None or decision.diagnosis.status == UNRESOLVABLE:
            return decision
        return self.post_filter(pod, decision.diagnosis) or decision

    def eviction_refused(self, victim_key: str, cool_down: float = REFUSED_COOL_DOWN) -> None:
        """The API refused this eviction (429: a PodDisruptionBudget). Do not pick it again for a while,
        so re-planning looks elsewhere instead of asking for the same refused eviction in a loop."""
        self.refused[victim_key] = self.clock() + cool_down

    def _refused(self, pod: Pod) -> bool:
        until = self.refused.get(pod.key)
        if until is None:
            return False
        if self.clock() >= until:
            del self.refused[pod.key]
            return False
        return True

    def still_terminating(self, nomination: Nomination) -> bool:
        """Lower-priority pods are still leaving the nominated node: its room is on the way."""
        return self._terminating_victims(nomination) > 0

    def _terminating_victims(self, nomination: Nomination) -> int:
        row = self.state.row_of.get(nomination.node)
        if row is None:
            return 0
        return len(self._leaving(nomination.pod, row))

    def _leaving(self, pod: Pod, row: int) -> List[Pod]:
        """Lower-priority pods on the row that are already going (terminating, or evicted by us):
        their room counts as freed, and they are never chosen again."""
        return [p.pod for p in self.state.pods_on[row].values() if p.leaving and p.pod.priority < pod.priority]

    # ------------------------------------------------------------ post-filter
    def post_filter(self, pod: Pod, diagnosis: Diagnosis) -> Optional[Decision]:
        if pod.preemption_policy == "Never":
            return Decision(pod, message=f"{diagnosis.message} preemption: not attempted, preemptionPolicy is Never.",
                            status=diagnosis.status, diagnosis=diagnosis)
        waiting = self._still_waiting(pod)
        if waiting is not None:
            return waiting
        candidate = self.best_candidate(pod, diagnosis.resolvable_rows) \
            or self.best_gang_candidate(pod, diagnosis.resolvable_rows)
        if candidate is None:
            return Decision(pod, message=f"{diagnosis.message} preemption: 0/{diagnosis.total_nodes} nodes are "
                            "available: no node can make room by evicting lower-priority pods.",
                            status=diagnosis.status, diagnosis=diagnosis)
        if candidate.pdb_violations:
            return Decision(pod, message=f"{diagnosis.message} preemption: not attempted: every plan would break a "
                            f"PodDisruptionBudget (the best, on {candidate.node}, evicts {len(candidate.victims)} "
                            f"pod(s) of which {candidate.pdb_violations} are protected); evicting nothing, "
                            "retrying when the cluster changes.", status=diagnosis.status, diagnosis=diagnosis)
        victims = self.eviction_order(candidate.victims)
        for victim in victims:
            self.state.mark_evicting(victim.key)
        self.nominations.add(Nomination(pod, candidate.node, self.clock(), tuple(v.key for v in victims)))
        if victims:
            plan = f"evicting {len(victims)} lower-priority pod(s) on {candidate.node}: {', '.join(v.key for v in victims)}"
        else:
            row = self.state.row_of[candidate.node]
            plan = (f"nominated to {candidate.node}, where {len(self._leaving(pod, row))} lower-priority pod(s) "
                    "already leaving free enough room; evicting nothing")
        return Decision(
            pod,
            message=f"{diagnosis.message} preemption: {plan}",
            status=UNSCHEDULABLE,
            victims=victims,
            nominated_node=candidate.node,
            diagnosis=diagnosis,
        )

    def eviction_order(self, victims: List[Pod]) -> List[Pod]:
        """Victims covered by a PodDisruptionBudget first: if the API refuses one (our view of the budget
        was stale), the plan stops before anything else was evicted for it."""
        covered = [v for v in victims if any(pdb.covers(v) for pdb in self.pdbs.values())]
        return covered + [v for v in victims if v not in covered]

    def _still_waiting(self, pod: Pod) -> Optional[Decision]:
        """A nominated pod whose victims are still terminating waits rather than preempting again."""
        nomination = self.nominations.get(pod.key)
        if nomination is None:
            return None
        node = self.state.node(nomination.node)
        usable = node is not None and bool(self.engine.static_mask(pod)[self.state.row_of[nomination.node]])
        terminating = self._terminating_victims(nomination) if usable else 0
        if usable and terminating:
            return Decision(pod, message=f"waiting for {terminating} preempted pod(s) to terminate on {nomination.node}",
                            status=UNSCHEDULABLE, nominated_node=nomination.node)
        self.nominations.pop(pod.key)  # victims gone yet still no fit, or node unusable: re-plan
        return None

    # ------------------------------------------------------------ candidates
    def potential_rows(self, pod: Pod, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Rows where evicting eligible pods could free enough resources, and the lowest priority level
        that suffices (LEAVING_ONLY where the pods already leaving free enough).  Room of lower-priority
        pods already leaving counts as freed; room held for nominated pods of equal or higher priority
        is taken."""
        state = self.state
        threshold = pod.priority - self.policy.min_gap
        levels = sorted(p for p in state.victims.by_priority if p <= threshold)
        empty = np.zeros(0, dtype=np.int64)
        if not len(rows):
            return empty, empty
        columns = [(state.column[r], amount) for r, amount in pod.requests.items() if r in state.column]
        if len(columns) < len(pod.requests):
            return empty, empty
        reserved = self._reserved_for_others(pod, rows)
        freed = np.zeros((len(columns), len(rows)), dtype=np.int64)
        for level, bucket in state.victims.leaving.items():
            if level < pod.priority:
                for i, (col, _) in enumerate(columns):
                    freed[i] += bucket[col, rows]
        unset = np.iinfo(np.int64).max
        level_needed = np.full(len(rows), unset)
        available = [state.free_[col, rows] - reserved[i] for i, (col, _) in enumerate(columns)]  # before evictions
        for level in [LEAVING_ONLY] + levels:
            if level != LEAVING_ONLY:
                bucket = state.victims.by_priority[level]
                for i, (col, _) in enumerate(columns):
                    freed[i] += bucket[col, rows]
            ok = level_needed == unset
            for i, (_, amount) in enumerate(columns):
                ok &= available[i] + freed[i] >= amount
            level_needed[ok] = level
            if not (level_needed == unset).any():
                break  # every row has its level: higher ones cannot lower it
        reachable = level_needed != unset
        return rows[reachable], level_needed[reachable]

    def _reserved_for_others(self, pod: Pod, rows: np.ndarray) -> np.ndarray:
        """Room nominated pods of equal or higher priority hold on each row (vector sums per priority)."""
        reserved = np.zeros((len(pod.requests), len(rows)), dtype=np.int64)
        if not self.nominations:
            return reserved
        held = self.nominations.held_against(pod, self.state)
        if not len(held.rows):
            return reserved
        position = np.full(self.state.size, -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        at = position[held.rows]
        inside = at >= 0
        for i, resource in enumerate(pod.requests):
            amounts = held.amounts.get(resource)
            if amounts is not None:
                reserved[i, at[inside]] = amounts[inside]
        return reserved

    def sample_size(self) -> int:
        """How many viable candidates to compare: kube-scheduler's max(100, 10 % of the nodes)."""
        return max(MIN_CANDIDATES, self.state.node_count * CANDIDATE_PERCENT // 100)

    def best_candidate(self, pod: Pod, rows: np.ndarray) -> Optional[Candidate]:
        """The best plan among a sample of candidate nodes.

        Like kube-scheduler, the sample is max(100, 10 %) of the nodes where eviction could help,
        taken from a random (seeded) offset so preemptors spread over the cluster instead of piling
        onto the first nodes; nodes needing only lower priority levels come first.  Within the
        sample the best plan by kube's criteria wins; nodes whose best possible plan cannot beat
        the best found so far are not evaluated (all nodes are, when a PodDisruptionBudget is in
        play, because PDB violations rank first)."""
        rows, levels = self.potential_rows(pod, np.asarray(rows, dtype=np.int64))
        if not len(rows):
            return None
        wanted = len(rows) if self.pdbs else min(len(rows), self.sample_size())
        start = self.random.randrange(len(rows))
        sample = np.lexsort(((np.arange(len(rows)) - start) % len(rows), levels))[:wanted]
        # branch and bound: most promising first; stop once no remaining node can beat the best plan
        best: Optional[Candidate] = None
        for bound, row in self._bounds(pod, rows[sample], levels[sample]):
            if best is not None and bound >= best.sort_key:
                break
            candidate = self.victims_on(pod, row)
            if candidate is None:
                continue
            candidate.sort_key = candidate.sort_key[:-1] + (bound[-1],)  # full ties: the first from the offset
            if best is None or candidate < best:
                best = candidate
        return best

    def _bounds(self, pod: Pod, rows: np.ndarray, levels: np.ndarray) -> Iterator[Tuple[SortKey, int]]:
        """(lower bound of the sort key of any plan, row) for each row, smallest first; the last element
        of a bound is the row's position in `rows`.  Unless the pods already leaving may be enough
        (`levels`), a plan evicts at least one victim, of at least the lowest eligible priority there,
        started no later than the latest such pod (VictimIndex.lowest_evictable: vectors over rows)."""
        threshold = pod.priority - self.policy.min_gap
        lowest, latest = self.state.victims.lowest_evictable(rows, self.state.pods_on)
        # a plan may evict nothing, or only whole gangs: such rows bound at (0, NO_VICTIMS, 0, 0, 0.0)
        trivial = (levels == LEAVING_ONLY) | (lowest > threshold)
        first = np.where(trivial, NO_VICTIMS, lowest)
        start = np.where(trivial, 0.0, -latest)
        # the order of the bound tuples: their sum (lowest + offset) and count (1) follow from `first`
        for position in np.lexsort((np.arange(len(rows)), start, first)).tolist():
            if trivial[position]:
                bound: SortKey = (0, NO_VICTIMS, 0, 0, 0.0, position)
            else:
                prio = int(lowest[position])
                bound = (0, prio, prio + PRIORITY_OFFSET, 1, -float(latest[position]), position)
            yield bound, int(rows[position])

    def best_gang_candidate(self, pod: Pod, rows: np.ndarray) -> Optional[Candidate]:
        """Fallback when single pods cannot make room: also consider evicting whole lower-priority gangs."""
        with_gangs = [int(r) for r in self.state.victims.gangs.rows_with_gangs(np.asarray(rows, dtype=np.int64))]
        candidates = [c for c in (self.victims_on(pod, row, with_gangs=True) for row in with_gangs) if c is not None]
        return min(candidates) if candidates else None

    # ------------------------------------------------------------ victims on one node
    def _pdb_allowance(self) -> Dict[str, int]:
        return {key: pdb.disruptions_allowed for key, pdb in self.pdbs.items()}

    def _violates(self, pod: Pod, allowance: Dict[str, int]) -> bool:
        """Would evicting this pod break a PodDisruptionBudget (given what this plan already evicts)?"""
        violated = False
        for key, pdb in self.pdbs.items():
            if pdb.covers(pod):
                allowance[key] -= 1
                violated = violated or allowance[key] < 0
        return violated

    def _gang_units(self, row: int, threshold: int) -> List[List[Pod]]:
        """Running gangs with a member on this row that may go as a whole: every member low enough,
        none protected and none already leaving."""
        gangs, placed = self.state.victims.gangs, self.state.placed
        units = []
        for name in gangs.gangs_on(row):  # a gang with a member leaving is never eligible: all are listed
            members = [placed[key].pod for key in gangs.members[name]]
            eligible = all(
                m.priority <= threshold and not protected(m, self.policy) and m.key not in self.state.victims.evicting
                and not self._refused(m) for m in members
            )
            if members and eligible:
                units.append(sorted(members, key=lambda m: m.key))
        return units

    def victims_on(self, pod: Pod, row: int, with_gangs: bool = False) -> Optional[Candidate]:
        """The minimal victim set on one node (remove all eligible, then reprieve), or None.

        Every "does it fit" is the profile's own filter chain on a what-if view of the node.
        Pods of lower priority already leaving the node are counted as gone, never chosen again;
        when they alone make room, the plan evicts nothing (a zero-eviction nomination).  A victim
        *unit* is one pod, or (with_gangs) a whole running gang: a gang is evicted whole or not at
        all, so it is never left below its minimum.
        """
        state = self.state
        name = state.name_of(row)
        threshold = pod.priority - self.policy.min_gap
        with state.what_if(row) as node:
            node.lift(self._leaving(pod, row))
            if self.engine.fits_row(pod, row):
                return Candidate((0, NO_VICTIMS, 0, 0, 0.0, name), name, [], 0)
            units = [[p.pod] for p in state.pods_on[row].values()
                     if p.evictable and p.pod.priority <= threshold and not (self.refused and self._refused(p.pod))]
            if with_gangs:
                units += self._gang_units(row, threshold)
            if not units:
                return None
            node.lift([member for unit in units for member in unit])
            if not self.engine.fits_row(pod, row):
                return None
            victims, violations = self._reprieve(pod, row, units, node)
        if not victims:
            return None
        if self.policy.max_victims and len(victims) > self.policy.max_victims:
            return None
        top = max(v.priority for v in victims)
        latest_start = min(v.started for v in victims if v.priority == top)
        sort_key = (violations, top, sum(v.priority + PRIORITY_OFFSET for v in victims), len(victims), -latest_start, name)
        return Candidate(sort_key, name, victims, violations)

    def _reprieve(self, pod: Pod, row: int, units: List[List[Pod]], node: RowWhatIf) -> Tuple[List[Pod], int]:
        """Give units back most important first (PDB-protected ones first); those the pod cannot do
        without are the victims.  Returns them and how many PodDisruptionBudgets they would break."""
        allowance = self._pdb_allowance()
        def covered(unit: List[Pod]) -> bool:
            return any(pdb.covers(m) for m in unit for pdb in self.pdbs.values())

        def importance(unit: List[Pod]) -> Tuple[int, float, str]:
            return -max(m.priority for m in unit), min(m.started for m in unit), unit[0].key

        ordered = sorted([u for u in units if covered(u)], key=importance) + \
            sorted([u for u in units if not covered(u)], key=importance)
        victims: List[Pod] = []
        violations = 0
        for unit in ordered:
            node.put_back(unit)
            if self.engine.fits_row(pod, row):
                continue  # reprieved: it stays
            node.lift(unit)
            for member in unit:
                victims.append(member)
                if self._violates(member, allowance):
                    violations += 1
        return victims, violations
