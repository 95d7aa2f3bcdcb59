"""Pods alike in everything the filters read share one diagnosis until something changes: a backlog of
one workload's pods is explained once, and never with reasons that are stale or belong to another pod."""
from __future__ import annotations

import random
from typing import Any, Dict, List

import numpy as np
import pytest

from scheduler.config import load_config
from scheduler.core.framework import FilterPlugin, diagnose
from scheduler.core.model import POD_GROUP_LABEL, NodeUtilisation, Pod
from scheduler.core.nomination import Nomination
from scheduler.core.parse import parse_pod
from scheduler.core.plugins.volumes import RWOP_CONFLICT
from scheduler.core.volumes import parse_claim, parse_volume
from scheduler.stack import build_loop

from ..helpers import DEFAULTS, FakeClock, make_engine, make_node, make_pod, raw_pod

GPU_TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
TOLERATES_GPU = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]


def fresh(engine: Any, pod: Pod) -> Any:
    """The diagnosis computed from scratch, as before any sharing."""
    return diagnose(engine.profile, pod, engine.state, engine.extra_filters)


def same(got: Any, want: Any) -> bool:
    return (got.message, got.status, got.plugins, got.total_nodes) == (want.message, want.status, want.plugins,
                                                                        want.total_nodes) \
        and np.array_equal(got.resolvable_rows, want.resolvable_rows)


def loop_with(clock: FakeClock, **flags: Any) -> Any:
    """The composition root's loop (engine with the nominated-room filter; load filter on)."""
    config = load_config({"preemption": True, "metrics-max-age": 60,
                          **{k.replace("_", "-"): v for k, v in flags.items()}}, env={})
    return build_loop(config, clock, load_enabled=True)


# ------------------------------------------------------------ a backlog is explained once per change
def test_a_backlog_of_one_shape_is_explained_once_until_the_cluster_changes():
    engine = make_engine([make_node(f"n{i}", cpu="2") for i in range(3)])
    backlog = [make_pod(f"big-{i}", cpu="3") for i in range(50)]
    decisions = [engine.schedule(pod) for pod in backlog]
    assert {d.message for d in decisions} == {"0/3 nodes are available: 3 Insufficient cpu."}
    assert engine.diagnoses_shared == 49
    engine.state.upsert_node(make_node("n1", cpu="2", unschedulable=True))  # a change: explained afresh
    after = engine.schedule(backlog[0])
    assert after.message == "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were unschedulable."
    assert engine.diagnoses_shared == 49


def test_pods_that_differ_in_what_a_filter_reads_get_their_own_reasons():
    engine = make_engine([make_node("gpu", cpu="2", taints=[GPU_TAINT]), make_node("small", cpu="1")])
    plain = engine.diagnose(make_pod("plain", cpu="2")).message
    tolerating = engine.diagnose(make_pod("tolerating", cpu="2", tolerations=TOLERATES_GPU)).message  # only that
    assert plain == "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}."
    assert tolerating == "0/2 nodes are available: 1 Insufficient cpu."
    assert engine.diagnoses_shared == 0


def test_each_pod_gets_its_own_copy():
    engine = make_engine([make_node("n0", cpu="1")])
    first = engine.diagnose(make_pod("a", cpu="2"))
    first.reasons["scribbled"] = 1
    first.plugins.add("scribbled")
    second = engine.diagnose(make_pod("b", cpu="2"))
    assert "scribbled" not in second.reasons and "scribbled" not in second.plugins
    with pytest.raises(ValueError):
        second.resolvable_rows[:] = 0  # shared rows are read-only


# ------------------------------------------------------------ changes that do not bump the state's generation
def test_load_samples_that_age_out_change_the_reasons_without_any_state_change():
    clock = FakeClock(1000.0)
    loop = loop_with(clock, on_missing_metrics="deny")
    loop.state.upsert_node(make_node("n0", cpu="4"))
    loop.state.set_utilisation({"n0": NodeUtilisation(0.95, 0.1, sampled_at=1000.0)})
    busy = loop.engine.diagnose(make_pod("a", cpu="1"))
    assert "would exceed cpu utilisation threshold" in busy.message
    clock.advance(61)  # the sample is too old now: nothing else happened
    stale = loop.engine.diagnose(make_pod("b", cpu="1"))
    assert "no fresh load metrics" in stale.message and same(stale, fresh(loop.engine, make_pod("b", cpu="1")))


