"""The room nominations hold, indexed per node and priority: always what summing the nominations one
by one gives (through adds, pops, re-nominations, node removal and row reuse, hostile sizes), and
answered without reading nominations unrelated to the question."""
from __future__ import annotations

import random
from typing import Any, Dict, List

import numpy as np
import pytest

from scheduler.core.cache import ClusterState
from scheduler.core.columns import INT64_MAX
from scheduler.core.model import POD_GROUP_LABEL, Pod
from scheduler.core.nomination import NominatedRoom, Nomination, Nominations

from ..helpers import make_node, make_pod

CPU, MEMORY, GPU = "cpu", "memory", "example.com/gpu"


def pod(name: str, priority: int, requests: Dict[str, int], gang: str = "") -> Pod:
    return Pod("default", name, f"uid-{name}", dict(requests), priority, labels={POD_GROUP_LABEL: gang} if gang else {})


def expected_reserved(nominations: List[Nomination], node: str, asking: Pod, exclude: str = "") -> Dict[str, int]:
    """kube's rule, one nomination at a time: equal or higher priority holds, but never the pod's own,
    `exclude`'s, or (for a gang member) its own gang's."""
    reserved: Dict[str, int] = {}
    for n in nominations:
        if n.node != node or n.pod.key in (asking.key, exclude) or n.pod.priority < asking.priority:
            continue
        if asking.gang_name and n.pod.gang_name == asking.gang_name:
            continue
        for resource, amount in n.pod.requests.items():
            reserved[resource] = reserved.get(resource, 0) + amount
    return reserved


def nonzero(amounts: Dict[str, int]) -> Dict[str, int]:
    return {k: v for k, v in amounts.items() if v}


def expected_mask(state: ClusterState, nominations: List[Nomination], asking: Pod) -> np.ndarray:
    mask = np.ones(state.size, dtype=bool)
    for name, row in state.row_of.items():
        reserved = expected_reserved(nominations, name, asking)
        if not reserved:
            continue
        for resource, amount in asking.requests.items():
            col = state.column.get(resource)
            free = 0 if col is None else int(state.free_[col, row])
            if free - reserved.get(resource, 0) < amount:
                mask[row] = False
    return mask


def check(state: ClusterState, nominations: Nominations, asking: Pod, exclude: str = "") -> None:
    everything = nominations.values()
    nodes = set(state.row_of) | {n.node for n in everything}
    for node in nodes:
        want = expected_reserved(everything, node, asking, exclude)
        got = nominations.reserved_on(node, asking, exclude)
        assert bool(got) == bool(want), (node, got, want)
        assert nonzero(got) == nonzero(want), (node, got, want)
    held = nominations.held_against(asking, state, exclude)
    seen = {int(r) for r in held.rows}
    for name, row in state.row_of.items():
        want = expected_reserved(everything, name, asking, exclude)
        assert (row in seen) == bool(want), (name, want)
        if row in seen:
            i = int(np.flatnonzero(held.rows == row)[0])
            for resource, amount in want.items():
                assert int(held.amounts[resource][i]) == min(amount, INT64_MAX)
            if max(want.values(), default=0) > INT64_MAX // 2:
                assert held.exact[row] == want
    if not exclude:
        room = NominatedRoom(nominations)
        mask = room.filter(asking, state)
        assert (mask == expected_mask(state, everything, asking)).all()
        for row in state.row_of.values():
            assert room.filter_row(asking, state, row) == bool(mask[row])


def random_requests(rng: random.Random) -> Dict[str, int]:
    roll = rng.random()
    if roll < 0.1:
        return {}
    if roll < 0.15:
        return {CPU: INT64_MAX - rng.randrange(10), "pods": 1}  # hostile: sums overflow int64
    requests = {CPU: rng.choice([0, 250, 1000, 3000]), MEMORY: rng.choice([0, 1 << 30, 4 << 30]), "pods": 1}
    if rng.random() < 0.2:
        requests[GPU] = rng.randint(1, 2)
    return requests


