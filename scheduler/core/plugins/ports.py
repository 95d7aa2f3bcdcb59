"""NodePorts: a requested hostPort must not be in use on the node (0.0.0.0 clashes with any IP)."""
from __future__ import annotations

from typing import Hashable, Iterable, Set, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ADDED, BUDGET_CHANGED, NODE_CHANGED, POD_REMOVED, FilterPlugin, register_filter
from scheduler.core.model import Pod

Port = Tuple[str, str, int]
ANY_IP = "0.0.0.0"


def ports_conflict(wanted: Iterable[Port], used: Set[Port]) -> bool:
    for ip, protocol, port in wanted:
        for used_ip, used_protocol, used_port in used:
            if port == used_port and protocol == used_protocol and (ip == used_ip or ANY_IP in (ip, used_ip)):
                return True
    return False


@register_filter
class NodePorts(FilterPlugin):
    name = "NodePorts"
    wakes_on = frozenset({POD_REMOVED, NODE_CHANGED, BUDGET_CHANGED})
    node_aspects = frozenset({ADDED})
    resolvable = True
    default_reason = "node(s) didn't have free ports for the requested pod ports"

    def applies(self, pod: Pod) -> bool:
        return bool(pod.host_ports)

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.host_ports

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        mask: np.ndarray = state.alive[: state.size].copy()
        for row, used in enumerate(state.ports_on):
            if used and mask[row] and ports_conflict(pod.host_ports, used):
                mask[row] = False
        return mask

    def filter_row(self, pod: Pod, state: ClusterState, row: int) -> bool:
        used = state.ports_on[row]
        return bool(state.alive[row]) and not (used and ports_conflict(pod.host_ports, used))
