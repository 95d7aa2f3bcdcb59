"""PersistentVolumeClaims, PersistentVolumes and StorageClasses, as the volume filters need them.

Raw API JSON -> frozen core types (every object is untrusted input: shapes are
checked and only ModelError escapes), and the `VolumeCatalog` that holds the
current ones (`ClusterState.volumes`).  The scheduler does not bind or provision
volumes: it places pods whose claims are already bound, on nodes their volumes
can be reached from (kube-scheduler's VolumeBinding for bound claims,
VolumeZone and VolumeRestrictions' ReadWriteOncePod rule).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Tuple, TypeVar, Union

from scheduler.core.model import ModelError, NodeSelectorTerm, term_matches
from scheduler.core.selectors import parse_requirements
from scheduler.core.untrusted import MALFORMED, as_array, as_object, as_string_map, as_text, clip, preview

CLAIM = "PersistentVolumeClaim"
VOLUME = "PersistentVolume"
STORAGE_CLASS = "StorageClass"

READ_WRITE_ONCE_POD = "ReadWriteOncePod"
IMMEDIATE = "Immediate"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
LEGACY_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
BETA_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"
BETA_REGION_LABEL = "failure-domain.beta.kubernetes.io/region"
TOPOLOGY_LABELS = (ZONE_LABEL, REGION_LABEL, BETA_ZONE_LABEL, BETA_REGION_LABEL)
"""kube's VolumeZone labels: a PV carrying one may only be used from nodes with a matching value."""
_GA_LABEL = {BETA_ZONE_LABEL: ZONE_LABEL, BETA_REGION_LABEL: REGION_LABEL}
ZONE_DELIMITER = "__"
"""A multi-zone PV label value lists its zones joined by this (kube's LabelMultiZoneDelimiter)."""

_MAX_ACCESS_MODES = 8


@dataclass(frozen=True)
class Claim:
    """A PersistentVolumeClaim: bound when `volume_name` is set."""

    namespace: str
    name: str
    volume_name: str = ""
    phase: str = "Pending"
    access_modes: Tuple[str, ...] = ()
    storage_class: str = ""
    deleting: bool = False
    resource_version: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def read_write_once_pod(self) -> bool:
        return READ_WRITE_ONCE_POD in self.access_modes


@dataclass(frozen=True)
class PersistentVolume:
    """A PersistentVolume: which nodes may use it (required node affinity, and zone/region labels)."""

    name: str
    node_affinity: Optional[Tuple[NodeSelectorTerm, ...]] = None  # required terms, ORed; None: every node
    topology: Tuple[Tuple[str, FrozenSet[str]], ...] = ()  # (zone/region label, values the node may have)
    resource_version: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return self.name

    def affinity_matches(self, labels: Mapping[str, str]) -> bool:
        """kube's CheckNodeAffinity: terms are ORed, and an empty term matches no node."""
        if self.node_affinity is None:
            return True
        return any(term and term_matches(term, labels) for term in self.node_affinity)

    def zone_matches(self, labels: Mapping[str, str]) -> bool:
        """kube's VolumeZone: a node without any zone/region label passes (single-zone clusters);
        otherwise it needs every label the PV has, with one of its values (a beta PV label may
        be matched by the node's GA label)."""
        if not self.topology or not any(label in labels for label in TOPOLOGY_LABELS):
            return True
        for key, values in self.topology:
            value = labels.get(key)
            if value is None:
                value = labels.get(_GA_LABEL.get(key, key))
            if value is None or value not in values:
                return False
        return True


@dataclass(frozen=True)
class StorageClass:
    name: str
    binding_mode: str = IMMEDIATE
    resource_version: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return self.name


VolumeObject = Union[Claim, PersistentVolume, StorageClass]


# ---------------------------------------------------------------- parsing

def _meta(obj: Any, kind: str) -> Tuple[Mapping[str, Any], str]:
    if not isinstance(obj, Mapping):
        raise ModelError(f"{kind} must be a JSON object, got {type(obj).__name__}")
    meta = as_object(obj.get("metadata"), f"{kind} metadata")
    name = meta.get("name")
    if not name or not isinstance(name, str):
        raise ModelError(f"{kind} has no metadata.name (got {preview(name)})")
    return meta, name


T = TypeVar("T")


