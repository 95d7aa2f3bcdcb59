"""Built-in filter and score plugins; importing this package registers them."""
from scheduler.core.plugins import affinity, allocation, fit, load, nodename, ports, taints, unschedulable  # noqa: F401
