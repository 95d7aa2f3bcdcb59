"""ClusterState: nodes as numpy columns and the pods placed on them (bound or assumed).

Two concerns live beside it: measured load (`LoadSamples`, `state.load`) and
the preemption index (`VictimIndex`, `state.victims`), both kept current here
as pods and nodes come and go.  One thread owns a ClusterState (the scheduling loop); adapters hand it events
between cycles, so a scheduling cycle always sees a consistent state without
copying it.  Node rows are stable indices; a removed node's row is marked dead
and reused by the next node added.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

from scheduler.core.columns import add_saturating, resized, saturate, with_column
from scheduler.core.load_samples import LoadSamples
from scheduler.core.model import BASE_RESOURCES, CPU, MEMORY, PODS, Node, NodeUtilisation, Pod
from scheduler.core.topology import TopologyIndex
from scheduler.core.victim_index import VictimIndex
from scheduler.core.volumes import VolumeCatalog


@dataclass
class PlacedPod:
    """A pod that uses resources on a node: bound (confirmed) or assumed (decided, unconfirmed)."""

    pod: Pod
    row: int
    assumed: bool
    assumed_at: float = 0.0
    bound: bool = False  # the API accepted our binding (the watch has not shown it yet): never expires
    evictable: bool = False  # counted in VictimIndex.by_priority
    leaving: bool = False  # counted in VictimIndex.leaving (terminating, or being evicted by us)
    sample_time: float = 0.0  # the node's utilisation sample time when this pod was placed


NODE_LOG_SIZE = 4096
"""Node changes remembered, so per-node caches recompute the rows that changed, not all of them."""


class ClusterState:
    """Incrementally maintained view of nodes and the pods placed on them."""

    def __init__(self, capacity: int = 64, is_evictable: Callable[[Pod], bool] = lambda pod: False) -> None:
        self.resources: List[str] = list(BASE_RESOURCES)
        self.column: Dict[str, int] = {name: i for i, name in enumerate(self.resources)}
        self.nodes: List[Optional[Node]] = []
        self.row_of: Dict[str, int] = {}
        self._free_rows: List[int] = []
        # Columns are resource-major (resource, row) so each resource is one contiguous vector.
        r = len(self.resources)
        self.alive = np.zeros(capacity, dtype=bool)
        self.allocatable = np.zeros((r, capacity), dtype=np.int64)
        self.requested = np.zeros((r, capacity), dtype=np.int64)
        self.free_ = np.zeros((r, capacity), dtype=np.int64)  # allocatable - requested, kept current
        self.inv_allocatable = np.zeros((r, capacity))  # 1/allocatable (0 where none), for fractions
        # cpu and memory as the allocation scores count them (kube's non-zero defaults for pods without requests)
        self.score_requested = np.zeros((2, capacity), dtype=np.int64)
        self.load = LoadSamples(capacity)
        self.victims = VictimIndex(is_evictable)
        self.topology = TopologyIndex(capacity)
        self.pods_on: List[Dict[str, PlacedPod]] = []
        self.ports_on: List[Set[Tuple[str, str, int]]] = []
        self.placed: Dict[str, PlacedPod] = {}
        # bound pods whose node is not known yet (the pod list arrived before the node list)
        self.awaiting_node: Dict[str, Dict[str, Pod]] = {}
        self._awaiting_of: Dict[str, str] = {}
        self.namespaces: Dict[str, Dict[str, str]] = {}  # namespace -> its labels (for namespaceSelector)
        self.volumes = VolumeCatalog()  # claims, persistent volumes, storage classes (volume filters)
        self.node_generation = 0  # bumps when any static node property changes (one node at a time)
        self._node_log: List[int] = []  # the row changed at each node generation, the latest NODE_LOG_SIZE
        self._node_log_start = 0  # the generation _node_log[0] was recorded at
        self.generation = 0  # bumps on every change (used by callers to detect "cluster changed")
        self.what_ifs_open = 0  # a what-if changes rows without bumping `generation`: no cached answers meanwhile

    # ------------------------------------------------------------ columns
    @property
    def size(self) -> int:
        """Number of rows in use (alive or dead); arrays are sliced to this."""
        return len(self.nodes)

    def free(self, resource: str) -> np.ndarray:
        """Free amount of one resource per row (0 where unknown)."""
        col = self.column.get(resource)
        if col is None:
            return np.zeros(self.size, dtype=np.int64)
        return self.free_[col, : self.size]

    def _ensure_column(self, resource: str) -> int:
        col = self.column.get(resource)
        if col is not None:
            return col
        col = len(self.resources)
        self.resources.append(resource)
        self.column[resource] = col
        for name in ("allocatable", "requested", "free_", "inv_allocatable"):
            setattr(self, name, with_column(getattr(self, name)))
        self.victims.add_column()
        return col

    def _grow(self) -> None:
        rows = self.alive.shape[0] * 2
        self.alive = resized(self.alive, rows)
        for name in ("allocatable", "requested", "free_", "inv_allocatable", "score_requested"):
            setattr(self, name, resized(getattr(self, name), rows))
        self.load.grow(rows)
        self.victims.grow(rows)
        self.topology.grow(rows)

    # ------------------------------------------------------------ nodes
    def upsert_node(self, node: Node) -> List[Pod]:
        """Add a node or replace its properties; pods on it are kept.

        Returns the bound pods that were waiting for this node (listed before it) and are
        now accounted on it, so the caller treats them like any other placement."""
        row = self.row_of.get(node.name)
        if row is None:
            if self._free_rows:
                row = self._free_rows.pop()
                self.requested[:, row] = 0  # a removed node's row: clear what it held
                self.score_requested[:, row] = 0
                self.load.reset(row)
            else:  # a row never used: still as _grow() made it (zeros, no load samples)
                row = len(self.nodes)
                if row >= self.alive.shape[0]:
                    self._grow()
                self.nodes.append(None)
                self.pods_on.append({})
                self.ports_on.append(set())
            self.row_of[node.name] = row
        self.nodes[row] = node
        self.alive[row] = True
        for name in node.allocatable:
            self._ensure_column(name)  # may replace the arrays: index after it
        # a handful of resources: plain Python beats a numpy call per step
        amounts = [0] * len(self.resources)
        for name, amount in node.allocatable.items():
            amounts[self.column[name]] = amount
        self.allocatable[:, row] = amounts
        self.free_[:, row] = [amount - used for amount, used in zip(amounts, self.requested[:, row].tolist())]
        self.inv_allocatable[:, row] = [1.0 / amount if amount > 0 else 0.0 for amount in amounts]
        self.load.changed(row)
        self._node_changed(row)
        arrived = list(self.awaiting_node.pop(node.name, {}).values())
        for pod in arrived:
            self._awaiting_of.pop(pod.key, None)
            self.place(pod, node.name)
        return arrived

    def remove_node(self, name: str) -> List[Pod]:
        """Drop a node; returns the pods that were placed on it (now orphaned)."""
        row = self.row_of.pop(name, None)
        if row is None:
            return []
        orphans = [placed.pod for placed in self.pods_on[row].values()]
        for pod in orphans:
            self.placed.pop(pod.key, None)
            self.topology.moved(pod, row, -1)
            if not pod.deleting:  # still bound there as far as the API knows: counted again if it returns
                self.awaiting_node.setdefault(name, {})[pod.key] = pod
                self._awaiting_of[pod.key] = name
        self.pods_on[row] = {}
        self.ports_on[row] = set()
        self.nodes[row] = None
        self.alive[row] = False
        for array in (self.allocatable, self.requested, self.free_, self.inv_allocatable, self.score_requested):
            array[:, row] = 0
        self.victims.clear_row(row)
        self._free_rows.append(row)
        self._node_changed(row)
        return orphans

    def _node_changed(self, row: int) -> None:
        self._node_log.append(row)
        if len(self._node_log) > NODE_LOG_SIZE:
            drop = len(self._node_log) - NODE_LOG_SIZE // 2
            del self._node_log[:drop]
            self._node_log_start += drop
        self.node_generation += 1
        self.generation += 1

    def rows_changed_since(self, generation: int) -> Optional[Set[int]]:
        """Node rows added, changed or removed since `node_generation` was `generation`; None when that is
        too long ago to tell (or too many changed to be worth it): recompute everything."""
        if generation < self._node_log_start:
            return None
        rows = set(self._node_log[generation - self._node_log_start:])
        return rows if len(rows) * 4 <= max(self.size, 1) else None

    def node(self, name: str) -> Optional[Node]:
        row = self.row_of.get(name)
        return None if row is None else self.nodes[row]

    def name_of(self, row: int) -> str:
        """The name of the node on a live row (rows from masks and placements always are live)."""
        node = self.nodes[row]
        if node is None:
            raise LookupError(f"row {row} holds no node")
        return node.name

    def live_nodes(self) -> Iterator[Node]:
        return (node for node in self.nodes if node is not None)

    @property
    def node_count(self) -> int:
        return len(self.row_of)

    # ------------------------------------------------------------ pods
    def place(self, pod: Pod, node_name: str, assumed: bool = False, now: float = 0.0) -> bool:
        """Account a pod on a node (bound, or assumed by our own decision). Idempotent per pod key."""
        existing = self.placed.get(pod.key)
        if existing is not None:
            if self.row_of.get(node_name) == existing.row:
                if not assumed:  # the API confirmed it: it is bound now (or changed, e.g. terminating)
                    existing.assumed = False
                    self._bucket(existing, -1)
                    self.topology.moved(existing.pod, existing.row, -1)
                    existing.pod = pod
                    self.topology.moved(pod, existing.row, +1)
                    self._bucket(existing, +1)
                    self.generation += 1
                return True
            self.forget(pod.key)
        row = self.row_of.get(node_name)
        if row is None:
            if not assumed:  # bound to a node we have not seen yet: count it once the node arrives
                self.awaiting_node.setdefault(node_name, {})[pod.key] = pod
                self._awaiting_of[pod.key] = node_name
            return False
        self._stop_awaiting(pod.key)
        placed = PlacedPod(pod, row, assumed, now, sample_time=float(self.load.util_time[row]))
        self.placed[pod.key] = placed
        self.pods_on[row][pod.key] = placed
        self.ports_on[row].update(pod.host_ports)
        self.topology.moved(pod, row, +1)
        self._account(row, pod, +1)
        self._bucket(placed, +1)
        self.generation += 1
        return True

    def _stop_awaiting(self, key: str) -> Optional[Pod]:
        node_name = self._awaiting_of.pop(key, None)
        if node_name is None:
            return None
        waiting = self.awaiting_node.get(node_name, {})
        pod = waiting.pop(key, None)
        if not waiting:
            self.awaiting_node.pop(node_name, None)
        return pod

    def forget(self, key: str) -> Optional[Pod]:
        """Remove a pod's usage (deleted, terminal, or an assumption that failed)."""
        placed = self.placed.pop(key, None)
        if placed is None:
            self._stop_awaiting(key)  # it used no room here: nothing to give back
            return None
        row = placed.row
        self.pods_on[row].pop(key, None)
        self.topology.moved(placed.pod, row, -1)
        if placed.pod.host_ports:
            self.ports_on[row] = set().union(*(p.pod.host_ports for p in self.pods_on[row].values())) if self.pods_on[row] else set()
        self._account(row, placed.pod, -1)
        if self.load.util_time[row] == placed.sample_time:  # placed after the current sample: undo its estimate
            self.load.estimate(row, placed.pod, -1)
        self._bucket(placed, -1)
        self.victims.evicting.discard(key)
        self.generation += 1
        return placed.pod

    def _account(self, row: int, pod: Pod, sign: int) -> None:
        for name in pod.requests:
            self._ensure_column(name)  # may replace the arrays: index after it
        for name, amount in pod.requests.items():
            col = self.column[name]
            requested = add_saturating(self.requested, col, row, sign * amount)
            self.free_[col, row] = saturate(int(self.allocatable[col, row]) - requested)
        for i, amount in enumerate(pod.score_cpu_memory):
            add_saturating(self.score_requested, i, row, sign * amount)
        if sign > 0:
            self.load.estimate(row, pod, +1)

    def _bucket(self, placed: PlacedPod, sign: int) -> None:
        self.victims.count(placed, sign, self.column, self.requested.shape)

    def mark_evicting(self, key: str) -> None:
        """Our own eviction is under way: the pod is no longer a candidate victim, its room will be freed."""
        placed = self.placed.get(key)
        if placed is not None:
            self._bucket(placed, -1)
        self.victims.evicting.add(key)
        if placed is not None:
            self._bucket(placed, +1)
            self.generation += 1

    def unmark_evicting(self, key: str) -> None:
        """Our eviction did not happen (a PDB said no, or an error): the pod is a candidate again."""
        placed = self.placed.get(key)
        if placed is not None:
            self._bucket(placed, -1)
        self.victims.evicting.discard(key)
        if placed is not None:
            self._bucket(placed, +1)
            self.generation += 1

    @contextmanager
    def what_if(self, row: int) -> Iterator[RowWhatIf]:
        """A what-if view of one node: pods can be lifted off it and put back, and the profile's real
        filters see the node as it would be; everything is restored exactly afterwards.  Preemption
        asks "does the pod fit without these?" this way: one definition of "fits"."""
        view = RowWhatIf(self, row)
        self.what_ifs_open += 1
        try:
            yield view
        finally:
            self.what_ifs_open -= 1
            view.restore()

    def expired_assumptions(self, now: float, ttl: float) -> List[str]:
        """Assumed pods with no answer from the API for `ttl` seconds (a binding the API accepted never expires)."""
        return [key for key, placed in self.placed.items()
                if placed.assumed and not placed.bound and now - placed.assumed_at > ttl]

    def mark_bound(self, key: str) -> bool:
        """The API accepted our binding; the watch will confirm it.  False when no assumption is held."""
        placed = self.placed.get(key)
        if placed is None or not placed.assumed:
            return False
        placed.bound = True
        return True

    def pods_on_node(self, name: str) -> List[Pod]:
        row = self.row_of.get(name)
        return [] if row is None else [placed.pod for placed in self.pods_on[row].values()]

    def usage(self) -> List[Dict[str, Any]]:
        """Per live node: pods, requested fractions, pod slots used and the measured load (plain values)."""
        rows = []
        for node in self.live_nodes():
            row = self.row_of[node.name]
            cpu, memory = self.load.measured(row)
            rows.append({
                "name": node.name,
                "pods": len(self.pods_on[row]),
                "cpu_requested": self._requested_fraction(CPU, row),
                "memory_requested": self._requested_fraction(MEMORY, row),
                "pod_slots_used": int(self.requested[self.column[PODS], row]),
                "measured_cpu": cpu,
                "measured_memory": memory,
            })
        return rows

    def _requested_fraction(self, resource: str, row: int) -> float:
        col = self.column[resource]
        alloc = self.allocatable[col, row]
        return round(float(self.requested[col, row]) / alloc, 4) if alloc else 0.0

    # ------------------------------------------------------------ load
    def load_outage(self) -> None:
        """The load source is unreachable: forget every sample; placement goes on requests alone."""
        self.load.outage(self.size)
        self.generation += 1

    def set_utilisation(self, values: Dict[str, NodeUtilisation]) -> None:
        """Record fresh samples of known nodes."""
        self.load.available = True
        for name, sample in values.items():
            row = self.row_of.get(name)
            if row is not None:
                self.load.record(row, sample)
        self.generation += 1


