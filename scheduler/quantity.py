"""Kubernetes' own quantity parser, adapted for the core (which must not import `kubernetes` itself).

The core reads quantities only through a `Quantities` it is handed: in
`Defaults` for pods (`scheduler.stack.defaults_from` puts this one there) and as
an argument of `parse_node`.  Everything outside the core that parses objects or
flags uses this one, so `--mem 2Gi`, a pod's `500m` and a node's `16Gi` all go
through `kubernetes.utils.parse_quantity`.  Importing this module changes nothing
elsewhere.
"""
from kubernetes.utils import parse_quantity

from scheduler.core.quantities import Quantities

KUBERNETES_QUANTITIES = Quantities(parse_quantity)
"""One per process, so the quantity strings it has read are remembered across every parse."""
