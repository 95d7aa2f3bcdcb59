"""The core's own types for pods, nodes, budgets and utilisation, and the bounds their values keep.

These are plain data: `scheduler.core.parse` builds them from the API's raw JSON
(bounding every value on the way in), and the rest of the core only reads them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Mapping, Optional, Tuple

PRIORITY_ANNOTATION = "scheduler.alpha.kubernetes.io/priority"
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
MIN_AVAILABLE_ANNOTATION = "scheduling.x-k8s.io/min-available"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
NODE_NAME_LABEL = "metadata.name"

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"
EPHEMERAL = "ephemeral-storage"
BASE_RESOURCES = (CPU, MEMORY, PODS, EPHEMERAL)

Resources = Dict[str, int]
"""Resource name -> integer amount: cpu in millicores, everything else in units."""


# ---------------------------------------------------------------- bounds

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
SYSTEM_CRITICAL = 2_000_000_000
"""system-cluster-critical: pods at or above this priority are never preemption victims."""
"""Kubernetes priorities (and PodGroup minMember, PDB counts) are int32."""
INT64_MAX = 2**63 - 1
"""Largest amount (millicores, bytes, units) and per-pod total: the cache keeps them in int64 columns."""


class ModelError(ValueError):
    """A pod or node whose JSON cannot be turned into core types."""


def add_resources(total: Resources, extra: Mapping[str, int]) -> None:
    for name, amount in extra.items():
        total[name] = total.get(name, 0) + amount


def max_resources(total: Resources, other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        if amount > total.get(name, 0):
            total[name] = amount


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """kube's rule: empty effect matches all, empty key with Exists matches every taint, an operator
        other than Equal (or empty) and Exists tolerates nothing."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == taint.key
        if self.operator not in ("Equal", ""):
            return False
        return self.key == taint.key and self.value == taint.value


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"

    def __str__(self) -> str:
        return f"{{{self.key}: {self.value}}}" if self.value else f"{{{self.key}}}"


@dataclass(frozen=True)
class Requirement:
    """One node selector requirement (matchExpressions item)."""

    key: str
    operator: str
    values: Tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "In":
            return labels.get(self.key) in self.values
        if op == "NotIn":
            return labels.get(self.key) not in self.values
        if op == "Exists":
            return self.key in labels
        if op == "DoesNotExist":
            return self.key not in labels
        if op in ("Gt", "Lt"):
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except (KeyError, ValueError, IndexError):
                return False
            return have > want if op == "Gt" else have < want
        return False


NodeSelectorTerm = Tuple[Requirement, ...]
"""Expressions of one term are ANDed; terms are ORed."""

VALID_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})


def term_matches(term: NodeSelectorTerm, labels: Mapping[str, str]) -> bool:
    return all(req.matches(labels) for req in term)


@dataclass(frozen=True)
class PodSelector:
    """Which pods a term or a spread constraint counts: a label selector, optionally one owner's pods only."""

    requirements: Optional[NodeSelectorTerm]  # None (a nil selector) matches no pod; () matches every pod
    owner_uid: str = ""  # cluster-level default spread constraints count the pods of the same controller

    def matches(self, pod: Pod) -> bool:
        if self.requirements is None or (self.owner_uid and pod.owner_uid != self.owner_uid):
            return False
        return term_matches(self.requirements, pod.labels)


@dataclass(frozen=True)
class PodAffinityTerm:
    """One podAffinity/podAntiAffinity term: pods it selects, in which namespaces, per which topology domain."""

    selector: PodSelector
    topology_key: str
    namespaces: FrozenSet[str]  # already the owner's namespace when neither names nor a selector were given
    namespace_selector: Optional[NodeSelectorTerm] = None  # None: not set; (): every namespace
    weight: int = 0  # preferred terms only

    def in_scope(self, namespace: str, namespace_labels: Mapping[str, Mapping[str, str]]) -> bool:
        if namespace in self.namespaces:
            return True
        return self.namespace_selector is not None and term_matches(self.namespace_selector,
                                                                    namespace_labels.get(namespace, {}))

    def selects(self, pod: Pod, namespace_labels: Mapping[str, Mapping[str, str]]) -> bool:
        return self.in_scope(pod.namespace, namespace_labels) and self.selector.matches(pod)


