"""The invariant checker itself: every violation it looks for is seen (so a clean row means something)."""
from __future__ import annotations

from typing import Any

Cluster = FaultRun = Any  # fixtures from tests/integration/conftest.py and faults/conftest.py


def test_the_checker_sees_every_kind_of_violation(cluster: Cluster, run: FaultRun) -> None:
    srv = cluster.srv
    cluster.add_nodes(2, cpu="1")
    cluster.add_pod("a", cpu="1", node="node-0")
    cluster.add_pod("b", cpu="1", node="node-0")  # overcommits node-0
    cluster.add_pod("pending", cpu="1")  # expected bound, is not: lost
    cluster.add_pod("vanishes", cpu="1")
    srv.delete("Pod", "default", "vanishes")  # gone, neither by the test's hand nor by an eviction: lost
    cluster.add_pod("twice", cpu="100m")
    srv.bind("default", "twice", "node-1")
    srv.delete("Pod", "default", "twice", grace_period_seconds=0)  # a stand-in for a double bind
    run.deleted_by_test.add("default/twice")
    cluster.add_pod("twice", cpu="100m")
    srv.bind("default", "twice", "node-1")
    stale = cluster.add_pod("stale", cpu="100m", node="node-1")
    stale["status"]["nominatedNodeName"] = "node-1"
    srv.update(stale)
    waiting = cluster.add_pod("nominated-gone", cpu="100m")
    waiting["status"]["nominatedNodeName"] = "no-such-node"
    srv.update(waiting)
    for i in range(2):  # gang of minimum 3 with one member bound
        member = cluster.add_pod(f"g{i}", cpu="100m", node="node-1" if i == 0 else "",
                                 labels={"scheduling.x-k8s.io/pod-group": "g"})
        member["metadata"]["annotations"]["scheduling.x-k8s.io/min-available"] = "3"
        srv.update(member)

    row, details = run.measure("self-test", "-", ["a", "pending"], [], min_victims=1, settle=0.5)
    assert details["lost"] == ["default/pending", "default/vanishes"]
    assert details["double-bound"] == ["default/twice"]
    assert list(details["overcommitted"]) == ["node-0"]
    assert details["partial gangs"] == ["default/g (1/3)"]
    assert details["stale nominations"] == ["default/nominated-gone", "default/stale"]
    assert row["extra victims"] == -1
