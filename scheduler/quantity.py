"""Kubernetes' own quantity parser, adapted for the core (which must not import `kubernetes` itself).

The core reads quantities only through a `Quantities` it is handed: in
`Defaults` for pods (`scheduler.stack.defaults_from` puts this one there) and as
an argument of `parse_node`.  Everything outside the core that parses objects or
flags uses this one, so `--mem 2Gi`, a pod's `500m` and a node's `16Gi` all go
through `kubernetes.utils.parse_quantity`.  Importing this module changes nothing
elsewhere.
"""
import importlib.util
import os
from typing import Any, Callable

from scheduler.core.quantities import Quantities


def _kubernetes_parse_quantity() -> Callable[[Any], Any]:
    """`kubernetes.utils.parse_quantity`, loaded from its own file: importing `kubernetes.utils` runs the
    package's __init__, which loads the whole client (a quarter of a second that `simulate` and `plan`
    never need).  The module needs nothing but `decimal`; if the layout ever changes, import it normally."""
    package = importlib.util.find_spec("kubernetes")  # finds the package without running its __init__
    path = os.path.join(os.path.dirname(package.origin), "utils", "quantity.py") if package and package.origin else ""
    spec = importlib.util.spec_from_file_location("scheduler._kubernetes_quantity", path) if os.path.isfile(path) else None
    if spec is None or spec.loader is None:
        from kubernetes.utils import parse_quantity as imported  # typed in some client versions, not in others

        parser: Callable[[Any], Any] = imported
        return parser
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded: Callable[[Any], Any] = module.parse_quantity
    return loaded


parse_quantity = _kubernetes_parse_quantity()
KUBERNETES_QUANTITIES = Quantities(parse_quantity)
"""One per process, so the quantity strings it has read are remembered across every parse."""
