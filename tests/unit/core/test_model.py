"""Parsing raw pod/node JSON into core types: quantities, init containers, defaults, priority."""
from __future__ import annotations

import decimal
import time
from decimal import Decimal

import pytest

from scheduler.core.model import INT32_MAX, INT32_MIN, INT64_MAX, PRIORITY_ANNOTATION, ModelError
from scheduler.core.parse import Defaults, parse_node, parse_pdb, parse_pod
from scheduler.core.quantities import Quantities
from scheduler.quantity import KUBERNETES_QUANTITIES as QUANTITIES

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
    req = requests_of(raw_pod(), Defaults(QUANTITIES, cpu_millis=200, memory_bytes=256 * MI, priority=0))
    assert (req["cpu"], req["memory"]) == (200, 256 * MI)


def test_default_fills_only_the_missing_resource():
    req = requests_of(raw_pod(cpu="3"), Defaults(QUANTITIES, cpu_millis=200, memory_bytes=256 * MI, priority=0))
    assert (req["cpu"], req["memory"]) == (3000, 256 * MI)


def test_zero_defaults_mean_no_request_like_kube_scheduler():
    req = requests_of(raw_pod(), Defaults(QUANTITIES, cpu_millis=0, memory_bytes=0, priority=0))
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
    assert parse_pod(_with_spec_priority(raw_pod(), 300), Defaults(QUANTITIES, priority=10)).priority == 300


def test_default_priority_when_nothing_is_set():
    assert parse_pod(raw_pod(), Defaults(QUANTITIES, priority=42)).priority == 42


def test_unparsable_annotation_falls_back_to_spec_priority_with_a_warning():
    pod = parse_pod(_with_spec_priority(raw_pod(priority="high"), 300), Defaults(QUANTITIES, priority=10))
    assert pod.priority == 300
    assert len(pod.warnings) == 1
    assert PRIORITY_ANNOTATION in pod.warnings[0] and "high" in pod.warnings[0]


def test_unparsable_annotation_falls_back_to_default_with_a_warning():
    pod = parse_pod(raw_pod(priority="1.5"), Defaults(QUANTITIES, priority=10))
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
                               unschedulable=True, ready=False), QUANTITIES)
    assert node.allocatable["cpu"] == 8000 and node.allocatable["memory"] == 16 * GI
    assert node.allocatable["nvidia.com/gpu"] == 4
    assert node.unschedulable and not node.ready
    assert str(node.taints[0]) == "{dedicated: gpu}"


def test_node_with_malformed_allocatable_names_the_node():
    with pytest.raises(ModelError, match="n1"):
        parse_node(raw_node("n1", cpu="four"), QUANTITIES)


def test_explicit_zero_request_is_not_replaced_by_the_default():
    # kube-scheduler defaults only an unset request ("not if explicitly set to zero")
    req = requests_of(raw_pod(cpu="0", memory="0"), Defaults(QUANTITIES, cpu_millis=500, memory_bytes=GI, priority=0))
    assert req.get("cpu", 0) == 0 and req.get("memory", 0) == 0


def test_zero_request_in_one_container_and_none_elsewhere_counts_as_set():
    raw = raw_pod(containers=[{"name": "a", "resources": {"requests": {"cpu": "0"}}}, {"name": "b"}])
    req = requests_of(raw, Defaults(QUANTITIES, cpu_millis=500, memory_bytes=GI, priority=0))
    assert req.get("cpu", 0) == 0
    assert req["memory"] == GI


# ------------------------------------------------------------ accounting like kube-scheduler

OURS = Defaults(QUANTITIES, cpu_millis=500, memory_bytes=GI, priority=0, scheduler_name="preemptive-scheduler")


def test_defaults_apply_to_our_pods_only():
    assert requests_of(raw_pod(), OURS) == {"cpu": 500, "memory": GI, "pods": 1}
    theirs = raw_pod(schedulerName="default-scheduler")
    assert requests_of(theirs, OURS) == {"pods": 1}  # exactly as declared: nothing
    assert requests_of(raw_pod(cpu="2", schedulerName="default-scheduler"), OURS) == {"cpu": 2000, "pods": 1}