@pytest.mark.parametrize("seed", range(6))
def test_held_room_is_exactly_the_sum_of_the_nominations(seed):
    rng = random.Random(seed)
    state = ClusterState(capacity=2)
    names = [f"n{i}" for i in range(6)]
    for name in names:
        state.upsert_node(make_node(name, cpu=str(rng.choice([2, 4, 8])), memory="16Gi"))
    for i in range(10):
        state.place(make_pod(f"run-{i}", cpu="1", memory="1Gi"), rng.choice(names))
    nominations = Nominations()
    keys = [f"p{i}" for i in range(25)]
    for step in range(150):
        roll = rng.random()
        if roll < 0.55:  # nominate (again: on another node, with another size or priority)
            name = rng.choice(keys)
            node = rng.choice(names + ["ghost"])  # a node the state does not know (yet)
            nominations.add(Nomination(pod(name, rng.choice([1, 5, 10]), random_requests(rng),
                                           rng.choice(["", "", "g1", "g2"])), node, float(step)))
        elif roll < 0.85:
            nominations.pop(f"default/{rng.choice(keys)}")
        elif roll < 0.93:  # a node goes, another comes (and may take its row)
            gone = rng.choice(names)
            state.remove_node(gone)
            names.remove(gone)
            added = rng.choice([gone, f"m{step}", "ghost"])
            if added not in names:
                state.upsert_node(make_node(added, cpu="4", memory="16Gi"))
                names.append(added)
        else:  # room on a node changes
            state.place(make_pod(f"more-{step}", cpu="1", memory="1Gi"), rng.choice(names))
        asking_key = rng.choice(keys + ["new"])
        asking = pod(asking_key, rng.choice([1, 5, 10]), {CPU: rng.choice([500, 1000, 2000]), MEMORY: 1 << 30},
                     rng.choice(["", "g1", "g2"]))
        check(state, nominations, asking)
        check(state, nominations, asking, exclude=f"default/{rng.choice(keys)}")
    for key in keys:
        nominations.pop(f"default/{key}")
    assert not nominations.by_node and not nominations.by_gang and not nominations.room.levels
    assert not nominations.room.slot_of and not nominations.room.totals and not nominations.room.huge


class Spy:
    """A nominated pod that counts every read of it after `armed`."""

    reads = 0
    armed = False

    def __init__(self, wrapped: Pod) -> None:
        self.__dict__["_wrapped"] = wrapped

    def __getattr__(self, name: str) -> Any:
        if Spy.armed:
            Spy.reads += 1
        return getattr(self._wrapped, name)


def test_room_held_against_a_pod_is_found_without_reading_unrelated_nominations():
    state = ClusterState(capacity=4)
    for i in range(300):
        state.upsert_node(make_node(f"n{i}", cpu="4", memory="16Gi"))
    nominations = Nominations()
    for i in range(1, 300):  # one waiting preemptor on every other node
        spy: Any = Spy(pod(f"other-{i}", 100, {CPU: 3000, MEMORY: 1 << 30, "pods": 1}))
        nominations.add(Nomination(spy, f"n{i}", 0.0))
    nominations.add(Nomination(pod("mine", 100, {CPU: 3000, MEMORY: 1 << 30, "pods": 1}), "n0", 0.0))
    room = NominatedRoom(nominations)
    lower = pod("lower", 50, {CPU: 2000, "pods": 1})
    equal = pod("mine", 100, {CPU: 3000, "pods": 1})  # the nominee itself
    Spy.reads, Spy.armed = 0, True
    try:
        assert nominations.reserved_on("n0", lower) == {CPU: 3000, MEMORY: 1 << 30, "pods": 1}
        assert not room.filter_row(lower, state, state.row_of["n0"])
        assert room.filter_row(equal, state, state.row_of["n0"])  # its own room is for it
        mask = room.filter(lower, state)
        assert not mask.any()  # every node holds 3 of its 4 cores for a more important pod
        assert room.filter(equal, state)[state.row_of["n0"]]
        assert room.filter(pod("top", 1000, {CPU: 2000}), state).all()  # a more important pod ignores them
    finally:
        Spy.armed = False
    assert Spy.reads == 0


def test_a_gang_member_is_not_kept_out_of_its_own_gangs_held_room():
    state = ClusterState(capacity=4)
    state.upsert_node(make_node("n1", cpu="4", memory="16Gi"))
    nominations = Nominations()
    nominations.add(Nomination(pod("a", 10, {CPU: 2000}, gang="job"), "n1", 0.0))
    nominations.add(Nomination(pod("b", 10, {CPU: 1000}, gang="job"), "n1", 0.0))
    room = NominatedRoom(nominations)
    member = pod("c", 10, {CPU: 4000}, gang="job")
    stranger = pod("d", 10, {CPU: 2000})
    assert room.filter(member, state)[0] and room.filter_row(member, state, 0)
    assert not room.filter(stranger, state)[0] and not room.filter_row(stranger, state, 0)
    assert [n.pod.name for n in nominations.of_gang("default/job")] == ["a", "b"]
    nominations.pop("default/a")
    assert room.filter(stranger, state)[0]  # 3 of 4 cores free of holds now


def test_a_node_removed_and_its_row_reused_does_not_inherit_the_held_room():
    state = ClusterState(capacity=4)
    state.upsert_node(make_node("old", cpu="4", memory="16Gi"))
    nominations = Nominations()
    nominations.add(Nomination(pod("waiting", 100, {CPU: 4000}), "old", 0.0))
    room = NominatedRoom(nominations)
    asking = pod("small", 1, {CPU: 1000})
    assert not room.filter(asking, state)[state.row_of["old"]]
    state.remove_node("old")
    state.upsert_node(make_node("new", cpu="4", memory="16Gi"))  # takes the old row
    assert state.row_of["new"] == 0
    assert room.filter(asking, state)[0] and room.filter_row(asking, state, 0)
    state.upsert_node(make_node("old", cpu="4", memory="16Gi"))  # back, on another row: held again
    assert not room.filter(asking, state)[state.row_of["old"]]
