"""Volume filters for pods that mount PersistentVolumeClaims (kube's VolumeBinding, VolumeZone, VolumeRestrictions).

The scheduler places pods whose claims are already bound; it never binds or
provisions volumes.  So:

- VolumeBinding: every claim must exist, not be being deleted, and be bound
  (spec.volumeName) to a known PersistentVolume; otherwise no node fits, and
  the message says which claim and why (an unbound claim: that this scheduler
  does not bind or provision volumes).  A bound volume's required node affinity
  must match the node (`node(s) had volume node affinity conflict`).
- VolumeZone: a bound volume's zone/region labels must match the node's.
- VolumeRestrictions: a ReadWriteOncePod claim used by another placed pod
  rejects every node; evicting that pod could help (preemption looks at its
  node only).

All three are per-pod dynamic filters (they read claims, not just the pod's
shape); a pod without claims skips them.  Per-volume node masks are cached
until a node changes.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable, Dict, Hashable, List, Mapping, Optional, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ADDED, BUDGET_CHANGED, LABELS, NODE_CHANGED, POD_REMOVED, VOLUME_CHANGED, FilterPlugin, register_filter
from scheduler.core.model import Node, Pod
from scheduler.core.plugins.static import MaskCache
from scheduler.core.volumes import WAIT_FOR_FIRST_CONSUMER, Claim, PersistentVolume

NODE_CONFLICT = "node(s) had volume node affinity conflict"
ZONE_CONFLICT = "node(s) had no available volume zone"
PV_NOT_FOUND = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
RWOP_CONFLICT = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
NOT_BINDING = "this scheduler does not bind or provision volumes"


def claim_problem(pod: Pod, state: ClusterState) -> Optional[str]:
    """Why no node can fit the pod's claims (the first claim with a problem), or None when all are bound to known volumes."""
    catalog = state.volumes
    for name in pod.claims:
        claim = catalog.claim(pod.namespace, name)
        if claim is None:
            return f'persistentvolumeclaim "{name}" not found'
        if claim.deleting:
            return f'persistentvolumeclaim "{name}" is being deleted'
        if not claim.volume_name:
            if catalog.binding_mode(claim) == WAIT_FOR_FIRST_CONSUMER:
                return f'pod has unbound PersistentVolumeClaim "{name}" (its storage class "{claim.storage_class}" is ' \
                       f'{WAIT_FOR_FIRST_CONSUMER} and {NOT_BINDING}: pre-bind the claim or use the default scheduler)'
            return f'pod has unbound PersistentVolumeClaim "{name}" ({NOT_BINDING}; waiting for it to be bound)'
        if catalog.volume_of(claim) is None:
            return PV_NOT_FOUND
    return None


def bound_volumes(pod: Pod, state: ClusterState) -> List[PersistentVolume]:
    """The known volumes the pod's claims are bound to."""
    catalog = state.volumes
    volumes = []
    for name in pod.claims:
        claim = catalog.claim(pod.namespace, name)
        volume = catalog.volume_of(claim) if claim is not None else None
        if volume is not None:
            volumes.append(volume)
    return volumes


def _labels_check(matches: Callable[[Mapping[str, str]], bool]) -> Callable[[Node], bool]:
    return lambda node: matches(node.labels)


def _none(state: ClusterState) -> np.ndarray:
    return np.zeros(state.size, dtype=bool)


def _combined(state: ClusterState, masks: Optional[List[np.ndarray]]) -> np.ndarray:
    """Live nodes passing every mask (None: no node)."""
    if masks is None:
        return _none(state)
    mask: np.ndarray = state.alive[: state.size].copy()
    for other in masks:
        mask &= other
    return mask


@register_filter
class VolumeBinding(FilterPlugin):
    name = "VolumeBinding"
    wakes_on = frozenset({VOLUME_CHANGED, NODE_CHANGED})
    node_aspects = frozenset({ADDED, LABELS})
    default_reason = NODE_CONFLICT

    def __init__(self) -> None:
        self._cache = MaskCache()

    def applies(self, pod: Pod) -> bool:
        return bool(pod.claims)

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.namespace, pod.claims

    def _masks(self, pod: Pod, state: ClusterState) -> Optional[List[np.ndarray]]:
        """Per bound volume with node affinity, the nodes it may be used from; None when no node can fit."""
        if claim_problem(pod, state) is not None:
            return None
        return [self._cache.get(state, volume.node_affinity, _labels_check(volume.affinity_matches))
                for volume in bound_volumes(pod, state) if volume.node_affinity is not None]

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        masks = self._masks(pod, state)
        return _combined(state, masks)

    def filter_row(self, pod: Pod, state: ClusterState, row: int) -> bool:
        masks = self._masks(pod, state)
        return masks is not None and bool(state.alive[row]) and all(mask[row] for mask in masks)

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter[str]:
        return Counter({claim_problem(pod, state) or NODE_CONFLICT: int(len(rows))})


