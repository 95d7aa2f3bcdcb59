"""Every Kubernetes API permission the scheduler uses, in one table.

This is the single source of truth for RBAC: the API client refers to an entry
here for each call it makes, the manifests in ``deploy/`` grant exactly these
rules, and ``tests/deploy`` checks that the two agree (nothing more, nothing
less). Deliberately free of any ``kubernetes`` import.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

CORE = ""  # the core API group ("v1")


@dataclass(frozen=True)
class Permission:
    """One RBAC rule: verbs on one resource (or subresource) of one API group.

    ``namespaced_to_self`` marks rules granted only in the scheduler's own
    namespace (a Role), not cluster-wide (the ClusterRole).
    """

    group: str
    resource: str
    verbs: Tuple[str, ...]
    namespaced_to_self: bool = False

    def rule(self) -> Dict[str, List[str]]:
        return {
            "apiGroups": [self.group],
            "resources": [self.resource],
            "verbs": list(self.verbs),
        }


# Informers: list+watch every pod; get one pod before acting on it.
PODS_LIST_WATCH = Permission(CORE, "pods", ("get", "list", "watch"))
# Actuator: bind, evict (preemption), set nominatedNodeName / PodScheduled.
PODS_BIND = Permission(CORE, "pods/binding", ("create",))
PODS_EVICT = Permission(CORE, "pods/eviction", ("create",))
PODS_STATUS = Permission(CORE, "pods/status", ("patch",))
# Informer + nodes lookups.
NODES = Permission(CORE, "nodes", ("get", "list", "watch"))
# Events: events.k8s.io/v1 only (GA since Kubernetes 1.19; our oldest target is 1.20). The
# core v1 events API is never called, so it is not granted.
EVENTS = Permission("events.k8s.io", "events", ("create", "patch"))
# Preemption respects PodDisruptionBudgets.
PDBS = Permission("policy", "poddisruptionbudgets", ("list", "watch"))
# Gangs declared as PodGroup objects (scheduler-plugins CRD), if installed.
PODGROUPS = Permission("scheduling.x-k8s.io", "podgroups", ("list", "watch"))
# ... and their status (phase, scheduled, running), so `kubectl get podgroups` tells the user something.
PODGROUPS_STATUS = Permission("scheduling.x-k8s.io", "podgroups/status", ("patch",))
# Volume filters: claims, the volumes they are bound to, and storage classes (read only).
PVCS = Permission(CORE, "persistentvolumeclaims", ("get", "list", "watch"))
PVS = Permission(CORE, "persistentvolumes", ("get", "list", "watch"))
STORAGE_CLASSES = Permission("storage.k8s.io", "storageclasses", ("get", "list", "watch"))
# Namespace labels, for podAffinity namespaceSelector (read only; optional: warned about when missing).
NAMESPACES = Permission(CORE, "namespaces", ("get", "list", "watch"))
# Leader election, only in the scheduler's own namespace.
LEASES = Permission(
    "coordination.k8s.io", "leases", ("get", "create", "update"), namespaced_to_self=True
)

PERMISSIONS: Tuple[Permission, ...] = (
    PODS_LIST_WATCH,
    PODS_BIND,
    PODS_EVICT,
    PODS_STATUS,
    NODES,
    EVENTS,
    PDBS,
    PODGROUPS,
    PODGROUPS_STATUS,
    PVCS,
    PVS,
    STORAGE_CLASSES,
    NAMESPACES,
    LEASES,
)


def cluster_role_rules() -> List[Dict[str, List[str]]]:
    """Rules for the ClusterRole (everything not confined to our namespace)."""
    return [p.rule() for p in PERMISSIONS if not p.namespaced_to_self]


def lease_role_rules() -> List[Dict[str, List[str]]]:
    """Rules for the Role in the scheduler's own namespace (leader election)."""
    return [p.rule() for p in PERMISSIONS if p.namespaced_to_self]