def test_a_new_nomination_is_seen_at_once():
    loop = loop_with(FakeClock())
    loop.state.upsert_node(make_node("n0", cpu="2"))
    low = make_pod("low", cpu="2", priority=1)
    assert loop.engine.select(low, loop.engine.feasible(low)) is not None
    assert loop.engine.diagnose(low).message == "0/1 nodes are available."  # remembered for pods of its shape
    loop.nominations.add(Nomination(make_pod("high", cpu="1", priority=100), "n0", 0.0))
    held = loop.engine.diagnose(make_pod("low-2", cpu="2", priority=1))
    assert "room reserved for a higher-priority nominated pod" in held.message


def test_a_nominated_pod_is_not_kept_out_by_its_own_room():
    loop = loop_with(FakeClock())
    loop.state.upsert_node(make_node("n0", cpu="4"))
    loop.state.place(make_pod("running", cpu="1", priority=0), "n0")
    waiting = make_pod("waiting", cpu="2", priority=10)
    loop.nominations.add(Nomination(waiting, "n0", 0.0))
    other = make_pod("other", cpu="2", priority=10)
    assert "room reserved" in loop.engine.diagnose(other).message
    own = loop.engine.diagnose(waiting)
    assert own.message == "0/1 nodes are available." and same(own, fresh(loop.engine, waiting))  # it fits there


def test_a_gang_member_is_not_kept_out_by_the_room_its_gang_holds():
    loop = loop_with(FakeClock())
    loop.state.upsert_node(make_node("n0", cpu="4"))
    loop.state.place(make_pod("running", cpu="1", priority=0), "n0")
    loop.nominations.add(Nomination(make_pod("member-0", cpu="2", priority=10, labels={POD_GROUP_LABEL: "job"}),
                                    "n0", 0.0))
    assert "room reserved" in loop.engine.diagnose(make_pod("outsider", cpu="2", priority=10)).message
    member = make_pod("member-1", cpu="2", priority=10, labels={POD_GROUP_LABEL: "job"})
    own = loop.engine.diagnose(member)
    assert own.message == "0/1 nodes are available." and same(own, fresh(loop.engine, member))


def test_a_pod_never_conflicts_with_its_own_read_write_once_pod_claim():
    engine = make_engine([make_node("n0", cpu="2"), make_node("n1", cpu="2")])
    volumes = engine.state.volumes
    volumes.upsert(parse_volume({"metadata": {"name": "pv"}, "spec": {"capacity": {"storage": "1Gi"}}}))
    volumes.upsert(parse_claim({
        "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOncePod"], "volumeName": "pv"}, "status": {"phase": "Bound"}}))
    claim = [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]
    user = make_pod("user", cpu="4", volumes=claim)
    engine.state.place(user, "n0")
    other = make_pod("other", cpu="4", volumes=claim)
    assert RWOP_CONFLICT in engine.diagnose(other).message
    own = engine.diagnose(user)
    assert RWOP_CONFLICT not in own.message and same(own, fresh(engine, user))


def test_nothing_is_shared_inside_a_what_if():
    engine = make_engine([make_node("n0", cpu="2")])
    sitting = make_pod("sitting", cpu="2")
    engine.state.place(sitting, "n0")
    assert "Insufficient cpu" in engine.diagnose(make_pod("a", cpu="1")).message
    with engine.state.what_if(0) as node:
        node.lift([sitting])  # rows change, the generation does not
        inside = engine.diagnose(make_pod("b", cpu="1"))
        assert same(inside, fresh(engine, make_pod("b", cpu="1")))
    assert "Insufficient cpu" in engine.diagnose(make_pod("c", cpu="1")).message  # and back again afterwards


def test_a_filter_that_does_not_declare_its_inputs_is_never_shared():
    class Picky(FilterPlugin):
        name = "Picky"

        def filter(self, pod: Pod, state: Any) -> np.ndarray:
            return np.zeros(state.size, dtype=bool)

    engine = make_engine([make_node("n0")])
    engine = type(engine)(engine.state, engine.profile, engine.clock, extra_filters=[Picky()])
    for i in range(3):
        engine.diagnose(make_pod(f"p{i}"))
    assert engine.diagnoses_shared == 0


# ------------------------------------------------------------ shared == fresh, whatever happens in between
def web_port(port: int) -> Dict[str, Any]:
    return {"cpu": "1", "containers": [{"name": "main", "resources": {"requests": {"cpu": "1"}},
                                        "ports": [{"containerPort": port, "hostPort": port}]}]}


