"""Plugin framework: filters yield a boolean mask over all node rows, scores a vector.

Like kube-scheduler, a failure is either *unschedulable* (removing pods could
help: resources, ports, load) or *unresolvable* (it could not: taints,
selectors, a cordoned node).  Preemption only looks at the former.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Hashable, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Type, TypeVar

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.model import Pod

UNSCHEDULABLE = "Unschedulable"
UNRESOLVABLE = "UnschedulableAndUnresolvable"

# what changed in the cluster (kinds of ClusterChange)
POD_REMOVED, POD_PLACED, NODE_CHANGED = "PodRemoved", "PodPlaced", "NodeChanged"
LOAD_CHANGED, BUDGET_CHANGED, GROUP_CHANGED = "LoadChanged", "BudgetChanged", "PodGroupChanged"
VOLUME_CHANGED, NAMESPACE_CHANGED = "VolumeChanged", "NamespaceChanged"
ALWAYS_WAKES = frozenset({GROUP_CHANGED})  # a gang waits for its minimum, not for a filter
# which aspects of a node changed
ADDED, LABELS, TAINTS, ALLOCATABLE, SCHEDULABLE = "added", "labels", "taints", "allocatable", "schedulable"
NODE_ASPECTS = frozenset({ADDED, LABELS, TAINTS, ALLOCATABLE, SCHEDULABLE})


@dataclass(frozen=True)
class ClusterChange:
    """What changed, for kube-style queueing hints: which parked pods could it help?"""

    kind: str
    pod: Optional[Pod] = None  # the pod removed or placed
    node: str = ""  # where it was or is
    aspects: FrozenSet[str] = NODE_ASPECTS  # a node: what about it changed (added, labels, taints, ...)


Verdict = Tuple[np.ndarray, Counter[str], np.ndarray]
"""Rows rejected, reason -> number of those rows, the rows among them where evicting pods could help."""

UNDECLARED = object()
"""A filter's `pod_inputs` when it does not say what it reads: its diagnoses are never reused."""
SKIPPED = "skipped"
"""A filter's place in a diagnosis key when it does not apply to the pod."""


