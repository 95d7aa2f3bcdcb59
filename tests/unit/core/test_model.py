"""Parsing raw pod/node JSON into core types: quantities, init containers, defaults, priority."""
from __future__ import annotations

import pytest

from scheduler.core.model import (
    PRIORITY_ANNOTATION, Defaults, ModelError, parse_node, parse_pod,
)

from ..helpers import DEFAULTS, raw_node, raw_pod

GI = 1 << 30
MI = 1 << 20


def requests_of(raw, defaults=DEFAULTS):
    return parse_pod(raw, defaults).requests


# ------------------------------------------------------------ quantities


@pytest.mark.parametrize("cpu, millis", [("500m", 500), ("0.5", 500), ("2", 2000), ("1.25", 1250), ("100m", 100)])
def test_cpu_quantities_are_millicores(cpu, millis):
    assert requests_of(raw_pod(cpu=cpu, memory="1Gi"))["cpu"] == millis


@pytest.mark.parametrize("memory, size", [("1Gi", GI), ("512Mi", 512 * MI), ("1000", 1000), ("1k", 1000), ("1M", 10**6)])
def test_memory_quantities_are_bytes(memory, size):
    assert requests_of(raw_pod(cpu="1", memory=memory))["memory"] == size


def test_every_pod_takes_one_pod_slot():
    assert requests_of(raw_pod(cpu="1", memory="1Gi"))["pods"] == 1