def test_scores_count_kubes_non_zero_requests_per_container():
    raw = raw_pod(containers=[{"name": "a", "resources": {"requests": {"cpu": "1"}}}, {"name": "b"}])
    pod = parse_pod(raw, OURS)
    assert pod.score_cpu_memory == (1000 + 100, 2 * 200 * MI)
    assert pod.requests["cpu"] == 1000 and pod.requests["memory"] == GI  # filters: declared, defaulted pod-wide
    zero = parse_pod(raw_pod(cpu="0", memory="0"), OURS)
    assert zero.score_cpu_memory == (0, 0)  # an explicit zero stays zero


def test_non_zero_requests_follow_init_containers_and_overhead():
    raw = raw_pod(cpu="100m", memory="100Mi", initContainers=[{"name": "init", "resources": {"requests": {"cpu": "2"}}}],
                  overhead={"cpu": "50m", "memory": "10Mi"})
    assert parse_pod(raw, OURS).score_cpu_memory == (2000 + 50, 200 * MI + 10 * MI)


def test_pod_level_requests_replace_the_containers_cpu_and_memory():
    raw = raw_pod(cpu="100m", memory="100Mi", extra_requests={"nvidia.com/gpu": "1"},
                  resources={"requests": {"cpu": "2", "memory": "1Gi"}}, overhead={"cpu": "10m"})
    pod = parse_pod(raw, OURS)
    assert pod.requests == {"cpu": 2010, "memory": GI, "nvidia.com/gpu": 1, "pods": 1}
    assert pod.score_cpu_memory == (2010, GI)


def test_dynamic_resource_claims_are_reported_unsupported():
    pod = parse_pod(raw_pod(cpu="1", resourceClaims=[{"name": "gpu", "resourceClaimName": "c"}]), OURS)
    assert pod.unsupported == ("spec.resourceClaims (dynamic resource allocation)",)
    assert parse_pod(raw_pod(cpu="1"), OURS).unsupported == ()


# ------------------------------------------------------------ untrusted input is bounded at the edge


@pytest.mark.parametrize("raw", ["-99999999999999999999", "99999999999", "2147483648", "-2147483649"])
def test_priority_annotation_outside_int32_falls_back_with_a_warning(raw):
    pod = parse_pod(_with_spec_priority(raw_pod(priority=raw), 300), Defaults(QUANTITIES, priority=10))
    assert pod.priority == 300
    assert len(pod.warnings) == 1 and raw in pod.warnings[0] and "[-2147483648, 2147483647]" in pod.warnings[0]
    assert parse_pod(raw_pod(priority=raw), Defaults(QUANTITIES, priority=10)).priority == 10


@pytest.mark.parametrize("raw", [str(INT32_MIN), str(INT32_MAX)])
def test_priority_annotation_at_the_int32_bounds_is_used_when_allowed(raw):
    pod = parse_pod(raw_pod(priority=raw), Defaults(QUANTITIES, max_annotation_priority=INT32_MAX))
    assert pod.priority == int(raw) and pod.warnings == ()


@pytest.mark.parametrize("raw", ["1000000001", "2000000000", str(INT32_MAX)])
def test_priority_annotation_above_the_cap_is_clamped_with_a_warning(raw):
    pod = parse_pod(raw_pod(priority=raw), DEFAULTS)  # --max-annotation-priority defaults to 1000000000
    assert pod.priority == 1_000_000_000
    assert len(pod.warnings) == 1 and raw in pod.warnings[0] and "--max-annotation-priority" in pod.warnings[0]
    assert parse_pod(raw_pod(priority="1000000000"), DEFAULTS).warnings == ()


@pytest.mark.parametrize("value", [INT32_MAX + 1, INT32_MIN - 1, True, 1.5, "100", [1]])
def test_spec_priority_that_is_not_an_int32_is_ignored_with_a_warning(value):
    pod = parse_pod(_with_spec_priority(raw_pod(), value), Defaults(QUANTITIES, priority=42))
    assert pod.priority == 42
    assert len(pod.warnings) == 1 and "spec.priority" in pod.warnings[0] and "2147483647" in pod.warnings[0]


def test_bad_annotation_and_bad_spec_priority_both_warn():
    pod = parse_pod(_with_spec_priority(raw_pod(priority="high"), 2**40), Defaults(QUANTITIES, priority=7))
    assert pod.priority == 7 and len(pod.warnings) == 2