@register_filter
class VolumeZone(FilterPlugin):
    name = "VolumeZone"
    wakes_on = frozenset({VOLUME_CHANGED, NODE_CHANGED})
    node_aspects = frozenset({ADDED, LABELS})
    default_reason = ZONE_CONFLICT

    def __init__(self) -> None:
        self._cache = MaskCache()

    def applies(self, pod: Pod) -> bool:
        return bool(pod.claims)

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.namespace, pod.claims

    def _masks(self, pod: Pod, state: ClusterState) -> List[np.ndarray]:
        return [self._cache.get(state, volume.topology, _labels_check(volume.zone_matches))
                for volume in bound_volumes(pod, state) if volume.topology]

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        return _combined(state, self._masks(pod, state))

    def filter_row(self, pod: Pod, state: ClusterState, row: int) -> bool:
        return bool(state.alive[row]) and all(mask[row] for mask in self._masks(pod, state))


@register_filter
class VolumeRestrictions(FilterPlugin):
    """ReadWriteOncePod: one pod in the whole cluster may use such a claim (kube: Unschedulable, so preemption
    may free it).  Users are the placed pods (bound or assumed) still on their node: a what-if that lifts one
    off its node (preemption) no longer counts it."""

    name = "VolumeRestrictions"
    wakes_on = frozenset({VOLUME_CHANGED, POD_REMOVED, BUDGET_CHANGED})
    node_aspects = frozenset()
    resolvable = True
    default_reason = RWOP_CONFLICT

    def __init__(self) -> None:
        self._users: Dict[str, List[str]] = {}  # claim key -> keys of placed pods that use it
        self._seen: Tuple[Optional[ClusterState], int] = (None, -1)  # the state and generation it was built for

    def applies(self, pod: Pod) -> bool:
        return bool(pod.claims)

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.key, pod.namespace, pod.claims  # a pod never conflicts with itself

    def _index(self, state: ClusterState) -> Dict[str, List[str]]:
        seen = (state, state.generation)
        if seen[0] is not self._seen[0] or seen[1] != self._seen[1]:
            users: Dict[str, List[str]] = {}
            for key, placed in state.placed.items():
                for name in placed.pod.claims:
                    users.setdefault(f"{placed.pod.namespace}/{name}", []).append(key)
            self._users, self._seen = users, seen
        return self._users

    def _rwop_claims(self, pod: Pod, state: ClusterState) -> List[Claim]:
        claims = (state.volumes.claim(pod.namespace, name) for name in pod.claims)
        return [c for c in claims if c is not None and c.read_write_once_pod]

    def conflicting_rows(self, pod: Pod, state: ClusterState) -> List[int]:
        """Rows of the other placed pods that use one of the pod's ReadWriteOncePod claims."""
        claims = self._rwop_claims(pod, state)
        if not claims:
            return []
        index = self._index(state)
        rows = []
        for claim in claims:
            for key in index.get(claim.key, ()):
                placed = state.placed.get(key)
                if key != pod.key and placed is not None and key in state.pods_on[placed.row]:
                    rows.append(placed.row)
        return rows

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        if self.conflicting_rows(pod, state):
            return _none(state)
        mask: np.ndarray = state.alive[: state.size].copy()
        return mask

    def filter_row(self, pod: Pod, state: ClusterState, row: int) -> bool:
        return bool(state.alive[row]) and not self.conflicting_rows(pod, state)

    def resolvable_rows(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> np.ndarray:
        """Only the node of the pod(s) using the claim: evicting them there could make room, nowhere else."""
        hosts = set(self.conflicting_rows(pod, state))
        if len(hosts) != 1:
            return rows[:0]
        return rows[np.isin(rows, list(hosts))]
