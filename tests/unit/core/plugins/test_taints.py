"""TaintToleration: NoSchedule/NoExecute must be tolerated; PreferNoSchedule only lowers the score."""
from __future__ import annotations

import pytest

from scheduler.core.framework import UNRESOLVABLE, diagnose

from ...helpers import make_engine, make_node, make_pod

GPU_TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


def test_kube_style_message_mixing_resources_and_taints():
    nodes = [make_node(f"small-{i}", cpu="1") for i in range(3)]
    nodes += [make_node(f"gpu-{i}", cpu="8", taints=[GPU_TAINT]) for i in range(2)]
    engine = make_engine(nodes)
    pod = make_pod(cpu="2")
    decision = engine.schedule(pod)
    expected = "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}."
    assert decision.message == expected
    assert diagnose(engine.profile, pod, engine.state).message == expected


@pytest.mark.parametrize("effect", ["NoSchedule", "NoExecute"])
def test_hard_taint_rejects_untolerating_pod_as_unresolvable(effect):
    engine = make_engine([make_node("n1", taints=[{"key": "k", "value": "v", "effect": effect}])])
    decision = engine.schedule(make_pod())
    assert decision.node is None
    assert decision.message == "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}."
    assert decision.status == UNRESOLVABLE  # evicting pods cannot remove a taint


def test_taint_without_value_is_shown_by_key():
    engine = make_engine([make_node("n1", taints=[{"key": "maintenance", "effect": "NoSchedule"}])])
    assert engine.schedule(make_pod()).message.endswith("1 node(s) had untolerated taint {maintenance}.")


@pytest.mark.parametrize("toleration, fits", [
    ({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}, True),
    ({"key": "dedicated", "operator": "Equal", "value": "gpu"}, True),  # empty effect matches all effects
    ({"key": "dedicated", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"}, False),
    ({"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}, True),
    ({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, False),
    ({"key": "other", "operator": "Exists"}, False),
    ({"operator": "Exists"}, True),  # empty key with Exists tolerates everything
    ({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}, True),  # no operator: Equal
    ({"key": "dedicated", "operator": "", "value": "gpu"}, True),  # empty operator: Equal, as kube reads it
    ({"key": "dedicated", "operator": "equal", "value": "gpu"}, False),  # an unknown operator tolerates nothing
    ({"key": "dedicated", "operator": "Lt", "value": "gpu"}, False),
])
def test_tolerations(toleration, fits):
    engine = make_engine([make_node("n1", taints=[GPU_TAINT])])
    decision = engine.schedule(make_pod(tolerations=[toleration]))
    assert (decision.node == "n1") is fits


def test_every_hard_taint_must_be_tolerated():
    taints = [GPU_TAINT, {"key": "zone", "value": "edge", "effect": "NoExecute"}]
    engine = make_engine([make_node("n1", taints=taints)])
    only_gpu = [{"key": "dedicated", "operator": "Exists"}]
    decision = engine.schedule(make_pod(tolerations=only_gpu))
    assert decision.message == "0/1 nodes are available: 1 node(s) had untolerated taint {zone: edge}."
    both = only_gpu + [{"key": "zone", "operator": "Equal", "value": "edge", "effect": "NoExecute"}]
    assert engine.schedule(make_pod(tolerations=both)).node == "n1"


def test_prefer_no_schedule_does_not_filter():
    engine = make_engine([make_node("n1", taints=[{"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}])])
    assert engine.schedule(make_pod()).node == "n1"


def test_prefer_no_schedule_steers_pods_away():
    soft = [{"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}]
    # identical nodes; the tainted one comes first, so only the score can pick the other
    engine = make_engine([make_node("spot", taints=soft), make_node("regular")])
    assert engine.schedule(make_pod()).node == "regular"
    tolerating = make_pod(tolerations=[{"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"}])
    assert engine.schedule(tolerating).node == "spot"  # no preference left: the lowest row wins the tie