@dataclass(frozen=True)
class InterPodAffinity:
    """A pod's podAffinity and podAntiAffinity, required and preferred."""

    required: Tuple[PodAffinityTerm, ...] = ()
    preferred: Tuple[PodAffinityTerm, ...] = ()
    anti_required: Tuple[PodAffinityTerm, ...] = ()
    anti_preferred: Tuple[PodAffinityTerm, ...] = ()


@dataclass(frozen=True)
class SpreadConstraint:
    """One topologySpreadConstraint (hard: DoNotSchedule; soft: ScheduleAnyway)."""

    max_skew: int
    topology_key: str
    hard: bool
    selector: PodSelector
    min_domains: int = 1
    honor_node_affinity: bool = True  # nodeAffinityPolicy Honor (the default)
    honor_taints: bool = False  # nodeTaintsPolicy Ignore (the default)


ShapeKey = Tuple[Tuple[Tuple[str, str], ...], Tuple[NodeSelectorTerm, ...], Tuple[Toleration, ...]]
"""A pod's node selector, required affinity terms and tolerations: what static filters depend on."""


@dataclass
class Pod:
    """A pod as the scheduler sees it; `requests` already include overhead and defaults."""

    namespace: str
    name: str
    uid: str
    requests: Resources
    priority: int
    scheduler_name: str = ""
    node_name: str = ""
    phase: str = "Pending"
    deleting: bool = False
    labels: Dict[str, str] = field(default_factory=dict)
    annotations: Dict[str, str] = field(default_factory=dict)
    node_selector: Tuple[Tuple[str, str], ...] = ()
    required_terms: Tuple[NodeSelectorTerm, ...] = ()
    preferred_terms: Tuple[Tuple[int, NodeSelectorTerm], ...] = ()
    tolerations: Tuple[Toleration, ...] = ()
    host_ports: FrozenSet[Tuple[str, str, int]] = frozenset()
    preemption_policy: str = "PreemptLowerPriority"
    owner_kind: str = ""
    mirror: bool = False
    created: float = 0.0
    started: float = 0.0
    nominated_node: str = ""
    resource_version: str = ""
    warnings: Tuple[str, ...] = ()
    score_requests: Optional[Tuple[int, int]] = None  # (cpu, memory) the allocation scores count; None: requests
    owner_uid: str = ""  # the controller's uid (cluster-level default spread constraints count its pods)
    pod_affinity: Optional[InterPodAffinity] = None
    spread: Tuple[SpreadConstraint, ...] = ()
    scheduling_gates: Tuple[str, ...] = ()  # spec.schedulingGates names: not attempted while any remain
    claims: Tuple[str, ...] = ()  # PersistentVolumeClaim names the pod mounts (in its namespace)
    unsupported: Tuple[str, ...] = ()  # placement fields we do not honour: the pod is never placed
    key: str = field(init=False, repr=False, compare=False)  # "namespace/name", the pod's identity everywhere

    def __post_init__(self) -> None:
        self.key = f"{self.namespace}/{self.name}"  # read many times per pod and cycle: made once

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def score_cpu_memory(self) -> Tuple[int, int]:
        if self.score_requests is not None:
            return self.score_requests
        return self.requests.get(CPU, 0), self.requests.get(MEMORY, 0)

    @property
    def gang_name(self) -> str:
        group = self.labels.get(POD_GROUP_LABEL, "")
        return f"{self.namespace}/{group}" if group else ""

    @property
    def shape_key(self) -> ShapeKey:
        """Everything a static (node-property) filter depends on: masks are cached on it."""
        return (self.node_selector, self.required_terms, self.tolerations)


@dataclass
class Node:
    name: str
    allocatable: Resources
    labels: Dict[str, str] = field(default_factory=dict)
    taints: Tuple[Taint, ...] = ()
    unschedulable: bool = False
    ready: bool = True
    addresses: Tuple[str, ...] = ()
    resource_version: str = ""



@dataclass(frozen=True)
class NodeUtilisation:
    """Measured utilisation of one node (fractions, 1 = full, above 1 over-committed; None = no series) and when."""

    cpu: Optional[float]
    memory: Optional[float]
    sampled_at: float


@dataclass(frozen=True)
class DisruptionBudget:
    """A PodDisruptionBudget as preemption needs it: which pods, and how many may go now."""

    namespace: str
    name: str
    selector: NodeSelectorTerm
    disruptions_allowed: int

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def covers(self, pod: Pod) -> bool:
        return pod.namespace == self.namespace and term_matches(self.selector, pod.labels)