def claiming(claim: str) -> Dict[str, Any]:
    return {"cpu": "1", "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}


SPREAD_BY_ZONE = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                   "labelSelector": {"matchLabels": {"app": "web"}}}]
SPREAD_OVER_TOLERATED = [{**SPREAD_BY_ZONE[0], "nodeTaintsPolicy": "Honor"}]
TOLERATES_CORDON = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
SHAPES: Dict[str, Dict[str, Any]] = {
    # shapes come in pairs that differ in one thing some filter reads
    "small": {"cpu": "1"},
    "large": {"cpu": "3"},
    "medium": {"cpu": "2"},
    "gang": {"cpu": "2", "labels": {POD_GROUP_LABEL: "job"}},
    "tolerant": {"cpu": "2", "tolerations": TOLERATES_GPU},
    "cordon-tolerant": {"cpu": "2", "tolerations": TOLERATES_CORDON},
    "web": {"cpu": "1", "labels": {"app": "web"}},
    "web-elsewhere": {"cpu": "1", "labels": {"app": "web"}, "namespace": "other"},
    "zone-a": {"cpu": "1", "nodeSelector": {"zone": "a"}},
    "zone-b": {"cpu": "1", "nodeSelector": {"zone": "b"}},
    "spread": {"cpu": "1", "labels": {"app": "web"}, "topologySpreadConstraints": SPREAD_BY_ZONE},
    "spread-unlabelled": {"cpu": "1", "topologySpreadConstraints": SPREAD_BY_ZONE},
    "spread-honouring": {"cpu": "1", "labels": {"app": "web"}, "topologySpreadConstraints": SPREAD_OVER_TOLERATED},
    "spread-tolerant": {"cpu": "1", "labels": {"app": "web"}, "topologySpreadConstraints": SPREAD_OVER_TOLERATED,
                        "tolerations": TOLERATES_GPU},
    "replica-x": {"cpu": "1", "owner": "x"},
    "replica-y": {"cpu": "1", "owner": "y"},
    "lonely": {"cpu": "1", "labels": {"app": "lonely"}, "affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}]}}},
    "near-db": {"cpu": "1", "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "db"}}}]}}},
    "db": {"cpu": "1", "labels": {"app": "db"}},
    "port-80": web_port(80),
    "port-81": web_port(81),
    "claims-data": claiming("data"),
    "claims-loose": claiming("loose"),
}
PRIORITIES = (0, 10)


def shaped(shape: str, name: str, priority: int) -> Pod:
    spec = dict(SHAPES[shape])
    cpu, labels = spec.pop("cpu"), spec.pop("labels", None)
    namespace, owner = spec.pop("namespace", "default"), spec.pop("owner", "")
    raw = raw_pod(name, cpu, "1Gi", priority=priority, namespace=namespace, labels=labels, **spec)
    if owner:
        raw["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": owner, "controller": True}]
    return parse_pod(raw, DEFAULTS)


NODE_VARIANTS: List[Dict[str, Any]] = [
    {"cpu": "4", "labels": {"zone": "a"}},
    {"cpu": "4", "labels": {"zone": "b"}},
    {"cpu": "2", "labels": {"zone": "a"}, "taints": [GPU_TAINT]},
    {"cpu": "4", "labels": {"zone": "b"}, "unschedulable": True},
    {"cpu": "3", "labels": {"zone": "a"}},
    {"cpu": "2"},
]


def node(index: int, variant: int) -> Any:
    spec = NODE_VARIANTS[variant]
    return make_node(f"n{index}", **{**spec, "labels": {"kubernetes.io/hostname": f"n{index}", **spec.get("labels", {})}})


def volumes(state: Any) -> None:
    """A bound ReadWriteOncePod claim and an unbound one."""
    state.volumes.upsert(parse_volume({"metadata": {"name": "pv"}, "spec": {"capacity": {"storage": "1Gi"}}}))
    state.volumes.upsert(parse_claim({"metadata": {"name": "data", "namespace": "default"}, "status": {"phase": "Bound"},
                                      "spec": {"accessModes": ["ReadWriteOncePod"], "volumeName": "pv"}}))
    state.volumes.upsert(parse_claim({"metadata": {"name": "loose", "namespace": "default"}, "spec": {}}))


NAMES, CLOCK_STEPS, UTILISATIONS = ("p0", "p1", "p2"), (1, 30, 61), (0.1, 0.5, 0.95)


PLACED = ("lonely", "db", "web", "web-elsewhere", "spread", "replica-x", "claims-data", "port-80", "small", "large",
          "medium")
"""What runs on the nodes: mostly pods whose presence some filter reads (anti-affinity, spread, claims, ports)."""


def random_operation(rng: random.Random) -> tuple:
    """One change to the world; pods are placed more often than anything else happens, so nodes fill up."""
    name, node_index = rng.choice(NAMES), rng.randrange(4)
    return rng.choice([
        ("place", rng.choice(PLACED), node_index, rng.randrange(8)),
        ("place", rng.choice(PLACED), node_index, rng.randrange(8)),
        ("place", rng.choice(PLACED), node_index, rng.randrange(8)),
        ("forget", rng.randrange(8)),
        ("node", node_index, rng.randrange(len(NODE_VARIANTS))),
        ("remove-node", node_index),
        ("nominate", rng.choice(sorted(SHAPES)), name, node_index, rng.choice(PRIORITIES)),
        ("unnominate", name),
        ("clock", rng.choice(CLOCK_STEPS)),
        ("sample", node_index, rng.choice(UTILISATIONS)),
    ])


def apply(loop: Any, clock: FakeClock, op: tuple) -> None:
    """Change the world as one operation says."""
    kind, *args = op
    state = loop.state
    if kind == "node":
        state.upsert_node(node(args[0], args[1]))
    elif kind == "remove-node":
        state.remove_node(f"n{args[0]}")
    elif kind == "place":
        state.place(shaped(args[0], f"placed-{args[2]}", 0), f"n{args[1]}")
    elif kind == "forget":
        state.forget(f"default/placed-{args[0]}")
    elif kind == "nominate":
        loop.nominations.add(Nomination(shaped(args[0], args[1], args[3]), f"n{args[2]}", clock()))
    elif kind == "unnominate":
        loop.nominations.pop(f"default/{args[0]}")
    elif kind == "clock":
        clock.advance(args[0])
    else:
        state.set_utilisation({f"n{args[0]}": NodeUtilisation(args[1], 0.1, sampled_at=clock())})


def walk(seed: int, steps: int = 200):
    """A loop over a small contended cluster, changed at random `steps` times; yields after each change
    with the pods to ask about: every shape as two pods (name, priority)."""
    rng = random.Random(seed)
    clock = FakeClock(1000.0)
    loop = loop_with(clock, default_spread_constraints="zone=1:DoNotSchedule")
    volumes(loop.state)
    for i in range(4):
        loop.state.upsert_node(node(i, i % 2))
    for step in range(steps):
        op = random_operation(rng)
        apply(loop, clock, op)
        askers = [(rng.choice(NAMES), rng.choice(PRIORITIES)) for _ in range(2)]
        yield loop, (step, op), [shaped(shape, name, priority) for name, priority in askers for shape in SHAPES]


@pytest.mark.parametrize("seed", range(3))
def test_a_shared_diagnosis_is_always_the_one_computed_afresh(seed):
    """Each pair of shapes that differ in one input meets in many states: an input missing from the key
    shows as another pod's message or rows."""
    for loop, where, pods in walk(seed):
        for pod in pods:
            got, want = loop.engine.diagnose(pod), fresh(loop.engine, pod)
            assert same(got, want), (where, pod.key, pod.priority, got.message, want.message)
    assert loop.engine.diagnoses_shared > 1000


@pytest.mark.parametrize("seed", range(2))
def test_each_filter_answers_alike_for_pods_alike_in_its_declared_inputs(seed):
    """Filter by filter (another filter's inputs cannot hide a missing one): pods with equal `pod_inputs`
    get the same verdict, in every state of the walk."""
    for loop, where, pods in walk(seed, steps=120):
        state = loop.state
        for plugin in loop.engine.all_filters:
            seen: Dict[Any, Any] = {}
            for pod in pods:
                if not plugin.applies(pod):
                    continue
                verdict = plugin.verdict(pod, state, state.alive[: state.size].copy())
                answer = None if verdict is None else (list(verdict[0]), dict(verdict[1]), list(verdict[2]))
                first = seen.setdefault(plugin.pod_inputs(pod), (pod, answer))
                assert first[1] == answer, (where, plugin.name, first[0].key, pod.key, first[1], answer)
