"""Indexes preemption reads instead of scanning pods: which gangs run on a node and who their members
are, and the lowest evictable priority (and its latest start) per node.  Always equal to a scan of
the placed pods, through place, confirm, move, forget, evictions, node removal, row reuse and what-if."""
from __future__ import annotations

import random
from typing import Dict, List, Tuple

import numpy as np
import pytest

from scheduler.core.cache import ClusterState
from scheduler.core.model import POD_GROUP_LABEL, Pod
from scheduler.core.nomination import Nominations
from scheduler.core.preemption import LEAVING_ONLY, NO_VICTIMS, PRIORITY_OFFSET, PreemptionPolicy, Preemptor, may_be_victim
from scheduler.core.victim_index import NONE_EVICTABLE

from ..helpers import FakeClock, make_engine, make_node

POLICY = PreemptionPolicy()


def pod(name: str, priority: int, started: float, gang: str = "", deleting: bool = False) -> Pod:
    return Pod("default", name, f"uid-{name}", {"cpu": 500, "pods": 1}, priority, started=started, deleting=deleting,
               labels={POD_GROUP_LABEL: gang} if gang else {})


def new_state() -> ClusterState:
    return ClusterState(capacity=2, is_evictable=lambda p: may_be_victim(p, POLICY))


def scanned(state: ClusterState) -> Tuple[Dict[str, Dict[str, int]], Dict[int, Dict[str, int]]]:
    members: Dict[str, Dict[str, int]] = {}
    on_row: Dict[int, Dict[str, int]] = {}
    for key, placed in state.placed.items():
        gang = placed.pod.gang_name
        if gang:
            members.setdefault(gang, {})[key] = placed.row
            on_row.setdefault(placed.row, {})[gang] = on_row.get(placed.row, {}).get(gang, 0) + 1
    return members, on_row


def lowest_scanned(state: ClusterState, row: int) -> Tuple[int, float]:
    evictable = [p.pod for p in state.placed.values() if p.row == row and not p.pod.deleting
                 and p.pod.key not in state.victims.evicting and state.victims.is_evictable(p.pod)]
    if not evictable:
        return NONE_EVICTABLE, -np.inf
    lowest = min(p.priority for p in evictable)
    return lowest, max(p.started for p in evictable if p.priority == lowest)


def check(state: ClusterState) -> None:
    gangs = state.victims.gangs
    members, on_row = scanned(state)
    assert gangs.members == members
    assert gangs.on_row == on_row
    rows = np.arange(state.size, dtype=np.int64)
    assert sorted(gangs.rows_with_gangs(rows).tolist()) == sorted(on_row)
    for row in range(state.size):
        assert gangs.gangs_on(row) == sorted(on_row.get(row, {}))
    lowest, latest = state.victims.lowest_evictable(rows, state.pods_on)
    for row in range(state.size):
        assert (int(lowest[row]), float(latest[row])) == lowest_scanned(state, row), row


@pytest.mark.parametrize("seed", range(8))
def test_gang_and_lowest_evictable_indexes_equal_a_scan(seed):
    rng = random.Random(seed)
    state = new_state()
    names = [f"n{i}" for i in range(5)]
    for name in names:
        state.upsert_node(make_node(name, cpu="64", memory="64Gi"))
    pods: Dict[str, Pod] = {}
    for step in range(250):
        roll = rng.random()
        if roll < 0.35 or not state.placed:  # a new pod, bound or assumed
            p = pod(f"p{step}", rng.choice([1, 2, 3]), float(rng.randrange(50)), rng.choice(["", "", "a", "b", "c"]))
            pods[p.key] = p
            state.place(p, rng.choice(names + ["unknown"]), assumed=rng.random() < 0.3)
        elif roll < 0.45:  # confirmed, possibly terminating now, on the same node or another
            key = rng.choice(sorted(state.placed))
            old = state.placed[key].pod
            again = pod(old.name, old.priority, old.started, old.labels.get(POD_GROUP_LABEL, ""),
                        deleting=rng.random() < 0.4)
            node = state.name_of(state.placed[key].row) if rng.random() < 0.7 else rng.choice(names)
            state.place(again, node)
        elif roll < 0.6:
            state.forget(rng.choice(sorted(state.placed)))
        elif roll < 0.72:
            state.mark_evicting(rng.choice(sorted(state.placed)))
        elif roll < 0.8:
            state.unmark_evicting(rng.choice(sorted(state.placed)))
        elif roll < 0.86:  # a node goes (its pods wait for it), another may take its row; or it returns
            gone = rng.choice(names)
            state.remove_node(gone)
            names.remove(gone)
            back = rng.choice([gone, f"m{step}"])
            state.upsert_node(make_node(back, cpu="64", memory="64Gi"))
            names.append(back)
        else:  # what-if: pods lifted off a node and put back change nothing the indexes say
            row = state.row_of[rng.choice(names)]
            with state.what_if(row) as view:
                on_node = [p.pod for p in state.pods_on[row].values()]
                view.lift(rng.sample(on_node, k=len(on_node) // 2 + (len(on_node) % 2)))
                check(state)
                view.put_back(on_node[:1])
                check(state)
        check(state)


def old_bound(preemptor: Preemptor, pod_: Pod, row: int, level: int) -> tuple:
    """The bound preemption computed by scanning the node's pods (before the index)."""
    threshold = pod_.priority - preemptor.policy.min_gap
    eligible = [p.pod for p in preemptor.state.pods_on[row].values() if p.evictable and p.pod.priority <= threshold]
    if level == LEAVING_ONLY or not eligible:
        return (0, NO_VICTIMS, 0, 0, 0.0)
    lowest = min(p.priority for p in eligible)
    latest = max(p.started for p in eligible if p.priority == lowest)
    return (0, lowest, lowest + PRIORITY_OFFSET, 1, -latest)


@pytest.mark.parametrize("seed", range(5))
def test_candidate_bounds_come_in_the_order_a_scan_gives(seed):
    rng = random.Random(seed)
    engine = make_engine([make_node(f"n{i}", cpu="64", memory="64Gi") for i in range(30)])
    state = engine.state
    state.victims.is_evictable = lambda p: may_be_victim(p, POLICY)
    for i in range(120):
        state.place(pod(f"p{i}", rng.choice([1, 2, 5, 50]), float(rng.randrange(8)), rng.choice(["", "", "", "g"])),
                    f"n{rng.randrange(30)}")
    for key in rng.sample(sorted(state.placed), 20):
        state.mark_evicting(key)
    preemptor = Preemptor(engine, POLICY, FakeClock(), Nominations())
    for _ in range(10):
        rows = np.array(rng.sample(range(30), 20), dtype=np.int64)
        levels = np.array([rng.choice([LEAVING_ONLY, 1, 2]) for _ in rows], dtype=np.int64)
        asking = pod("asking", rng.choice([2, 3, 6, 100]), 0.0)
        want: List[tuple] = sorted((old_bound(preemptor, asking, int(r), int(lv)) + (i,), int(r))
                                   for i, (r, lv) in enumerate(zip(rows, levels)))
        assert list(preemptor._bounds(asking, rows, levels)) == want
        state.forget(rng.choice(sorted(state.placed)))  # and the node's bound is recomputed when next asked
