"""UnsupportedFields: a pod using a placement feature we do not honour is never placed, and says why."""
from __future__ import annotations

from scheduler.core.framework import UNRESOLVABLE

from ...helpers import make_engine, make_node, make_pod


def test_a_pod_with_resource_claims_fits_nowhere_with_the_reason():
    engine = make_engine([make_node("a"), make_node("b")])
    decision = engine.schedule(make_pod("p", resourceClaims=[{"name": "gpu", "resourceClaimName": "c"}]))
    assert decision.node is None and decision.status == UNRESOLVABLE
    assert decision.message == ("0/2 nodes are available: 2 pod uses spec.resourceClaims (dynamic resource "
                                "allocation), which preemptive-scheduler does not support (use the default scheduler).")
    assert engine.schedule(make_pod("q")).node is not None