class RowWhatIf:
    """Pods lifted off one node row (see ClusterState.what_if).  Their requests leave the free
    columns, their host ports the port index, and their usage the load estimate (by requests,
    measured or not: it may go below zero here, never in the real state)."""

    def __init__(self, state: ClusterState, row: int) -> None:
        self.state = state
        self.row = row
        self.lifted: Dict[str, PlacedPod] = {}
        self._saved = (state.requested[:, row].copy(), state.free_[:, row].copy(), state.score_requested[:, row].copy(),
                       state.load.since_sample[:, row].copy(), state.ports_on[row])

    def lift(self, pods: Sequence[Pod]) -> None:
        self._move(pods, -1)

    def put_back(self, pods: Sequence[Pod]) -> None:
        self._move(pods, +1)

    def _move(self, pods: Sequence[Pod], sign: int) -> None:
        state, row = self.state, self.row
        on_node = state.pods_on[row]
        ports = False
        delta: Dict[int, int] = {}
        for pod in pods:
            if sign < 0:
                placed = on_node.pop(pod.key, None)
                if placed is None:
                    continue
                self.lifted[pod.key] = placed
            else:
                placed = self.lifted.pop(pod.key, None)
                if placed is None:
                    continue
                on_node[pod.key] = placed
            state.topology.moved(placed.pod, row, sign)
            ports = ports or bool(pod.host_ports)
            for name, amount in pod.requests.items():
                col = state.column[name]
                delta[col] = delta.get(col, 0) + sign * amount
            for i, amount in enumerate(pod.score_cpu_memory):
                add_saturating(state.score_requested, i, row, sign * amount)
        if not delta and not ports:
            return
        for col, change in delta.items():
            requested = saturate(int(state.requested[col, row]) + change)
            state.requested[col, row] = requested
            state.free_[col, row] = saturate(int(state.allocatable[col, row]) - requested)
        for i, resource in enumerate((CPU, MEMORY)):
            load_col = state.column.get(resource)
            if load_col is not None and load_col in delta:
                state.load.since_sample[i, row] = saturate(int(state.load.since_sample[i, row]) + delta[load_col])
        if ports:
            state.ports_on[row] = set().union(*(p.pod.host_ports for p in on_node.values())) if on_node else set()
        state.load.changed(row)

    def restore(self) -> None:
        state, row = self.state, self.row
        for key, placed in self.lifted.items():
            state.pods_on[row][key] = placed
            state.topology.moved(placed.pod, row, +1)
        self.lifted = {}
        (state.requested[:, row], state.free_[:, row], state.score_requested[:, row], state.load.since_sample[:, row],
         state.ports_on[row]) = self._saved
        state.load.changed(row)