@pytest.mark.parametrize("resource, value", [
    ("cpu", "NaN"), ("memory", "Infinity"), ("cpu", "-Infinity"), ("memory", "sNaN"), ("cpu", "inf"),
    ("cpu", "9223372036854775808"), ("cpu", "9223372036854775.808"), ("memory", "9223372036854775808"),
    ("memory", "8Ei"), ("memory", "1e400"), ("cpu", "1e999999999"), ("memory", "9" * 100000),
    ("cpu", float("nan")), ("memory", float("inf")), ("memory", 2**63), ("cpu", True), ("cpu", None), ("memory", ["1"]),
])
def test_non_finite_negative_or_too_large_quantity_is_a_model_error(resource, value):
    with pytest.raises(ModelError) as info:
        QUANTITIES.amount(resource, value)
    message = str(info.value)
    assert resource in message and "expected a finite, non-negative Kubernetes quantity" in message
    assert len(message) < 300


def test_quantity_nan_in_a_pod_names_pod_quantity_and_expectation():
    with pytest.raises(ModelError, match=r"pod default/p: invalid quantity 'NaN' for cpu: not a finite number; expected"):
        parse_pod(raw_pod(cpu="NaN", memory="1Gi"), DEFAULTS)
    with pytest.raises(ModelError, match="'Infinity' for memory"):
        parse_pod(raw_pod(cpu="1", memory="Infinity"), DEFAULTS)


@pytest.mark.parametrize("resource, value, amount", [
    ("cpu", "9223372036854775", 9223372036854775000),  # the largest whole number of cores that fits in millicores
    ("cpu", "9223372036854775.807", INT64_MAX),
    ("memory", "9223372036854775807", INT64_MAX),
    ("memory", "7Ei", 7 << 60),
    ("cpu", "1e-999999999", 1),  # rounded up, as kube does: no underflow to 0
    ("memory", 2, 2),
    ("cpu", 0.25, 250),
])
def test_quantities_up_to_int64_are_accepted(resource, value, amount):
    assert QUANTITIES.amount(resource, value) == amount


def test_huge_exponents_and_long_strings_are_rejected_quickly():
    started = time.perf_counter()
    for value in ("1e999999999", "9" * 100000, "0." + "0" * 100000 + "1", "1" * 65):
        with pytest.raises(ModelError):
            QUANTITIES.amount("memory", value + "Ei")
    assert QUANTITIES.amount("memory", "1e-999999999999999999Ei") in (0, 1)  # tiny, but a valid quantity
    assert time.perf_counter() - started < 1.0


def test_per_pod_total_must_fit_int64():
    raw = raw_pod(containers=[{"name": "a", "resources": {"requests": {"memory": "5Ei"}}},
                              {"name": "b", "resources": {"requests": {"memory": "5Ei"}}}])
    with pytest.raises(ModelError, match="total memory request"):
        parse_pod(raw, DEFAULTS)
    with pytest.raises(ModelError, match="total cpu request"):
        parse_pod(raw_pod(cpu="9223372036854775", memory="1Gi", overhead={"cpu": "1"}), DEFAULTS)


@pytest.mark.parametrize("error", [ValueError("bad"), TypeError("bad"), decimal.InvalidOperation(), ArithmeticError(),
                                   OverflowError(), KeyError("x"), AttributeError("x")])
def test_whatever_the_quantity_parser_raises_becomes_a_model_error(error):
    def broken(value):
        raise error

    with pytest.raises(ModelError, match="invalid quantity '1' for cpu"):
        Quantities(broken).amount("cpu", "1")


@pytest.mark.parametrize("result", [Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"), Decimal("1E+999999999"),
                                    float("nan"), "garbage", None])
def test_whatever_the_quantity_parser_returns_is_bounded(result):
    with pytest.raises(ModelError):
        Quantities(lambda value: result).amount("memory", "1")


def test_pods_and_nodes_are_read_with_the_quantity_parser_they_are_given():
    """Nothing is installed globally: each parse uses the parser handed to it, and remembers per parser."""
    seen = []

    def doubling(value):
        seen.append(value)
        return Decimal(2) * QUANTITIES.parser(value)

    quantities = Quantities(doubling)
    pod = parse_pod(raw_pod(cpu="500m", memory="1Gi"), Defaults(quantities))
    assert pod.requests["cpu"] == 1000 and pod.requests["memory"] == 2 * GI
    assert parse_node(raw_node("n1", cpu="4"), quantities).allocatable["cpu"] == 8000
    assert parse_pod(raw_pod(cpu="500m", memory="1Gi"), DEFAULTS).requests["cpu"] == 500
    parse_pod(raw_pod(cpu="500m", memory="1Gi"), Defaults(quantities))
    assert seen.count("500m") == 1  # read once, then remembered


