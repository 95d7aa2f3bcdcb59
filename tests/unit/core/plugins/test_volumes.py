"""VolumeBinding, VolumeZone and VolumeRestrictions: pods mounting PersistentVolumeClaims."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from scheduler.core.framework import UNRESOLVABLE, UNSCHEDULABLE
from scheduler.core.parse import parse_pod
from scheduler.core.plugins import DEFAULT_FILTERS
from scheduler.core.plugins.volumes import NODE_CONFLICT, RWOP_CONFLICT, ZONE_CONFLICT
from scheduler.core.volumes import CLAIM, parse_claim, parse_storage_class, parse_volume

from ...helpers import make_engine, make_node, make_pod, place
from ..builders import Cluster, pod_obj

ZONE = "topology.kubernetes.io/zone"


def claim_volume(name: str = "data", claim: str = "data") -> Dict[str, Any]:
    return {"name": name, "persistentVolumeClaim": {"claimName": claim}}


def pvc(name: str = "data", volume: str = "", modes=("ReadWriteOnce",), storage_class: str = "", **meta: Any):
    spec: Dict[str, Any] = {"accessModes": list(modes)}
    if volume:
        spec["volumeName"] = volume
    if storage_class:
        spec["storageClassName"] = storage_class
    return parse_claim({"metadata": {"name": name, "namespace": "default", **meta}, "spec": spec})


def zonal_pv(name: str, zone: str, in_labels: bool = False):
    if in_labels:
        return parse_volume({"metadata": {"name": name, "labels": {ZONE: zone}}})
    return parse_volume({"metadata": {"name": name}, "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": [zone]}]}]}}}})


@pytest.fixture
def engine():
    return make_engine([make_node(f"{zone}{i}", labels={ZONE: f"zone-{zone}"}) for zone in "abc" for i in (1, 2)])


def add(engine, *objects) -> None:
    for obj in objects:
        engine.state.volumes.upsert(obj)


def feasible(engine, pod) -> List[str]:
    mask = engine.feasible(pod)
    return sorted(engine.state.nodes[row].name for row in range(engine.state.size) if mask[row])


def with_claim(name: str = "p", claim: str = "data", **kwargs: Any):
    return make_pod(name, volumes=[claim_volume(claim=claim)], **kwargs)


def test_volume_filters_are_in_the_default_profile_after_node_affinity():
    position = DEFAULT_FILTERS.index("NodeAffinity")
    assert DEFAULT_FILTERS[position + 1:position + 4] == ("VolumeBinding", "VolumeZone", "VolumeRestrictions")


def test_pods_without_claims_are_not_filtered(engine):
    plugins = [f for f in engine.profile.filters if f.name.startswith("Volume")]
    pod = make_pod("plain")
    assert len(plugins) == 3 and not any(p.applies(pod) for p in plugins)
    assert len(feasible(engine, pod)) == 6


def test_missing_claim_is_unresolvable_everywhere(engine):
    decision = engine.schedule(with_claim())
    assert decision.node is None and decision.status == UNRESOLVABLE
    assert decision.message == '0/6 nodes are available: 6 persistentvolumeclaim "data" not found.'


def test_claim_being_deleted_is_unresolvable(engine):
    add(engine, pvc(volume="pv-1", deletionTimestamp="2026-01-01T00:00:00Z"), zonal_pv("pv-1", "zone-b"))
    decision = engine.schedule(with_claim())
    assert decision.status == UNRESOLVABLE
    assert decision.message == '0/6 nodes are available: 6 persistentvolumeclaim "data" is being deleted.'


def test_bound_claim_with_zonal_node_affinity_fits_only_that_zone(engine):
    add(engine, pvc(volume="pv-1"), zonal_pv("pv-1", "zone-b"))
    assert feasible(engine, with_claim()) == ["b1", "b2"]
    assert engine.schedule(with_claim()).node in ("b1", "b2")


def test_bound_claim_whose_volume_fits_no_node_says_node_affinity_conflict(engine):
    add(engine, pvc(volume="pv-1"), zonal_pv("pv-1", "zone-z"))
    decision = engine.schedule(with_claim())
    assert decision.status == UNRESOLVABLE
    assert decision.message == f"0/6 nodes are available: 6 {NODE_CONFLICT}."


def test_node_affinity_of_the_volume_and_of_the_pod_combine(engine):
    add(engine, pvc(volume="pv-1"), zonal_pv("pv-1", "zone-b"))
    decision = engine.schedule(with_claim(nodeSelector={ZONE: "zone-a"}))
    assert decision.message == ("0/6 nodes are available: 4 node(s) didn't match Pod's node affinity/selector, "
                                "2 node(s) had volume node affinity conflict.")


def test_zone_labels_on_the_volume_pick_the_zone(engine):
    add(engine, pvc(volume="pv-1"), zonal_pv("pv-1", "zone-a__zone-c", in_labels=True))
    assert feasible(engine, with_claim()) == ["a1", "a2", "c1", "c2"]
    add(engine, zonal_pv("pv-1", "zone-q", in_labels=True))
    assert engine.schedule(with_claim()).message == f"0/6 nodes are available: 6 {ZONE_CONFLICT}."


def test_bound_to_a_volume_not_known_yet(engine):
    add(engine, pvc(volume="pv-9"))
    decision = engine.schedule(with_claim())
    assert decision.status == UNRESOLVABLE
    assert "bound to non-existent pv(s)" in decision.message


def test_unbound_wait_for_first_consumer_claim_rejects_every_node_and_says_we_do_not_bind(engine):
    add(engine, parse_storage_class({"metadata": {"name": "local"}, "volumeBindingMode": "WaitForFirstConsumer"}),
        pvc(storage_class="local"))
    decision = engine.schedule(with_claim())
    assert decision.node is None and decision.status == UNRESOLVABLE
    assert decision.message.startswith('0/6 nodes are available: 6 pod has unbound PersistentVolumeClaim "data" ')
    assert "WaitForFirstConsumer" in decision.message
    assert "this scheduler does not bind or provision volumes" in decision.message


def test_unbound_immediate_claim_waits_for_binding(engine):
    add(engine, pvc())
    decision = engine.schedule(with_claim())
    assert decision.status == UNRESOLVABLE
    assert 'pod has unbound PersistentVolumeClaim "data"' in decision.message
    assert "does not bind or provision volumes" in decision.message


def test_claims_are_looked_up_in_the_pods_namespace(engine):
    add(engine, pvc(volume="pv-1"), zonal_pv("pv-1", "zone-b"))
    decision = engine.schedule(with_claim(namespace="other"))
    assert 'persistentvolumeclaim "data" not found' in decision.message


def test_read_write_once_pod_claim_used_elsewhere_rejects_every_node(engine):
    add(engine, pvc(volume="pv-1", modes=("ReadWriteOncePod",)), parse_volume({"metadata": {"name": "pv-1"}}))
    place(engine, with_claim("holder"), "a1")
    decision = engine.schedule(with_claim("second"))
    assert decision.node is None and decision.status == UNSCHEDULABLE  # evicting the holder could help
    assert decision.message == f"0/6 nodes are available: 6 {RWOP_CONFLICT}."
    assert [engine.state.name_of(int(r)) for r in decision.diagnosis.resolvable_rows] == ["a1"]
    engine.state.forget("default/holder")
    assert engine.schedule(with_claim("second")).node is not None


def test_read_write_once_claims_may_be_shared(engine):
    add(engine, pvc(volume="pv-1"), parse_volume({"metadata": {"name": "pv-1"}}))
    place(engine, with_claim("holder"), "a1")
    assert engine.schedule(with_claim("second")).node is not None


@pytest.mark.parametrize("objects, holder", [
    ((), False),  # the claim is missing
    ((pvc(volume="pv-1"), zonal_pv("pv-1", "zone-b")), False),
    ((pvc(volume="pv-1"), zonal_pv("pv-1", "zone-a__zone-c", in_labels=True)), False),
    ((pvc(volume="pv-1", modes=("ReadWriteOncePod",)), zonal_pv("pv-1", "zone-b")), True),
])
def test_filter_row_agrees_with_filter(engine, objects, holder):
    add(engine, *objects)
    if holder:
        place(engine, with_claim("holder"), "b1")
    pod = with_claim("second")
    for plugin in (f for f in engine.profile.filters if f.name.startswith("Volume")):
        mask = plugin.filter(pod, engine.state)
        assert [plugin.filter_row(pod, engine.state, row) for row in range(engine.state.size)] == list(mask), plugin.name


# ---------------------------------------------------------------- through the scheduling loop

def claim_pod(cluster: Cluster, name: str, claim: str = "data", **kwargs: Any) -> None:
    raw = pod_obj(name, **kwargs)
    raw["spec"]["volumes"] = [claim_volume(claim=claim)]
    cluster.loop.pod_changed(parse_pod(raw, cluster.defaults))


def test_a_claim_bound_later_lets_the_waiting_pod_go():
    cluster = Cluster()
    cluster.node("n1", labels={ZONE: "zone-a"})
    cluster.node("n2", labels={ZONE: "zone-b"})
    cluster.loop.volume_object_changed(pvc())
    claim_pod(cluster, "web")
    (first,) = cluster.run()
    assert first.node is None and "unbound PersistentVolumeClaim" in first.message
    cluster.loop.volume_object_changed(zonal_pv("pv-1", "zone-b"))
    cluster.loop.volume_object_changed(pvc(volume="pv-1"))
    cluster.clock.advance(30)  # past its backoff, before the unschedulable pool's 60 s flush: the event moved it
    (second,) = cluster.run()
    assert second.node == "n2"


def test_a_deleted_claim_makes_new_pods_wait():
    cluster = Cluster()
    cluster.node("n1")
    cluster.loop.volume_object_changed(pvc(volume="pv-1"))
    cluster.loop.volume_object_changed(parse_volume({"metadata": {"name": "pv-1"}}))
    cluster.loop.volume_object_deleted(CLAIM, "default/data")
    claim_pod(cluster, "web")
    (verdict,) = cluster.run()
    assert verdict.node is None and 'persistentvolumeclaim "data" not found' in verdict.message


def test_preemption_frees_a_read_write_once_pod_claim_on_the_holders_node():
    cluster = Cluster(preemption=True)
    for name in ("n1", "n2", "n3"):
        cluster.node(name)
    cluster.loop.volume_object_changed(pvc(volume="pv-1", modes=("ReadWriteOncePod",)))
    cluster.loop.volume_object_changed(parse_volume({"metadata": {"name": "pv-1"}}))
    claim_pod(cluster, "low", priority=1, node="n2")
    claim_pod(cluster, "high", priority=100)
    (verdict,) = cluster.run()
    assert verdict.node is None
    assert verdict.nominated_node == "n2"
    assert [v.key for v in verdict.victims] == ["default/low"]


def test_namespace_labels_reach_the_state():
    cluster = Cluster()
    generation = cluster.state.generation
    cluster.loop.namespace_changed("team", {"env": "prod"})
    assert cluster.state.namespaces["team"] == {"env": "prod"}
    assert cluster.state.generation > generation
    generation = cluster.state.generation
    cluster.loop.namespace_changed("team", {"env": "prod"})
    assert cluster.state.generation == generation  # nothing changed
    cluster.loop.namespace_changed("team", {"env": "dev"})
    assert cluster.state.namespaces["team"] == {"env": "dev"}
    cluster.loop.namespace_deleted("team")
    assert "team" not in cluster.state.namespaces
