"""The stand-in kube-apiserver serves PVCs, PVs, StorageClasses and Namespaces to the real ``kubernetes`` client."""
from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from scheduler.testing import FakeApiServer


def raw(resp: Any) -> Any:
    return json.loads(resp.data)


def pvc(name: str, volume: str = "") -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if volume:
        spec["volumeName"] = volume
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def test_claims_volumes_and_classes_crud_list_and_watch(srv: FakeApiServer, api_client: client.ApiClient) -> None:
    core, storage = client.CoreV1Api(api_client), client.StorageV1Api(api_client)
    core.create_namespaced_persistent_volume_claim("team", pvc("data"), _preload_content=False).read()
    core.create_namespaced_persistent_volume_claim("other", pvc("logs", volume="pv-1"), _preload_content=False).read()
    core.create_persistent_volume({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-1"},
                                   "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}},
                                  _preload_content=False).read()
    storage.create_storage_class({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                  "metadata": {"name": "local"}, "provisioner": "kubernetes.io/no-provisioner",
                                  "volumeBindingMode": "WaitForFirstConsumer"}, _preload_content=False).read()

    everywhere = raw(core.list_persistent_volume_claim_for_all_namespaces(_preload_content=False))
    assert sorted(i["metadata"]["namespace"] + "/" + i["metadata"]["name"] for i in everywhere["items"]) == \
        ["other/logs", "team/data"]
    assert everywhere["metadata"]["resourceVersion"]
    one = raw(core.read_namespaced_persistent_volume_claim("data", "team", _preload_content=False))
    assert "volumeName" not in one["spec"]  # optional: an unbound claim
    assert raw(core.read_persistent_volume("pv-1", _preload_content=False))["metadata"]["name"] == "pv-1"
    assert raw(storage.read_storage_class("local", _preload_content=False))["volumeBindingMode"] == "WaitForFirstConsumer"

    # watch every claim from the list's version: an update (bound) and a delete arrive
    one["spec"]["volumeName"] = "pv-2"
    core.replace_namespaced_persistent_volume_claim("data", "team", one, _preload_content=False).read()
    core.delete_namespaced_persistent_volume_claim("logs", "other", _preload_content=False).read()
    resp = core.list_persistent_volume_claim_for_all_namespaces(
        watch=True, resource_version=everywhere["metadata"]["resourceVersion"], timeout_seconds=2, _preload_content=False)
    events = [json.loads(line) for line in resp.data.splitlines() if line.strip()]
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events if e["type"] != "BOOKMARK"]
    assert seen == [("MODIFIED", "data"), ("DELETED", "logs")]
    assert events[0]["object"]["spec"]["volumeName"] == "pv-2"

    storage.delete_storage_class("local", _preload_content=False).read()
    with pytest.raises(ApiException) as err:
        storage.read_storage_class("local")
    assert err.value.status == 404


def test_a_claim_needs_a_name(api_client: client.ApiClient) -> None:
    body = pvc("")
    del body["metadata"]["name"]
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(api_client).create_namespaced_persistent_volume_claim("team", body)
    assert err.value.status == 422


def test_namespaces_with_labels(srv: FakeApiServer, api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": "team", "labels": {"env": "prod"}}}, _preload_content=False).read()
    listed = raw(core.list_namespace(_preload_content=False))
    assert {i["metadata"]["name"]: i["metadata"].get("labels") for i in listed["items"]}["team"] == {"env": "prod"}
    core.patch_namespace("team", {"metadata": {"labels": {"env": "dev"}}}, _preload_content=False).read()
    assert raw(core.read_namespace("team", _preload_content=False))["metadata"]["labels"] == {"env": "dev"}