class FilterPlugin:
    """Rejects nodes.  `static` filters depend only on node properties and the pod's shape."""

    name = ""
    resolvable = False  # True when evicting pods from the node could make it pass
    static = False

    def applies(self, pod: Pod) -> bool:
        """False when the plugin can reject nothing for this pod (skipped on the hot path)."""
        return True

    def attach(self, state: ClusterState) -> None:
        """The engine's state, once, before any pod: for `applies` answers that depend on the cluster."""

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        """Boolean mask over `state.size` rows: True where the node passes."""
        raise NotImplementedError

    def filter_row(self, pod: Pod, state: ClusterState, row: int) -> bool:
        """Does this one node pass?  The same rule as `filter` (plugins may answer it cheaper)."""
        return bool(self.filter(pod, state)[row])

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter[str]:
        """Reason -> number of nodes, for rows this plugin rejected."""
        return Counter({self.default_reason: int(len(rows))})

    wakes_on: FrozenSet[str] = frozenset({POD_REMOVED, NODE_CHANGED, LOAD_CHANGED, BUDGET_CHANGED, VOLUME_CHANGED,
                                          NAMESPACE_CHANGED})
    """Kinds of change that may make a node this plugin rejected pass (by default: all but a pod placed)."""
    node_aspects: FrozenSet[str] = NODE_ASPECTS
    """Which changes of a node may help (kube's QueueingHints for node events)."""

    def helped_by(self, change: ClusterChange, pod: Pod, state: ClusterState) -> bool:
        """Could this change make a node this plugin rejected for the pod pass?  (kube's QueueingHint:
        when unsure, yes.)  Plugins whose answer depends on the pod override this."""
        if change.kind not in self.wakes_on:
            return False
        return change.kind != NODE_CHANGED or bool(change.aspects & self.node_aspects)

    def resolvable_rows(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> np.ndarray:
        """Of the rows this plugin rejected, those where evicting pods could help (preemption's candidates)."""
        return rows if self.resolvable else rows[:0]

    def verdict(self, pod: Pod, state: ClusterState, remaining: np.ndarray) -> Optional[Verdict]:
        """For a diagnosis: which of the `remaining` rows this plugin rejects, why, and where evicting pods
        could help; None when it rejects none of them.  Plugins whose three answers share one costly
        computation override this to do it once."""
        rejected = np.flatnonzero(remaining & ~self.filter(pod, state))
        if not len(rejected):
            return None
        return rejected, self.explain(pod, state, rejected), self.resolvable_rows(pod, state, rejected)

    def pod_inputs(self, pod: Pod) -> Hashable:
        """Everything this filter reads from the pod (hashable), so pods alike in it share a diagnosis while
        nothing changes (see `outside_inputs`).  Kept beside the rule: a field a filter reads but does not
        name here would give one pod another's reasons.  UNDECLARED (the default): never shared."""
        return UNDECLARED

    def outside_inputs(self, state: ClusterState) -> Hashable:
        """What the filter reads besides the pod and the ClusterState (every change of which bumps
        `state.generation`): e.g. the nominations' version, the age of load samples.  None: nothing."""
        return None

    default_reason = "node(s) were rejected"


def take(values: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """values[rows], without the gather when rows is every row (the common case)."""
    return values[:size] if len(rows) == size else values[rows]


class ScorePlugin:
    """Ranks feasible nodes: a vector of 0..100 over the given rows (higher is better)."""

    name = ""

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        """None means "every node scores the same" (the plugin has nothing to say)."""
        raise NotImplementedError


FILTERS: Dict[str, Type[FilterPlugin]] = {}
SCORES: Dict[str, Type[ScorePlugin]] = {}


F = TypeVar("F", bound=FilterPlugin)
S = TypeVar("S", bound=ScorePlugin)
P = TypeVar("P")


def register_filter(cls: Type[F]) -> Type[F]:
    FILTERS[cls.name] = cls
    return cls


def register_score(cls: Type[S]) -> Type[S]:
    SCORES[cls.name] = cls
    return cls


@dataclass
class Profile:
    """The enabled plugins, in order, with score weights."""

    filters: List[FilterPlugin]
    scores: List[Tuple[ScorePlugin, float]]

    def filter_named(self, name: str) -> Optional[FilterPlugin]:
        return next((f for f in self.filters if f.name == name), None)


def build_profile(
    filter_names: Sequence[str],
    score_weights: Mapping[str, float],
    filter_factories: Optional[Mapping[str, Callable[[], FilterPlugin]]] = None,
    score_factories: Optional[Mapping[str, Callable[[], ScorePlugin]]] = None,
) -> Profile:
    """Instantiate plugins by name (a factory, when one is given for the name, else the registered
    class); unknown names raise ValueError listing the known ones."""
    import scheduler.core.plugins  # noqa: F401  (registers the built-in plugins)

    def make(registry: Mapping[str, Callable[[], P]], factories: Optional[Mapping[str, Callable[[], P]]],
             name: str, kind: str) -> P:
        if factories and name in factories:
            return factories[name]()
        if name not in registry:
            raise ValueError(f"unknown {kind} plugin {name!r} (known: {', '.join(sorted(registry))})")
        return registry[name]()

    filters = [make(FILTERS, filter_factories, name, "filter") for name in filter_names]
    scores = [(make(SCORES, score_factories, name, "score"), float(w)) for name, w in score_weights.items() if w]
    return Profile(filters, scores)


@dataclass
class Diagnosis:
    """Why a pod fits nowhere: kube-scheduler's `0/N nodes are available: ...` message."""

    total_nodes: int
    reasons: Counter[str] = field(default_factory=Counter)
    plugins: Set[str] = field(default_factory=set)  # the filters that rejected some node
    resolvable_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def status(self) -> str:
        return UNSCHEDULABLE if len(self.resolvable_rows) else UNRESOLVABLE

    def copy(self) -> Diagnosis:
        """Another pod's copy of a shared diagnosis (the rows are shared: the engine makes them read-only)."""
        return Diagnosis(self.total_nodes, Counter(self.reasons), set(self.plugins), self.resolvable_rows)

    @property
    def message(self) -> str:
        parts = ", ".join(f"{count} {reason}" for reason, count in sorted(self.reasons.items()))
        head = f"0/{self.total_nodes} nodes are available"
        return f"{head}: {parts}." if parts else f"{head}."


def may_help(change: ClusterChange, rejected_by: Iterable[str], pods: Iterable[Pod],
             filters: Mapping[str, FilterPlugin], state: ClusterState) -> bool:
    """Does any filter that rejected these pods say the change may help?  Nothing known: any change
    but another pod being placed may."""
    if change.kind in ALWAYS_WAKES:
        return True
    for name in list(rejected_by) or [""]:
        plugin = filters.get(name)
        if plugin is None:
            if wakes(None, change.kind):
                return True
        elif any(plugin.helped_by(change, pod, state) for pod in pods):
            return True
    return False


def wakes(plugin: Optional[FilterPlugin], kind: str) -> bool:
    """Could a change of this kind help any pod this filter rejected (None: rejected for no known filter's
    reason, which any change but another pod being placed may help)?  The loop skips changes no parked
    pod's filters wake on."""
    if kind in ALWAYS_WAKES:
        return True
    if plugin is None:
        return kind != POD_PLACED
    return kind in plugin.wakes_on


def diagnosis_key(filters: Sequence[FilterPlugin], pod: Pod) -> Optional[Tuple[Hashable, ...]]:
    """What the diagnosis of the pod depends on, as far as the pod goes (the inputs of the filters that
    apply); None when a filter that applies does not declare its inputs."""
    key: List[Hashable] = []
    for plugin in filters:
        if not plugin.applies(pod):
            key.append(SKIPPED)
            continue
        inputs = plugin.pod_inputs(pod)
        if inputs is UNDECLARED:
            return None
        key.append(inputs)
    return tuple(key)


def diagnose(profile: Profile, pod: Pod, state: ClusterState, extra: Sequence[FilterPlugin] = ()) -> Diagnosis:
    """Attribute every node to the first filter that rejects it (kube's order and wording)."""
    remaining = state.alive[: state.size].copy()
    diagnosis = Diagnosis(total_nodes=int(remaining.sum()))
    resolvable: List[np.ndarray] = []
    for plugin in list(profile.filters) + list(extra):
        if not remaining.any():
            break
        if not plugin.applies(pod):
            continue
        verdict = plugin.verdict(pod, state, remaining)
        if verdict is None:
            continue
        rejected, reasons, helped = verdict
        remaining[rejected] = False
        diagnosis.plugins.add(plugin.name)
        diagnosis.reasons.update(reasons)
        if len(helped):
            resolvable.append(helped)
    if len(resolvable) == 1:
        diagnosis.resolvable_rows = resolvable[0]  # rows from flatnonzero: sorted already
    elif resolvable:
        diagnosis.resolvable_rows = np.sort(np.concatenate(resolvable))
    return diagnosis
