"""Built-in filter and score plugins; importing this package registers them.

The default profile (which plugins run, in which order, with which weights) is
defined here, from the plugins' own names, so a name is spelled in one place.
"""
from typing import Dict, Tuple

from scheduler.core.plugins import affinity, allocation, fit, load, nodename, ports, taints, unschedulable

DEFAULT_FILTERS: Tuple[str, ...] = tuple(plugin.name for plugin in (
    unschedulable.NodeUnschedulable,
    unschedulable.NodeReady,
    nodename.NodeName,
    taints.TaintToleration,
    affinity.NodeAffinity,
    ports.NodePorts,
    fit.ResourceFit,
    load.LoadAware,
))
DEFAULT_SCORES: Dict[str, float] = {
    allocation.LeastAllocated.name: 1.0,
    allocation.BalancedAllocation.name: 1.0,
    affinity.PreferredAffinity.name: 2.0,
    taints.TaintPreference.name: 3.0,
    load.LoadScore.name: 1.0,
}
