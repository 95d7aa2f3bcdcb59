"""Test utilities: a stand-in kube-apiserver and a kubelet stand-in.

    from scheduler.testing import FakeApiServer, NodeAgent

See :mod:`scheduler.testing.apiserver` for how to use them. Not part of the
runtime: the container image leaves this package out, and nothing outside it
imports it at import time.
"""
from scheduler.testing.apiserver import ApiError, FakeApiServer, Faults, make_node
from scheduler.testing.nodeagent import NodeAgent

__all__ = ["FakeApiServer", "NodeAgent", "Faults", "ApiError", "make_node"]