def test_resource_list_must_be_a_mapping_of_names():
    with pytest.raises(ModelError, match="mapping"):
        QUANTITIES.resources(["cpu", "1"])
    with pytest.raises(ModelError, match="resource name 5"):
        QUANTITIES.resources({5: "1"})


def test_node_allocatable_too_large_names_the_node():
    with pytest.raises(ModelError, match=r"node n1: invalid quantity '1e30' for memory"):
        parse_node(raw_node("n1", memory="1e30"), QUANTITIES)
    with pytest.raises(ModelError, match="n1"):
        parse_node(raw_node("n1", cpu="NaN"), QUANTITIES)


def _mutated(path, value):
    raw = raw_pod(cpu="1", memory="1Gi")
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return raw


@pytest.mark.parametrize("path, value, expected", [
    (("metadata",), ["not", "an", "object"], "metadata must be an object"),
    (("spec",), "spec", "spec must be an object"),
    (("metadata", "name"), 5, "metadata.name must be a string"),
    (("metadata", "namespace"), {"a": 1}, "metadata.namespace must be a string"),
    (("metadata", "labels"), {"app": 1}, "metadata.labels must map strings to strings"),
    (("metadata", "labels"), ["app"], "metadata.labels must be an object"),
    (("metadata", "annotations"), {PRIORITY_ANNOTATION: 5}, "metadata.annotations must map strings to strings"),
    (("metadata", "ownerReferences"), {"kind": "ReplicaSet"}, "ownerReferences must be a list"),
    (("spec", "tolerations"), {"key": "a"}, "spec.tolerations must be a list"),
    (("spec", "tolerations"), [{"key": ["a"]}], "toleration key must be a string"),
    (("spec", "containers"), {"name": "main"}, "spec.containers must be a list"),
    (("spec", "containers", 0, "resources"), ["requests"], "container resources must be an object"),
    (("spec", "containers", 0, "ports"), [{"hostPort": "abc"}], "hostPort 'abc' must be an integer in 1..65535"),
    (("spec", "containers", 0, "ports"), [{"hostPort": 70000}], "hostPort 70000 must be an integer in 1..65535"),
    (("spec", "containers", 0, "ports"), [{"hostPort": -1}], "hostPort -1"),
    (("spec", "containers", 0, "ports"), [{"hostPort": 80, "protocol": 6}], "port protocol must be a string"),
    (("spec", "schedulerName"), ["mine"], "spec.schedulerName must be a string"),
    (("spec", "nodeSelector"), ["zone"], "spec.nodeSelector must be an object"),
    (("spec", "affinity"), ["x"], "spec.affinity must be an object"),
    (("status", "phase"), 3, "status.phase must be a string"),
])
def test_wrong_types_anywhere_are_a_model_error_naming_the_field(path, value, expected):
    with pytest.raises(ModelError) as info:
        parse_pod(_mutated(path, value), DEFAULTS)
    assert expected in str(info.value)


@pytest.mark.parametrize("obj", [None, [], "pod", 5])
def test_a_pod_that_is_not_an_object_is_a_model_error(obj):
    with pytest.raises(ModelError, match="pod must be a JSON object"):
        parse_pod(obj, DEFAULTS)


def _preferred(weight):
    return raw_pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": weight, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}})


@pytest.mark.parametrize("weight", [0, 101, -5, "10", 10.0, True, None, 2**64])
def test_preferred_affinity_weight_must_be_an_int_in_1_to_100(weight):
    with pytest.raises(ModelError, match=r"weight .* must be an integer in 1\.\.100"):
        parse_pod(_preferred(weight), DEFAULTS)


@pytest.mark.parametrize("weight", [1, 100])
def test_preferred_affinity_weight_bounds_are_accepted(weight):
    assert parse_pod(_preferred(weight), DEFAULTS).preferred_terms[0][0] == weight


def test_requirement_values_must_be_a_list():
    raw = raw_pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": "abc"}]}]}}})
    with pytest.raises(ModelError, match="must be a list"):
        parse_pod(raw, DEFAULTS)


