"""Test utilities: a stand-in kube-apiserver and a kubelet stand-in.

    from scheduler.testing import FakeApiServer, NodeAgent

See :mod:`scheduler.testing.apiserver` for how to use them.
"""
from scheduler.testing.apiserver import ApiError, FakeApiServer, Faults, make_node
from scheduler.testing.nodeagent import NodeAgent

__all__ = ["FakeApiServer", "NodeAgent", "Faults", "ApiError", "make_node"]