def test_app_containers_are_summed():
    raw = raw_pod(containers=[
        {"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
        {"name": "b", "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}},
    ])
    req = requests_of(raw)
    assert (req["cpu"], req["memory"]) == (1500, GI + 512 * MI)


def test_largest_init_step_wins_over_sum_of_app_containers():
    raw = raw_pod(
        containers=[{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
        initContainers=[{"name": "migrate", "resources": {"requests": {"cpu": "3", "memory": "512Mi"}}},
                        {"name": "warm", "resources": {"requests": {"cpu": "1", "memory": "256Mi"}}}],
    )
    req = requests_of(raw)
    assert req["cpu"] == 3000  # the init step is bigger than the app containers together
    assert req["memory"] == 2 * GI  # app containers' sum is bigger than any init step


def test_restartable_sidecar_adds_to_app_containers():
    raw = raw_pod(
        cpu="1", memory="1Gi",
        initContainers=[{"name": "proxy", "restartPolicy": "Always",
                         "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}}}],
    )
    req = requests_of(raw)
    assert (req["cpu"], req["memory"]) == (1500, GI + 128 * MI)


def test_sidecar_adds_to_init_steps_after_it_but_not_before_it():
    after = raw_pod(
        cpu="1", memory="1Gi",
        initContainers=[{"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
                        {"name": "job", "resources": {"requests": {"cpu": "2"}}}],
    )
    assert requests_of(after)["cpu"] == 2500  # job runs while the sidecar runs
    before = raw_pod(
        cpu="1", memory="1Gi",
        initContainers=[{"name": "job", "resources": {"requests": {"cpu": "2"}}},
                        {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}}],
    )
    assert requests_of(before)["cpu"] == 2000  # job finished before the sidecar started


def test_overhead_is_added():
    raw = raw_pod(cpu="1", memory="1Gi", overhead={"cpu": "250m", "memory": "64Mi"})
    req = requests_of(raw)
    assert (req["cpu"], req["memory"]) == (1250, GI + 64 * MI)


def test_pod_without_requests_gets_the_defaults():
    req = requests_of(raw_pod(), Defaults(cpu_millis=200, memory_bytes=256 * MI, priority=0))
    assert (req["cpu"], req["memory"]) == (200, 256 * MI)


def test_default_fills_only_the_missing_resource():
    req = requests_of(raw_pod(cpu="3"), Defaults(cpu_millis=200, memory_bytes=256 * MI, priority=0))
    assert (req["cpu"], req["memory"]) == (3000, 256 * MI)


def test_zero_defaults_mean_no_request_like_kube_scheduler():
    req = requests_of(raw_pod(), Defaults(cpu_millis=0, memory_bytes=0, priority=0))
    assert req.get("cpu", 0) == 0 and req.get("memory", 0) == 0
    assert req["pods"] == 1


def test_limits_only_container_requests_its_limits():
    raw = raw_pod(containers=[{"name": "a", "resources": {"limits": {"cpu": "2", "memory": "3Gi"}}}])
    req = requests_of(raw)
    assert (req["cpu"], req["memory"]) == (2000, 3 * GI)


def test_explicit_requests_win_over_limits():
    raw = raw_pod(containers=[{"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                           "limits": {"cpu": "2", "memory": "3Gi"}}}])
    req = requests_of(raw)
    assert (req["cpu"], req["memory"]) == (500, GI)


def test_extended_resources_and_ephemeral_storage_are_counted():
    raw = raw_pod(cpu="1", memory="1Gi", extra_requests={"nvidia.com/gpu": "2", "ephemeral-storage": "10Gi"})
    req = requests_of(raw)
    assert req["nvidia.com/gpu"] == 2
    assert req["ephemeral-storage"] == 10 * GI


@pytest.mark.parametrize("value", ["lots", "1.5.5", "abc"])
def test_malformed_quantity_is_a_readable_model_error(value):
    with pytest.raises(ModelError) as info:
        parse_pod(raw_pod(cpu=value, memory="1Gi"), DEFAULTS)
    message = str(info.value)
    assert value in message and "cpu" in message


def test_negative_quantity_is_rejected():
    with pytest.raises(ModelError, match="negative"):
        parse_pod(raw_pod(cpu="1", memory="-1Gi"), DEFAULTS)


def test_malformed_spec_is_a_model_error_naming_the_pod():
    raw = raw_pod(name="broken")
    raw["spec"]["containers"] = ["not-a-container"]
    with pytest.raises(ModelError, match="default/broken"):
        parse_pod(raw, DEFAULTS)


def test_pod_without_name_is_rejected():
    raw = raw_pod()
    del raw["metadata"]["name"]
    with pytest.raises(ModelError, match="metadata.name"):
        parse_pod(raw, DEFAULTS)


# ------------------------------------------------------------ priority


def test_priority_annotation_wins_over_spec_priority():
    pod = parse_pod(_with_spec_priority(raw_pod(priority=7), 100), DEFAULTS)
    assert pod.priority == 7


def _with_spec_priority(raw, value):
    raw["spec"]["priority"] = value
    return raw


def test_negative_priority_annotation_is_allowed():
    assert parse_pod(raw_pod(priority=-5), DEFAULTS).priority == -5


def test_spec_priority_wins_over_default():
    assert parse_pod(_with_spec_priority(raw_pod(), 300), Defaults(priority=10)).priority == 300


def test_default_priority_when_nothing_is_set():
    assert parse_pod(raw_pod(), Defaults(priority=42)).priority == 42


def test_unparsable_annotation_falls_back_to_spec_priority_with_a_warning():
    pod = parse_pod(_with_spec_priority(raw_pod(priority="high"), 300), Defaults(priority=10))
    assert pod.priority == 300
    assert len(pod.warnings) == 1
    assert PRIORITY_ANNOTATION in pod.warnings[0] and "high" in pod.warnings[0]


def test_unparsable_annotation_falls_back_to_default_with_a_warning():
    pod = parse_pod(raw_pod(priority="1.5"), Defaults(priority=10))
    assert pod.priority == 10
    assert pod.warnings and "1.5" in pod.warnings[0]


def test_valid_pod_has_no_warnings():
    assert parse_pod(raw_pod(priority=3), DEFAULTS).warnings == ()


# ------------------------------------------------------------ phases and identity


@pytest.mark.parametrize("phase, terminal", [("Succeeded", True), ("Failed", True), ("Running", False), ("Pending", False)])
def test_terminal_phases(phase, terminal):
    raw = raw_pod()
    raw["status"]["phase"] = phase
    assert parse_pod(raw, DEFAULTS).terminal is terminal


def test_gang_label_names_the_gang_within_the_namespace():
    pod = parse_pod(raw_pod(namespace="ml", labels={"scheduling.x-k8s.io/pod-group": "train"}), DEFAULTS)
    assert pod.gang_name == "ml/train"
    assert parse_pod(raw_pod(), DEFAULTS).gang_name == ""


def test_unknown_affinity_operator_is_a_model_error():
    raw = raw_pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]}]}}})
    with pytest.raises(ModelError, match="Near"):
        parse_pod(raw, DEFAULTS)


# ------------------------------------------------------------ nodes


def test_node_allocatable_and_flags():
    node = parse_node(raw_node("n1", cpu="8", memory="16Gi", extra={"nvidia.com/gpu": "4"},
                               taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
                               unschedulable=True, ready=False))
    assert node.allocatable["cpu"] == 8000 and node.allocatable["memory"] == 16 * GI
    assert node.allocatable["nvidia.com/gpu"] == 4
    assert node.unschedulable and not node.ready
    assert str(node.taints[0]) == "{dedicated: gpu}"


def test_node_with_malformed_allocatable_names_the_node():
    with pytest.raises(ModelError, match="n1"):
        parse_node(raw_node("n1", cpu="four"))


def test_explicit_zero_request_is_not_replaced_by_the_default():
    # kube-scheduler defaults only an unset request ("not if explicitly set to zero")
    req = requests_of(raw_pod(cpu="0", memory="0"), Defaults(cpu_millis=500, memory_bytes=GI, priority=0))
    assert req.get("cpu", 0) == 0 and req.get("memory", 0) == 0


def test_zero_request_in_one_container_and_none_elsewhere_counts_as_set():
    raw = raw_pod(containers=[{"name": "a", "resources": {"requests": {"cpu": "0"}}}, {"name": "b"}])
    req = requests_of(raw, Defaults(cpu_millis=500, memory_bytes=GI, priority=0))
    assert req.get("cpu", 0) == 0
    assert req["memory"] == GI
