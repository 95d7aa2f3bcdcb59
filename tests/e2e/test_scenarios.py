"""End-to-end: deploy.sh into a real cluster, then what a user would check.

Opt-in: `pytest -m e2e tests/e2e` with E2E_KIND=1 or E2E_KUBECONFIG (see conftest.py).
"""
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SA = "system:serviceaccount:{ns}:preemptive-scheduler"


def _node_of(kube, namespace, name):
    pod = kube.pod(namespace, name)
    return pod and pod["spec"].get("nodeName")


def _gone_or_terminating(kube, namespace, name):
    pod = kube.pod(namespace, name)
    return pod is None or bool(pod["metadata"].get("deletionTimestamp"))


def _a_worker(kube):
    workers = kube.schedulable_workers()
    assert workers, "no schedulable node in the cluster"
    return workers[-1]["metadata"]["name"]


def test_scheduler_is_running_with_two_ready_replicas(kube):
    pods = kube.pods(kube.scheduler_namespace, "app=preemptive-scheduler")
    ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                     for c in p["status"].get("conditions", []))]
    assert len(ready) == 2, [p["metadata"]["name"] for p in pods]


@pytest.mark.parametrize("resource", ["pods/binding", "pods/eviction"])
def test_service_account_may(kube, resource):
    result = kube.run("auth", "can-i", "create", resource, "--as", SA.format(ns=kube.scheduler_namespace),
                      check=False)
    assert result.stdout.strip() == "yes", result.stdout + result.stderr


@pytest.mark.parametrize("verb, resource", [("delete", "pods"), ("create", "pods"), ("get", "secrets"),
                                            ("update", "nodes")])
def test_service_account_may_not(kube, verb, resource):
    result = kube.run("auth", "can-i", verb, resource, "--as", SA.format(ns=kube.scheduler_namespace),
                      check=False)
    assert result.stdout.strip() == "no", f"{verb} {resource}: {result.stdout}"


def test_higher_priority_is_placed_first_under_contention(kube, namespace, helpers):
    node = _a_worker(kube)
    size = int(kube.free_millicpu(node) * 0.6)  # room for one of the two, not both
    kube.run("cordon", node)
    try:
        kube.create(helpers.make_pod("low", 5, size, node))
        kube.create(helpers.make_pod("high", 100, size, node))
        time.sleep(5)  # both are now queued as unschedulable (node cordoned)
        assert _node_of(kube, namespace, "low") is None and _node_of(kube, namespace, "high") is None
    finally:
        kube.run("uncordon", node)
    helpers.wait_for("the priority-100 pod to be bound", lambda: _node_of(kube, namespace, "high") == node)
    time.sleep(10)
    assert _node_of(kube, namespace, "low") is None, "the priority-5 pod took the room first"


def test_preemption_evicts_the_lower_priority_pod(kube, namespace, helpers):
    node = _a_worker(kube)
    size = int(kube.free_millicpu(node) * 0.6)
    kube.create(helpers.make_pod("victim", 1, size, node))
    helpers.wait_for("the victim to be bound", lambda: _node_of(kube, namespace, "victim") == node)
    kube.create(helpers.make_pod("preemptor", 1000, size, node))
    helpers.wait_for("the victim to be evicted", lambda: _gone_or_terminating(kube, namespace, "victim"))
    helpers.wait_for("the preemptor to be bound", lambda: _node_of(kube, namespace, "preemptor") == node)
    events = kube.json("get", "events", "-n", namespace)["items"]
    assert any(e.get("involvedObject", e.get("regarding", {})).get("name") in ("victim", "preemptor")
               for e in events)


def _gang(helpers, group, count, millicpu, node=None):
    return [helpers.make_pod(f"{group}-{i}", 50, millicpu, node,
                             labels={"scheduling.x-k8s.io/pod-group": group},
                             annotations={"scheduling.x-k8s.io/min-available": str(count)})
            for i in range(count)]


def test_gang_that_cannot_fit_binds_no_pod(kube, namespace, helpers):
    node = _a_worker(kube)
    size = int(kube.free_millicpu(node) * 0.3)  # three fit on the node, four do not
    for pod in _gang(helpers, "toobig", 4, size, node):
        kube.create(pod)
    time.sleep(30)
    bound = [p["metadata"]["name"] for p in kube.pods(namespace, "scheduling.x-k8s.io/pod-group=toobig")
             if p["spec"].get("nodeName")]
    assert bound == [], f"a partial gang was bound: {bound}"


def test_gang_that_fits_binds_every_pod(kube, namespace, helpers):
    for pod in _gang(helpers, "train", 4, 50):
        kube.create(pod)

    def all_bound():
        pods = kube.pods(namespace, "scheduling.x-k8s.io/pod-group=train")
        return len(pods) == 4 and all(p["spec"].get("nodeName") for p in pods)

    helpers.wait_for("all four gang pods to be bound", all_bound)


def test_example_manifests_apply(kube, namespace):
    """The README's examples are accepted by the API server (server-side dry run)."""
    examples = str(REPO / "deploy" / "examples")
    result = kube.run("apply", "--dry-run=server", "-n", namespace, "-f", examples, check=False)
    assert result.returncode == 0, result.stderr


def test_deploy_again_changes_nothing(kube):
    """deploy.sh is idempotent: a second run leaves the Deployment's generation alone."""
    def generation():
        return kube.json("get", "deployment", "preemptive-scheduler", "-n", kube.scheduler_namespace)[
            "metadata"]["generation"]

    before = generation()
    kube.redeploy_without_build()
    assert generation() == before


def test_required_anti_affinity_puts_replicas_on_distinct_nodes(kube, namespace, helpers):
    workers = [n["metadata"]["name"] for n in kube.schedulable_workers()]
    term = {"labelSelector": {"matchLabels": {"app": "ha"}}, "topologyKey": "kubernetes.io/hostname"}
    names = [f"ha-{i}" for i in range(len(workers) + 1)]
    for name in names:
        pod = helpers.make_pod(name, 50, 10, labels={"app": "ha"})
        pod["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
        kube.create(pod)

    def placed():
        nodes = [_node_of(kube, namespace, n) for n in names]
        return nodes if sum(1 for n in nodes if n) == len(workers) else None

    nodes = helpers.wait_for("one replica per schedulable node", placed)
    assert len({n for n in nodes if n}) == len(workers)
    time.sleep(10)
    assert sum(1 for n in names if _node_of(kube, namespace, n)) == len(workers), "a second replica joined a node"


def test_a_gated_pod_waits_until_its_gate_is_removed(kube, namespace, helpers):
    pod = helpers.make_pod("gated", 50, 10)
    pod["spec"]["schedulingGates"] = [{"name": "example.com/approval"}]
    kube.create(pod)
    time.sleep(10)
    assert _node_of(kube, namespace, "gated") is None
    kube.run("patch", "pod", "gated", "-n", namespace, "--type", "merge", "-p", '{"spec":{"schedulingGates":null}}')
    helpers.wait_for("the ungated pod to be bound", lambda: _node_of(kube, namespace, "gated"))
