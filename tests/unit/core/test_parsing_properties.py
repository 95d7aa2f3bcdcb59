"""Property tests: whatever JSON a tenant sends, parsing raises only ModelError and returns bounded values.

Two kinds of input: arbitrary JSON-like trees, and a valid object (touching every
field the parser reads) with hostile values planted at random paths.  Successful
results must fit the cache's columns: amounts in 0..INT64_MAX, int32 priorities.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Iterator, List, Tuple

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.gang import Gang, GangRegistry, parse_podgroup
from scheduler.core.model import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    MIN_AVAILABLE_ANNOTATION,
    MIRROR_ANNOTATION,
    PRIORITY_ANNOTATION,
    DisruptionBudget,
    ModelError,
    Node,
    Pod,
)
from scheduler.core.parse import Defaults, parse_node, parse_pdb, parse_pod, parse_priority
from scheduler.quantity import KUBERNETES_QUANTITIES as QUANTITIES

FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None)
DEFAULTS = Defaults(QUANTITIES)

HOSTILE_SCALARS = [
    None, True, False, 0, -1, 2**31, -(2**31) - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400,
    float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 0.5,
    "", " ", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "+Inf", "-99999999999999999999", "99999999999",
    "2147483648", "-2147483649", "9223372036854775808", "1e400", "1e999999999", "1e-999999999", "8Ei", "-1",
    "abc", "1.5.5", "0x10", "9" * 200, "\x00", "\u0661", "2024-13-45T99:99:99Z",
]
hostile_scalar = st.sampled_from(HOSTILE_SCALARS)
scalar = (hostile_scalar | st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
          | st.text(max_size=12))
key = st.text(max_size=12) | st.sampled_from(["cpu", "memory", "name", "spec", "metadata", "status"]) | st.integers()
json_like = st.recursive(
    scalar,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(key, children, max_size=4),
    max_leaves=16,
)
hostile = hostile_scalar | json_like | st.sampled_from([[], {}, [[]], [{}], {"a": []}])


# ---------------------------------------------------------------- valid templates touching every field read

def _requirements() -> List[dict]:
    return [{"key": "zone", "operator": "In", "values": ["a", "b"]}, {"key": "gen", "operator": "Gt", "values": ["3"]}]


POD = {
    "metadata": {
        "name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
        "labels": {"app": "web", "scheduling.x-k8s.io/pod-group": "g"},
        "annotations": {PRIORITY_ANNOTATION: "100", MIN_AVAILABLE_ANNOTATION: "2", MIRROR_ANNOTATION: "x"},
        "creationTimestamp": "2024-05-01T10:00:00Z", "deletionTimestamp": None,
        "ownerReferences": [{"kind": "ReplicaSet", "controller": True}],
    },
    "spec": {
        "schedulerName": "preemptive-scheduler", "nodeName": "", "priority": 5, "preemptionPolicy": "Never",
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "1Gi", "nvidia.com/gpu": "1"},
                                        "limits": {"cpu": "1", "ephemeral-storage": "1Gi"}},
             "ports": [{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1", "protocol": "TCP"}]},
            {"name": "b", "resources": {"requests": {"cpu": 1, "memory": 1024}}},
        ],
        "initContainers": [
            {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
            {"name": "init", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}},
        ],
        "overhead": {"cpu": "10m", "memory": "1Mi"},
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "k", "operator": "Exists", "value": "v", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": _requirements(), "matchFields": [{"key": "metadata.name", "operator": "In",
                                                                        "values": ["n1"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": _requirements()}}],
        }},
    },
    "status": {"phase": "Pending", "startTime": 1714557600.0, "nominatedNodeName": "n1"},
}

NODE = {
    "metadata": {"name": "n1", "labels": {"zone": "a"}, "resourceVersion": "7"},
    "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}], "unschedulable": False},
    "status": {
        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": 4},
        "capacity": {"cpu": "8", "memory": "32Gi"},
        "conditions": [{"type": "Ready", "status": "True"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}],
    },
}

PDB = {
    "metadata": {"name": "db", "namespace": "shop"},
    "spec": {"selector": {"matchLabels": {"app": "db"}, "matchExpressions": _requirements()}},
    "status": {"disruptionsAllowed": 1},
}


def _paths(obj: Any, prefix: Tuple[Any, ...] = ()) -> Iterator[Tuple[Any, ...]]:
    """Every path into `obj` (dict keys and list indices), the root excluded."""
    children = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for step, child in children:
        yield prefix + (step,)
        yield from _paths(child, prefix + (step,))


def _plant(template: dict, mutations: List[Tuple[Tuple[Any, ...], Any]]) -> dict:
    """A copy of `template` with each value replaced; a path an earlier mutation removed is skipped."""
    obj = copy.deepcopy(template)
    for path, value in mutations:
        target: Any = obj
        try:
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    return obj


def mutated(template: dict) -> st.SearchStrategy[dict]:
    paths = sorted(_paths(template), key=repr)
    return st.lists(st.tuples(st.sampled_from(paths), hostile), min_size=1, max_size=3).map(
        lambda mutations: _plant(template, mutations))


# ---------------------------------------------------------------- what a successful result must satisfy

def assert_amounts_bounded(resources: Any) -> None:
    assert isinstance(resources, dict)
    for name, amount in resources.items():
        assert isinstance(name, str)
        assert type(amount) is int and 0 <= amount <= INT64_MAX, (name, amount)
    np.array(list(resources.values()), dtype=np.int64)  # what the cache does with them: must not overflow


def assert_string_map(mapping: Any) -> None:
    assert isinstance(mapping, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())


def assert_pod_bounded(pod: Pod) -> None:
    assert_amounts_bounded(pod.requests)
    assert type(pod.priority) is int and INT32_MIN <= pod.priority <= INT32_MAX
    np.array([pod.priority], dtype=np.int32)
    for text in (pod.namespace, pod.name, pod.uid, pod.scheduler_name, pod.node_name, pod.phase,
                 pod.preemption_policy, pod.owner_kind, pod.nominated_node, pod.resource_version):
        assert isinstance(text, str)
    assert_string_map(pod.labels)
    assert_string_map(pod.annotations)
    assert all(isinstance(w, str) for w in pod.warnings)
    assert math.isfinite(pod.created) and math.isfinite(pod.started)
    assert all(type(weight) is int and 1 <= weight <= 100 for weight, _ in pod.preferred_terms)
    assert all(isinstance(ip, str) and isinstance(proto, str) and type(port) is int and 1 <= port <= 65535
               for ip, proto, port in pod.host_ports)
    hash(pod.shape_key)  # masks are cached on it
    _ = pod.gang_name, pod.key


def assert_node_bounded(node: Node) -> None:
    assert isinstance(node.name, str) and node.name
    assert_amounts_bounded(node.allocatable)
    assert_string_map(node.labels)
    assert all(isinstance(a, str) for a in node.addresses)
    assert all(isinstance(t.key, str) and isinstance(t.value, str) and isinstance(t.effect, str) for t in node.taints)
    hash(node.taints)


def assert_pdb_bounded(pdb: DisruptionBudget) -> None:
    assert isinstance(pdb.namespace, str) and isinstance(pdb.name, str)
    assert type(pdb.disruptions_allowed) is int and 0 <= pdb.disruptions_allowed <= INT32_MAX
    hash(pdb.selector)


def parses_or_model_error(parse: Any, obj: Any, check: Any) -> None:
    try:
        result = parse(obj)
    except ModelError as exc:
        assert str(exc) and len(str(exc)) < 1000  # readable, and never echoes a huge value back
        return
    check(result)


# ---------------------------------------------------------------- quantities

quantity_text = st.from_regex(
    r"\A[+-]?[0-9]{0,22}(\.[0-9]{0,22})?([eE][+-]?[0-9]{1,10})?(m|k|M|G|T|P|E|n|u|Ki|Mi|Gi|Ti|Pi|Ei)?\Z")
quantity_value = (quantity_text | st.text(max_size=80) | hostile_scalar | st.integers() | st.decimals()
                  | st.floats(allow_nan=True, allow_infinity=True) | json_like)


@FAST
@given(resource=st.sampled_from(["cpu", "memory", "pods", "nvidia.com/gpu"]), value=quantity_value)
def test_parse_amount_is_bounded_or_model_error(resource: str, value: Any) -> None:
    try:
        amount = QUANTITIES.amount(resource, value)
    except ModelError as exc:
        assert resource in str(exc) and len(str(exc)) < 400
        return
    assert type(amount) is int and 0 <= amount <= INT64_MAX


@FAST
@given(n=st.integers(min_value=0, max_value=2**64))
def test_whole_numbers_are_exact_up_to_int64_and_rejected_beyond(n: int) -> None:
    for resource, scale in (("memory", 1), ("cpu", 1000)):
        if n * scale <= INT64_MAX:
            assert QUANTITIES.amount(resource, str(n)) == n * scale
        else:
            try:
                QUANTITIES.amount(resource, str(n))
            except ModelError:
                continue
            raise AssertionError(f"{resource} {n} accepted")


@FAST
@given(raw=json_like | st.dictionaries(key, quantity_value, max_size=4))
def test_parse_resources_is_bounded_or_model_error(raw: Any) -> None:
    parses_or_model_error(QUANTITIES.resources, raw, assert_amounts_bounded)


# ---------------------------------------------------------------- priority

@FAST
@given(annotation=st.none() | st.text(max_size=30) | st.integers().map(str) | hostile_scalar.map(str),
       spec_priority=st.none() | st.integers() | hostile,
       default=st.integers(min_value=INT32_MIN, max_value=INT32_MAX))
def test_parse_priority_is_always_int32(annotation: Any, spec_priority: Any, default: int) -> None:
    annotations = {} if annotation is None else {PRIORITY_ANNOTATION: annotation}
    spec = {} if spec_priority is None else {"priority": spec_priority}
    priority, warnings = parse_priority(annotations, spec, Defaults(QUANTITIES, priority=default))
    assert type(priority) is int and INT32_MIN <= priority <= INT32_MAX
    assert isinstance(warnings, tuple) and all(isinstance(w, str) for w in warnings)
    if annotation is not None and annotation.strip().lstrip("+-").isdigit() and annotation.isascii() \
            and INT32_MIN <= int(annotation) <= INT32_MAX:
        assert priority == int(annotation) and warnings == ()


# ---------------------------------------------------------------- whole objects

def test_templates_are_valid() -> None:
    assert_pod_bounded(parse_pod(POD, DEFAULTS))
    assert_node_bounded(parse_node(NODE, QUANTITIES))
    assert_pdb_bounded(parse_pdb(PDB))


@FAST
@given(obj=mutated(POD))
def test_parse_pod_with_hostile_values_planted(obj: dict) -> None:
    parses_or_model_error(lambda o: parse_pod(o, DEFAULTS), obj, assert_pod_bounded)


@FAST
@given(obj=json_like | st.fixed_dictionaries({"metadata": json_like, "spec": json_like, "status": json_like})
       | st.fixed_dictionaries({"metadata": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=5)}),
                                "spec": json_like, "status": json_like}))
def test_parse_pod_with_arbitrary_json(obj: Any) -> None:
    parses_or_model_error(lambda o: parse_pod(o, DEFAULTS), obj, assert_pod_bounded)


@FAST
@given(obj=mutated(NODE))
def test_parse_node_with_hostile_values_planted(obj: dict) -> None:
    parses_or_model_error(lambda o: parse_node(o, QUANTITIES), obj, assert_node_bounded)


@FAST
@given(obj=json_like | st.fixed_dictionaries({"metadata": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=5)}),
                                              "spec": json_like, "status": json_like}))
def test_parse_node_with_arbitrary_json(obj: Any) -> None:
    parses_or_model_error(lambda o: parse_node(o, QUANTITIES), obj, assert_node_bounded)


@FAST
@given(obj=mutated(PDB) | json_like)
def test_parse_pdb_with_hostile_values(obj: Any) -> None:
    parses_or_model_error(parse_pdb, obj, assert_pdb_bounded)


# ---------------------------------------------------------------- gangs: reported, never raised

@FAST
@given(obj=json_like | st.fixed_dictionaries({"spec": st.fixed_dictionaries(
    {"minMember": st.integers() | hostile, "scheduleTimeoutSeconds": st.floats() | st.integers() | hostile})}))
def test_parse_podgroup_never_raises(obj: Any) -> None:
    info = parse_podgroup(obj)
    if info.error:
        assert isinstance(info.error, str) and len(info.error) < 400
        return
    assert type(info.min_member) is int and 1 <= info.min_member <= INT32_MAX
    assert info.timeout is None or (math.isfinite(info.timeout) and 0 < info.timeout <= INT32_MAX)


@FAST
@given(values=st.lists(st.text(max_size=30) | st.integers().map(str) | hostile_scalar.map(str), min_size=1, max_size=3))
def test_min_available_annotation_never_raises(values: List[str]) -> None:
    gang = Gang("default/g")
    for i, value in enumerate(values):
        pod = Pod("default", f"p{i}", f"u{i}", {"cpu": 1}, 0, annotations={MIN_AVAILABLE_ANNOTATION: value})
        gang.members[pod.key] = pod
    spec = GangRegistry(default_timeout=60.0).spec(gang)
    assert type(spec.min_available) is int and 0 <= spec.min_available <= INT32_MAX
    assert (spec.min_available == 0) == bool(spec.error)
