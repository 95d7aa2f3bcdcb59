"""The resource types the stand-in serves, and how a kind, plural or group/plural names one.

One table drives discovery, URL routing and the Python API, so a resource
added here is served everywhere at once.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

PODGROUP_GROUP = "scheduling.x-k8s.io"


class Resource:
    def __init__(self, group: str, version: str, plural: str, kind: str, namespaced: bool,
                 subresources: Iterable[str] = (), short: Iterable[str] = (),
                 create_on_update: bool = False) -> None:
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced = namespaced
        self.subresources = set(subresources)
        self.short = list(short)
        self.create_on_update = create_on_update
        self.api_version = f"{group}/{version}" if group else version
        self.rid = f"{group}/{plural}" if group else plural
        self.qualified = f"{plural}.{group}" if group else plural
        self.list_kind = kind + "List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


RESOURCES: List[Resource] = [
    Resource("", "v1", "pods", "Pod", True, ("status", "binding", "eviction"), ("po",)),
    Resource("", "v1", "nodes", "Node", False, ("status",), ("no",)),
    Resource("", "v1", "namespaces", "Namespace", False, ("status",), ("ns",)),
    Resource("", "v1", "events", "Event", True, (), ("ev",), create_on_update=True),
    Resource("", "v1", "configmaps", "ConfigMap", True, (), ("cm",)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("status",), ("pvc",)),
    Resource("", "v1", "persistentvolumes", "PersistentVolume", False, ("status",), ("pv",)),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True,
             ("status",), ("pdb",)),
    Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, (), ("pc",)),
    Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, (), ("sc",)),
    Resource(PODGROUP_GROUP, "v1alpha1", "podgroups", "PodGroup", True,
             ("status",), ("pg",)),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", True),
    Resource("events.k8s.io", "v1", "events", "Event", True, (), ("ev",), create_on_update=True),
]

BY_GV: Dict[Tuple[str, str], Dict[str, Resource]] = {}
for _r in RESOURCES:
    BY_GV.setdefault((_r.group, _r.version), {})[_r.plural] = _r
BY_RID: Dict[str, Resource] = {r.rid: r for r in RESOURCES}
PODS = BY_RID["pods"]
PDBS = BY_RID["policy/poddisruptionbudgets"]


def resolve_kind(kind: str, api_version: Optional[str] = None) -> List[Resource]:
    """Resources matching a kind ("Pod"), plural ("pods") or rid ("events.k8s.io/events")."""
    if kind in BY_RID:
        return [BY_RID[kind]]
    return [r for r in RESOURCES
            if (r.kind == kind or r.plural == kind or r.kind.lower() == kind.lower())
            and (api_version is None or r.api_version == api_version)]
