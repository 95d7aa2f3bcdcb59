"""Built-in filter and score plugins; importing this package registers them.

The default profile (which plugins run, in which order, with which weights) is
defined here, from the plugins' own names, so a name is spelled in one place.
"""
from typing import Dict, Tuple

from scheduler.core.plugins import (
    affinity,
    allocation,
    fit,
    interpod,
    load,
    nodename,
    ports,
    spread,
    taints,
    unschedulable,
    unsupported,
    volumes,
)

DEFAULT_FILTERS: Tuple[str, ...] = tuple(plugin.name for plugin in (
    unsupported.UnsupportedFields,
    unschedulable.NodeUnschedulable,
    unschedulable.NodeReady,
    nodename.NodeName,
    taints.TaintToleration,
    affinity.NodeAffinity,
    volumes.VolumeBinding,
    volumes.VolumeZone,
    volumes.VolumeRestrictions,
    ports.NodePorts,
    fit.ResourceFit,
    spread.PodTopologySpread,
    interpod.InterPodAffinity,
    load.LoadAware,
))
DEFAULT_SCORES: Dict[str, float] = {
    allocation.LeastAllocated.name: 1.0,
    allocation.BalancedAllocation.name: 1.0,
    affinity.PreferredAffinity.name: 2.0,
    taints.TaintPreference.name: 3.0,
    interpod.InterPodAffinityScore.name: 2.0,
    spread.PodTopologySpreadScore.name: 2.0,
    load.LoadScore.name: 1.0,
}
