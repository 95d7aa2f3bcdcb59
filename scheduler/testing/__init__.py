"""Test utilities: a stand-in kube-apiserver and a kubelet stand-in.

    from scheduler.testing import FakeApiServer, NodeAgent

See :mod:`scheduler.testing.apiserver` for how to use them.
"""
from typing import Any

__all__ = ["FakeApiServer", "NodeAgent", "Faults", "ApiError", "make_node"]


def __getattr__(name: str) -> Any:
    # lazy, so that ``python -m scheduler.testing.apiserver`` does not import the
    # module twice (once as a package member, once as __main__)
    if name == "NodeAgent":
        from scheduler.testing.nodeagent import NodeAgent
        return NodeAgent
    if name in ("FakeApiServer", "Faults", "ApiError", "make_node"):
        from scheduler.testing import apiserver
        return getattr(apiserver, name)
    raise AttributeError(f"module 'scheduler.testing' has no attribute {name!r}")