@pytest.mark.parametrize("stamp", ["yesterday", "0000-00-00T00:00:00Z", float("nan"), float("inf"), 10**400, [1], True])
def test_garbage_timestamps_are_unknown(stamp):
    raw = raw_pod()
    raw["metadata"]["creationTimestamp"] = stamp
    raw["status"]["startTime"] = stamp
    pod = parse_pod(raw, DEFAULTS)
    assert (pod.created, pod.started) == (0.0, 0.0)


@pytest.mark.parametrize("stamp", ["2024-05-01T10:00:00Z", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00"])
def test_rfc3339_timestamps_still_parse(stamp, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # a zone-less stamp is UTC, not this process's zone
    time.tzset()
    try:
        raw = raw_pod()
        raw["metadata"]["creationTimestamp"] = stamp
        assert parse_pod(raw, DEFAULTS).created == 1714557600.0
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("field, value, expected", [
    ("metadata", ["n1"], "node metadata must be an object"),
    ("labels", {"zone": 1}, "metadata.labels must map strings to strings"),
    ("taints", "NoSchedule", "spec.taints must be a list"),
    ("addresses", [{"type": "InternalIP", "address": ["10.0.0.1"]}], "node address must be a string"),
    ("conditions", {"type": "Ready"}, "status.conditions must be a list"),
])
def test_node_with_wrong_types_is_a_model_error(field, value, expected):
    raw = raw_node("n1")
    if field == "metadata":
        raw["metadata"] = value
    elif field == "labels":
        raw["metadata"]["labels"] = value
    elif field == "taints":
        raw["spec"]["taints"] = value
    else:
        raw["status"][field] = value
    with pytest.raises(ModelError) as info:
        parse_node(raw, QUANTITIES)
    assert expected in str(info.value)


def _pdb(**status):
    return {"metadata": {"name": "db", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}}, "status": status}


def test_pdb_disruptions_allowed_is_bounded():
    assert parse_pdb(_pdb(disruptionsAllowed=-3)).disruptions_allowed == 0
    assert parse_pdb(_pdb(disruptionsAllowed=2**40)).disruptions_allowed == INT32_MAX
    assert parse_pdb(_pdb(disruptionsAllowed=2)).disruptions_allowed == 2
    with pytest.raises(ModelError, match="disruptionsAllowed 'abc' must be an integer"):
        parse_pdb(_pdb(disruptionsAllowed="abc"))


@pytest.mark.parametrize("obj", [None, [], {"metadata": ["x"]}, {"metadata": {"name": "x"}, "spec": {"selector": ["a"]}},
                                 {"metadata": {"name": "x"}, "spec": {"selector": {"matchExpressions": {"key": "a"}}}}])
def test_malformed_pdb_is_a_model_error(obj):
    with pytest.raises(ModelError):
        parse_pdb(obj)


# ------------------------------------------------------------ scheduling gates


def test_scheduling_gates_are_read_in_order():
    raw = raw_pod(cpu="1", schedulingGates=[{"name": "example.com/quota"}, {"name": "example.com/arch"}])
    assert parse_pod(raw, DEFAULTS).scheduling_gates == ("example.com/quota", "example.com/arch")
    assert parse_pod(raw_pod(cpu="1"), DEFAULTS).scheduling_gates == ()
    assert parse_pod(raw_pod(cpu="1", schedulingGates=None), DEFAULTS).scheduling_gates == ()


@pytest.mark.parametrize("gates, message", [
    ({"name": "a"}, "pod default/p: spec.schedulingGates must be a list, got dict"),
    (["a"], "spec.schedulingGates item must be an object, got str"),
    ([{"name": ""}], "spec.schedulingGates: a gate has no name"),
    ([{}], "spec.schedulingGates: a gate has no name"),
    ([{"name": 7}], "spec.schedulingGates name must be a string, got 7"),
    ([{"name": "x" * 400}], "is 400 characters long; expected at most 316"),
    ([{"name": f"g{i}"} for i in range(65)], "spec.schedulingGates has 65 gates; expected at most 64"),
])
def test_malformed_scheduling_gates_are_reported_clearly(gates, message):
    with pytest.raises(ModelError) as error:
        parse_pod(raw_pod(cpu="1", schedulingGates=gates), DEFAULTS)
    assert message in str(error.value)
    assert len(str(error.value)) < 200  # a hostile name is clipped, not echoed whole
