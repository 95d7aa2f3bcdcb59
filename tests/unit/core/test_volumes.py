"""Volume objects from raw JSON (claims a pod mounts, PVCs, PVs, StorageClasses, namespaces) and the catalog."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.model import ModelError
from scheduler.core.parse import parse_namespace, parse_pod
from scheduler.core.volumes import (
    CLAIM,
    IMMEDIATE,
    STORAGE_CLASS,
    VOLUME,
    WAIT_FOR_FIRST_CONSUMER,
    Claim,
    VolumeCatalog,
    parse_claim,
    parse_storage_class,
    parse_volume,
)

from ..helpers import DEFAULTS, make_pod


def pvc(name="data", namespace="default", volume="", modes=("ReadWriteOnce",), storage_class=None, **meta):
    spec = {"accessModes": list(modes)}
    if volume:
        spec["volumeName"] = volume
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name, "namespace": namespace, **meta}, "spec": spec,
            "status": {"phase": "Bound" if volume else "Pending"}}


def pv(name="pv-1", labels=None, terms=None):
    spec = {}
    if terms is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": terms}}
    return {"metadata": {"name": name, "labels": dict(labels or {})}, "spec": spec}


# ---------------------------------------------------------------- the claims a pod mounts

def test_pod_claims_come_from_pvc_volumes_and_generic_ephemeral_volumes():
    pod = make_pod("web", volumes=[
        {"name": "cache", "emptyDir": {}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
        {"name": "again", "persistentVolumeClaim": {"claimName": "web-data", "readOnly": True}},
    ])
    assert pod.claims == ("web-data", "web-scratch")


def test_pod_without_volumes_has_no_claims():
    assert make_pod("plain").claims == ()
    assert make_pod("other", volumes=[{"name": "c", "configMap": {"name": "x"}}]).claims == ()


@pytest.mark.parametrize("volumes, fragment", [
    ("not-a-list", "spec.volumes must be a list"),
    (["not-an-object"], "spec.volumes item must be an object"),
    ([{"name": "d", "persistentVolumeClaim": {}}], "has no claimName"),
    ([{"name": "d", "persistentVolumeClaim": {"claimName": 7}}], "claimName must be a string"),
    ([{"name": "d", "persistentVolumeClaim": "x"}], "persistentVolumeClaim must be an object"),
    ([{"ephemeral": {"volumeClaimTemplate": {}}}], "ephemeral volume has no name"),
])
def test_malformed_volumes_are_model_errors(volumes, fragment):
    with pytest.raises(ModelError, match=fragment):
        make_pod("bad", volumes=volumes)


# ---------------------------------------------------------------- PVC, PV, StorageClass

def test_claim_fields():
    claim = parse_claim(pvc("data", "team", volume="pv-1", modes=("ReadWriteOncePod",), storage_class="fast",
                            resourceVersion="7"))
    assert claim == Claim("team", "data", volume_name="pv-1", phase="Bound", access_modes=("ReadWriteOncePod",),
                          storage_class="fast")
    assert claim.key == "team/data" and claim.read_write_once_pod and claim.resource_version == "7"
    legacy = parse_claim(pvc(annotations={"volume.beta.kubernetes.io/storage-class": "old"}))
    assert legacy.storage_class == "old" and not legacy.read_write_once_pod
    assert parse_claim(pvc(deletionTimestamp="2026-01-01T00:00:00Z")).deleting


def test_volume_node_affinity_and_zone_labels():
    volume = parse_volume(pv(labels={"topology.kubernetes.io/zone": "a__b", "failure-domain.beta.kubernetes.io/region": "r1"},
                             terms=[{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
                                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]}]))
    assert volume.affinity_matches({"disk": "ssd"})
    assert volume.affinity_matches({"metadata.name": "n9"})
    assert not volume.affinity_matches({"disk": "hdd"})
    assert volume.zone_matches({"topology.kubernetes.io/zone": "b", "topology.kubernetes.io/region": "r1"})  # GA for beta
    assert not volume.zone_matches({"topology.kubernetes.io/zone": "c", "topology.kubernetes.io/region": "r1"})
    assert not volume.zone_matches({"topology.kubernetes.io/zone": "a"})  # no region label at all
    assert volume.zone_matches({"disk": "ssd"})  # a node with no zone/region labels: single-zone cluster


def test_volume_without_affinity_fits_every_node_and_an_empty_term_none():
    assert parse_volume(pv()).affinity_matches({})
    assert not parse_volume(pv(terms=[{}])).affinity_matches({"anything": "x"})


def test_a_zone_label_listing_an_empty_zone_is_ignored_like_kube():
    assert parse_volume(pv(labels={"topology.kubernetes.io/zone": "a____b"})).topology == ()


def test_storage_class_binding_mode():
    assert parse_storage_class({"metadata": {"name": "local"}, "volumeBindingMode": WAIT_FOR_FIRST_CONSUMER}).binding_mode \
        == WAIT_FOR_FIRST_CONSUMER
    assert parse_storage_class({"metadata": {"name": "std"}}).binding_mode == IMMEDIATE


@pytest.mark.parametrize("parse, obj", [
    (parse_claim, None),
    (parse_claim, {"metadata": {}}),
    (parse_claim, {"metadata": {"name": 5}}),
    (parse_claim, {"metadata": {"name": "x"}, "spec": {"accessModes": "ReadWriteOnce"}}),
    (parse_claim, {"metadata": {"name": "x"}, "spec": {"accessModes": [1]}}),
    (parse_claim, {"metadata": {"name": "x"}, "spec": {"accessModes": ["ReadWriteOnce"] * 100}}),
    (parse_claim, {"metadata": {"name": "x"}, "spec": {"volumeName": ["pv"]}}),
    (parse_claim, {"metadata": {"name": "x"}, "spec": ["x"]}),
    (parse_volume, {"metadata": {"name": "pv", "labels": {"zone": 1}}}),
    (parse_volume, {"metadata": {"name": "pv"}, "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "k", "operator": "Near"}]}]}}}}),
    (parse_volume, {"metadata": {"name": "pv"}, "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": "all"}}}}),
    (parse_volume, {"metadata": {"name": "pv"}, "spec": {"nodeAffinity": "everywhere"}}),
    (parse_storage_class, {"metadata": {"name": "sc"}, "volumeBindingMode": 3}),
    (parse_storage_class, ["not", "an", "object"]),
])
def test_malformed_objects_are_model_errors(parse, obj):
    with pytest.raises(ModelError):
        parse(obj)


def test_namespace_labels():
    assert parse_namespace({"metadata": {"name": "team", "labels": {"env": "prod"}}}) == ("team", {"env": "prod"})
    assert parse_namespace({"metadata": {"name": "bare"}}) == ("bare", {})
    with pytest.raises(ModelError, match="namespace team"):
        parse_namespace({"metadata": {"name": "team", "labels": {"env": ["prod"]}}})
    with pytest.raises(ModelError):
        parse_namespace({"metadata": {}})


# ---------------------------------------------------------------- the catalog

def test_catalog_reports_only_real_changes():
    catalog = VolumeCatalog()
    assert catalog.upsert(parse_claim(pvc(resourceVersion="1")))
    assert not catalog.upsert(parse_claim(pvc(resourceVersion="2")))  # only the resourceVersion moved
    assert catalog.claim("default", "data").resource_version == "2"
    assert catalog.upsert(parse_claim(pvc(volume="pv-1")))
    assert catalog.upsert(parse_volume(pv("pv-1")))
    assert catalog.volume_of(catalog.claim("default", "data")).name == "pv-1"
    assert catalog.delete(VOLUME, "pv-1") and not catalog.delete(VOLUME, "pv-1")
    assert catalog.volume_of(catalog.claim("default", "data")) is None
    assert catalog.delete(CLAIM, "default/data") and catalog.claim("default", "data") is None


def test_catalog_binding_mode_defaults_to_immediate():
    catalog = VolumeCatalog()
    claim = parse_claim(pvc(storage_class="local"))
    assert catalog.binding_mode(claim) == IMMEDIATE  # class not known (yet)
    catalog.upsert(parse_storage_class({"metadata": {"name": "local"}, "volumeBindingMode": WAIT_FOR_FIRST_CONSUMER}))
    assert catalog.binding_mode(claim) == WAIT_FOR_FIRST_CONSUMER
    catalog.delete(STORAGE_CLASS, "local")
    assert catalog.binding_mode(claim) == IMMEDIATE


# ---------------------------------------------------------------- whatever a tenant sends: ModelError or a value

FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None)
scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) \
    | st.sampled_from(["ReadWriteOncePod", "WaitForFirstConsumer", "a__b", "____", 2**64, float("nan")])
field_name = st.sampled_from(["name", "namespace", "labels", "spec", "status", "volumeName", "accessModes",
                              "storageClassName", "nodeAffinity", "required", "nodeSelectorTerms", "matchExpressions",
                              "matchFields", "key", "operator", "values", "persistentVolumeClaim", "claimName",
                              "ephemeral", "volumes", "volumeBindingMode", "phase", "deletionTimestamp",
                              "topology.kubernetes.io/zone"]) | st.text(max_size=6)
json_like = st.recursive(scalar, lambda children: st.lists(children, max_size=4)
                         | st.dictionaries(field_name, children, max_size=4), max_leaves=20)
named = st.fixed_dictionaries({"metadata": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=5)},
                                                                  optional={"labels": json_like, "namespace": json_like}),
                               "spec": json_like, "status": json_like, "volumeBindingMode": json_like})


@FAST
@given(obj=json_like | named)
def test_volume_objects_parse_or_raise_model_error(obj: Any) -> None:
    for parse in (parse_claim, parse_volume, parse_storage_class):
        try:
            parse(obj)
        except ModelError:
            pass


@FAST
@given(volumes=json_like)
def test_pod_volumes_parse_or_raise_model_error(volumes: Any) -> None:
    try:
        pod = parse_pod({"metadata": {"name": "p"}, "spec": {"volumes": volumes}}, DEFAULTS)
    except ModelError:
        return
    assert all(isinstance(name, str) and name for name in pod.claims)