def _checked(kind: str, where: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except ModelError as exc:
        raise ModelError(f"{kind} {where}: {exc}") from None
    except MALFORMED as exc:
        raise ModelError(f"{kind} {where}: malformed object ({clip(str(exc))})") from None


def _access_modes(spec: Mapping[str, Any]) -> Tuple[str, ...]:
    modes = as_array(spec.get("accessModes"), "spec.accessModes")
    if len(modes) > _MAX_ACCESS_MODES:
        raise ModelError(f"spec.accessModes has {len(modes)} entries; expected at most {_MAX_ACCESS_MODES}")
    return tuple(as_text(mode, "", "spec.accessModes item") for mode in modes)


def parse_claim(obj: Any) -> Claim:
    """Raw PersistentVolumeClaim JSON -> Claim.  Raises only ModelError."""
    meta, name = _meta(obj, CLAIM)
    namespace = as_text(meta.get("namespace"), "default", f"{CLAIM} metadata.namespace")

    def build() -> Claim:
        spec = as_object(obj.get("spec"), "spec")
        status = as_object(obj.get("status"), "status")
        annotations = as_string_map(meta.get("annotations"), "metadata.annotations")
        storage_class = spec.get("storageClassName")
        return Claim(
            namespace=namespace,
            name=name,
            volume_name=as_text(spec.get("volumeName"), "", "spec.volumeName"),
            phase=as_text(status.get("phase"), "Pending", "status.phase"),
            access_modes=_access_modes(spec),
            storage_class=as_text(storage_class if storage_class is not None else annotations.get(LEGACY_CLASS_ANNOTATION),
                                  "", "spec.storageClassName"),
            deleting=bool(meta.get("deletionTimestamp")),
            resource_version=str(meta.get("resourceVersion") or ""),
        )

    return _checked(CLAIM, f"{namespace}/{name}", build)


def _zones(value: str) -> Optional[FrozenSet[str]]:
    """A zone label value as a set (`a__b`); None when it lists an empty zone (kube ignores such a label)."""
    zones = [zone.strip() for zone in value.split(ZONE_DELIMITER)]
    return None if any(not zone for zone in zones) else frozenset(zones)


def _node_affinity(spec: Mapping[str, Any]) -> Optional[Tuple[NodeSelectorTerm, ...]]:
    affinity = spec.get("nodeAffinity")
    if not affinity:
        return None
    required = as_object(affinity, "spec.nodeAffinity").get("required")
    if required is None:
        return None
    terms = as_array(as_object(required, "spec.nodeAffinity.required").get("nodeSelectorTerms"),
                     "spec.nodeAffinity.required.nodeSelectorTerms")
    # matchFields only supports metadata.name, which parse_node mirrors into a label
    return tuple(
        parse_requirements(term.get("matchExpressions"), "PersistentVolume nodeAffinity")
        + parse_requirements(term.get("matchFields"), "PersistentVolume nodeAffinity matchFields")
        for term in (as_object(t, "nodeSelectorTerms item") for t in terms)
    )


def parse_volume(obj: Any) -> PersistentVolume:
    """Raw PersistentVolume JSON -> PersistentVolume.  Raises only ModelError."""
    meta, name = _meta(obj, VOLUME)

    def build() -> PersistentVolume:
        labels = as_string_map(meta.get("labels"), "metadata.labels")
        topology = []
        for label in TOPOLOGY_LABELS:
            if label in labels:
                zones = _zones(labels[label])
                if zones is not None:
                    topology.append((label, zones))
        return PersistentVolume(
            name=name,
            node_affinity=_node_affinity(as_object(obj.get("spec"), "spec")),
            topology=tuple(topology),
            resource_version=str(meta.get("resourceVersion") or ""),
        )

    return _checked(VOLUME, name, build)


def parse_storage_class(obj: Any) -> StorageClass:
    """Raw StorageClass JSON -> StorageClass (volumeBindingMode is a top-level field).  Raises only ModelError."""
    meta, name = _meta(obj, STORAGE_CLASS)

    def build() -> StorageClass:
        return StorageClass(name=name,
                            binding_mode=as_text(obj.get("volumeBindingMode"), IMMEDIATE, "volumeBindingMode"),
                            resource_version=str(meta.get("resourceVersion") or ""))

    return _checked(STORAGE_CLASS, name, build)


# ---------------------------------------------------------------- the catalog

class VolumeCatalog:
    """The claims, volumes and storage classes the cluster has now (kept by the scheduling loop's events)."""

    def __init__(self) -> None:
        self.claims: Dict[str, Claim] = {}
        self.volumes: Dict[str, PersistentVolume] = {}
        self.classes: Dict[str, StorageClass] = {}
        self.generation = 0  # bumps when anything a filter reads changes

    def _table(self, kind: str) -> Dict[str, Any]:
        tables: Dict[str, Dict[str, Any]] = {CLAIM: self.claims, VOLUME: self.volumes, STORAGE_CLASS: self.classes}
        if kind not in tables:
            raise ValueError(f"unknown volume object kind {kind!r} (known: {', '.join(tables)})")
        return tables[kind]

    def upsert(self, obj: VolumeObject) -> bool:
        """Add or replace an object; False when nothing a decision reads changed (e.g. only its resourceVersion)."""
        kind = CLAIM if isinstance(obj, Claim) else VOLUME if isinstance(obj, PersistentVolume) else STORAGE_CLASS
        table = self._table(kind)
        changed = table.get(obj.key) != obj
        table[obj.key] = obj
        if changed:
            self.generation += 1
        return changed

    def delete(self, kind: str, key: str) -> bool:
        """Forget an object (`kind` is CLAIM, VOLUME or STORAGE_CLASS; a claim's key is namespace/name)."""
        if self._table(kind).pop(key, None) is None:
            return False
        self.generation += 1
        return True

    def claim(self, namespace: str, name: str) -> Optional[Claim]:
        return self.claims.get(f"{namespace}/{name}")

    def volume_of(self, claim: Claim) -> Optional[PersistentVolume]:
        return self.volumes.get(claim.volume_name) if claim.volume_name else None

    def binding_mode(self, claim: Claim) -> str:
        """The claim's class's volumeBindingMode; Immediate when it has no class or the class is unknown."""
        storage_class = self.classes.get(claim.storage_class) if claim.storage_class else None
        return storage_class.binding_mode if storage_class is not None else IMMEDIATE
