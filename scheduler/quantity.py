"""Install Kubernetes' own quantity parser into the core (which must not import `kubernetes` itself).

Imported for its effect by every entry into the engine: the config (flags such
as `--mem 2Gi` are quantities) and `scheduler.stack`.
"""
from kubernetes.utils import parse_quantity

from scheduler.core.quantities import set_quantity_parser

set_quantity_parser(parse_quantity)
