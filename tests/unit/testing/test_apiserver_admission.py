"""The stand-in kube-apiserver's pod rules, without HTTP: spec.schedulingGates as the real server keeps them."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from scheduler.testing.apiserver.binding import Binder
from scheduler.testing.apiserver.errors import ApiError
from scheduler.testing.apiserver.patches import json_patch, merge_patch, strategic_merge_patch
from scheduler.testing.apiserver.registry import Registry
from scheduler.testing.apiserver.resources import PODS
from scheduler.testing.apiserver.store import Store


def gated_pod(name: str, gates: List[str], **spec: Any) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"schedulingGates": [{"name": g} for g in gates],
                     "containers": [{"name": "c", "image": "busybox"}], **spec}}


@pytest.fixture
def registry() -> Registry:
    return Registry(Store())


def patch(registry: Registry, name: str, apply: Any) -> Dict[str, Any]:
    """PATCH pods/<name> as the HTTP door does (mode "main": status kept, pod update rules)."""
    return registry.update(PODS, "default", name, {}, "main", patch=apply)


def gates_of(pod: Dict[str, Any]) -> List[str]:
    return [g["name"] for g in pod["spec"].get("schedulingGates") or []]


def test_a_gated_pod_is_stored_with_its_gates_and_a_scheduling_gated_condition(registry):
    pod = registry.create(PODS, "default", gated_pod("p", ["example.com/a", "example.com/b"]))
    assert gates_of(pod) == ["example.com/a", "example.com/b"]
    assert pod["status"]["conditions"][0]["type"] == "PodScheduled"
    assert pod["status"]["conditions"][0]["status"] == "False"
    assert pod["status"]["conditions"][0]["reason"] == "SchedulingGated"


def test_adding_a_gate_after_creation_is_invalid(registry):
    registry.create(PODS, "default", gated_pod("p", ["example.com/a"]))
    with pytest.raises(ApiError) as error:
        patch(registry, "p", lambda cur: merge_patch(cur, {"spec": {"schedulingGates": [{"name": "example.com/a"},
                                                                                         {"name": "x"}]}}))
    assert error.value.code == 422
    assert error.value.status["reason"] == "Invalid"
    assert error.value.status["message"] == ('Pod "p" is invalid: spec.schedulingGates[1].name: Forbidden: '
                                             "only deletion is allowed, but found new scheduling gate 'x'")
    registry.create(PODS, "default", gated_pod("free", []))
    with pytest.raises(ApiError, match="found new scheduling gate 'late'"):
        patch(registry, "free", lambda cur: json_patch(cur, [{"op": "add", "path": "/spec/schedulingGates",
                                                              "value": [{"name": "late"}]}]))


@pytest.mark.parametrize("remove_one, remove_all", [
    (lambda cur: merge_patch(cur, {"spec": {"schedulingGates": [{"name": "example.com/b"}]}}),
     lambda cur: merge_patch(cur, {"spec": {"schedulingGates": None}})),
    (lambda cur: strategic_merge_patch(cur, {"spec": {"schedulingGates": [{"name": "example.com/a", "$patch": "delete"}]}}),
     lambda cur: strategic_merge_patch(cur, {"spec": {"schedulingGates": None}})),
    (lambda cur: json_patch(cur, [{"op": "remove", "path": "/spec/schedulingGates/0"}]),
     lambda cur: json_patch(cur, [{"op": "remove", "path": "/spec/schedulingGates"}])),
], ids=["merge-patch", "strategic-merge-patch", "json-patch"])
def test_gates_may_be_removed_one_by_one_or_all_at_once(registry, remove_one, remove_all):
    registry.create(PODS, "default", gated_pod("p", ["example.com/a", "example.com/b"]))
    assert gates_of(patch(registry, "p", remove_one)) == ["example.com/b"]
    assert gates_of(patch(registry, "p", remove_all)) == []


def test_other_spec_changes_stay_forbidden_while_gated(registry):
    registry.create(PODS, "default", gated_pod("p", ["example.com/a"]))
    with pytest.raises(ApiError, match="pod updates may not change fields"):
        patch(registry, "p", lambda cur: merge_patch(cur, {"spec": {"schedulingGates": None, "priority": 5}}))


def test_a_gated_pod_cannot_be_bound_until_ungated(registry):
    registry.create(PODS, "default", gated_pod("p", ["example.com/a"]))
    binder = Binder(registry.store)
    with pytest.raises(ApiError) as error:
        binder.bind("default", "p", {"target": {"name": "n1"}})
    assert error.value.code == 409
    assert error.value.status["message"] == \
        'Operation cannot be fulfilled on pods/binding "p": pod p has non-empty .spec.schedulingGates'
    patch(registry, "p", lambda cur: merge_patch(cur, {"spec": {"schedulingGates": None}}))
    binder.bind("default", "p", {"target": {"name": "n1"}})
    assert registry.store.objects["pods"][("default", "p")]["spec"]["nodeName"] == "n1"


@pytest.mark.parametrize("gates, spec, message", [
    ([{"name": "a"}, {"name": "a"}], {}, 'spec.schedulingGates[1]: Duplicate value: "a"'),
    ([{"name": ""}], {}, "spec.schedulingGates[0].name: Required value"),
    ([{"name": "a"}], {"nodeName": "n1"}, "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"),
])
def test_invalid_gates_are_refused_at_creation(registry, gates, spec, message):
    pod = gated_pod("p", [], **spec)
    pod["spec"]["schedulingGates"] = gates
    with pytest.raises(ApiError) as error:
        registry.create(PODS, "default", pod)
    assert error.value.code == 422 and message in error.value.status["message"]
