"""Fault suite: the API goes away, watches expire or break (issue items 2 and 4)."""
from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter
from typing import Any, Callable, List

import scheduler.daemon

Cluster = RunningDaemon = FaultRun = Any  # fixtures from tests/integration/conftest.py and faults/conftest.py

OUTAGE = 40.0


def _all_bound(cluster: Cluster, names: List[str]) -> bool:
    return len(cluster.bound(names)) == len(names)


def test_api_down_40s_with_500_pods_pending(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any],
        caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="scheduler")
    srv = cluster.srv
    cluster.add_nodes(20, cpu="4", memory="16Gi")  # room for 800 pods of 100m
    handle = start_daemon(cluster, backoff_initial=1, backoff_max=10, bind_workers=16)
    srv.faults.delay(0.5, r"/pods/[^/]+/binding$")  # bindings crawl, so most are still pending at the outage
    names = [f"o{i:03d}" for i in range(500)]
    for name in names:
        cluster.add_pod(name, cpu="100m", memory="100Mi")
    wait_until(lambda: all(f"default/{n}" in handle.daemon.known["pods"] for n in names), 20,
               message="the scheduler to see every pod")
    srv.stop()  # connections refused from now on; bindings in flight lose their answer
    down_at, down_wall = time.monotonic(), time.time()
    srv.faults.clear()
    time.sleep(OUTAGE)
    srv.start()
    wait_until(lambda: _all_bound(cluster, names), 60, interval=0.5, message="all 500 pods bound after the outage")
    took = time.monotonic() - down_at

    bound_before = {b["pod"] for b in srv.bindings if b["time"] < down_wall}
    pending_at_outage = [n for n in names if f"default/{n}" not in bound_before]
    assert len(pending_at_outage) >= 400, "the outage should hit most pods before they are bound"
    limit = math.floor(math.log2(OUTAGE) + 3)
    assert run.backoff_bound(OUTAGE, 1, 10) <= limit
    row = run.check(f"API down {OUTAGE:.0f} s, 500 pending", f"srv.stop() {OUTAGE:.0f} s with "
                    f"{len(pending_at_outage)} pods not yet bound (bindings 0.5 s slow before)",
                    names, [handle], max_attempts=limit, settle=20)
    assert row["attempts max"] >= 6, "pods should have kept retrying through the outage"
    def scheduled() -> Counter:
        return Counter((e.get("regarding") or {}).get("name") for e in srv.events()
                       if e.get("apiVersion") == "events.k8s.io/v1" and e.get("reason") == "Scheduled")

    poll_events = wait_until(lambda: all(scheduled()[n] for n in names) and scheduled(), 5, interval=0.5,
                             message="a Scheduled Event for every pod, lost answers included")
    assert all(poll_events[n] == 1 for n in names), {n: poll_events[n] for n in names if poll_events[n] != 1}
    failures = sum(len(run.calls.bind_attempts(f"default/{n}")) - 1 for n in names)
    lines = [r for r in caplog.records if r.name == "scheduler.k8s.actuator" and "binding" in r.getMessage()]
    assert len(lines) <= 2 * math.log2(failures) + 4, f"{len(lines)} log lines for {failures} failed bindings"
    assert took < OUTAGE + 30, took


def test_watch_410_during_churn_loses_and_duplicates_nothing(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    srv = cluster.srv
    cluster.add_nodes(4, cpu="8", memory="32Gi")
    handle = start_daemon(cluster)
    rng = random.Random(7)
    created: List[str] = []
    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            name = f"churn-{i:03d}"
            cluster.add_pod(name, cpu="100m", memory="100Mi")
            created.append(name)
            i += 1
            if i % 3 == 0:  # delete a random earlier pod, bound or not
                victim = rng.choice(created[:-1])
                if f"default/{victim}" not in run.deleted_by_test:
                    run.delete(victim, grace=0)
            time.sleep(0.02)

    writer = threading.Thread(target=churn, name="churn", daemon=True)
    writer.start()
    for i in range(6):
        time.sleep(0.7)
        # an object the scheduler does not watch moves the resourceVersion past every watch's position,
        # then the history is forgotten: every watch resumes from a version too old, 410 Expired
        srv.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"bump-{i}", "namespace": "default"}})
        srv.faults.expire_history()
        srv.faults.drop_watches()
    stop.set()
    writer.join(5)
    survivors = [n for n in created if f"default/{n}" not in run.deleted_by_test]
    wait_until(lambda: _all_bound(cluster, survivors), 15, message="every surviving pod bound")
    expired = wait_until(lambda: handle.sample("scheduler_watch_restarts_total", resource="pods", cause="expired") >= 3
                         and handle.sample("scheduler_watch_restarts_total", resource="pods", cause="expired"), 5,
                         message="the pod watch to relist after most of the 410s")
    time.sleep(1.0)

    # the scheduler's view converged on the API's: no ghost of a deleted pod, nothing missing
    in_api = {f"default/{n}" for n in survivors}
    listed = {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in cluster.srv.list("Pod")}
    known = set(handle.daemon.known["pods"])
    assert known == listed, (known - listed, listed - known)
    assert {k for k in known if k.startswith("default/")} == in_api
    assert set(handle.daemon.loop.state.placed) == in_api
    run.check("watch 410 during churn", f"expire_history + drop_watches x6 ({expired:.0f} relists) while "
              f"creating {len(created)} / deleting {len(run.deleted_by_test)} pods", survivors, [handle], max_attempts=1)


def test_broken_pod_watch_fails_healthz_keeps_assumptions_and_recovers(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any],
        monkeypatch: Any) -> None:
    monkeypatch.setattr(scheduler.daemon, "ASSUME_TTL", 1.0)  # an unanswered binding would expire after 1 s
    srv = cluster.srv
    handle = start_daemon(cluster)
    handle.daemon.watch_failing_after = 2.0
    names = ["p0", "p1", "p2", "p3"]
    for name in names:
        cluster.add_pod(name, cpu="1")
    wait_until(lambda: all(cluster.events_for(n, "FailedScheduling") for n in names), 10,
               message="the pods known and unschedulable (no nodes yet)")

    srv.faults.fail_next("GET", r"^/api/v1/pods$", 500, count=100_000)  # list and watch of pods fail
    srv.faults.delay(3.0, r"/pods/[^/]+/binding$")  # bindings stay unanswered longer than ASSUME_TTL
    srv.faults.drop_watches()
    broken_at = time.monotonic()
    cluster.add_nodes(1, cpu="2")  # the node watch works: two pods fit, the other two do not
    wait_until(lambda: not handle.daemon.healthz()[0], 6, message="/healthz to fail")
    failed_after = time.monotonic() - broken_at
    assert "pods" in handle.daemon.healthz()[1]
    wait_until(lambda: len(cluster.bound(names)) == 2, 10, message="two pods bound while the pod watch is down")
    time.sleep(1.5)  # past ASSUME_TTL again, with the watch still failing
    placed = cluster.bound(names)
    for name in placed:  # the assumption was kept: no second placement of a pod whose binding was slow
        assert [c.status for c in run.calls.bind_attempts(f"default/{name}")] == [201], name
    assert len(cluster.bound(names)) == 2
    assert not handle.daemon.healthz()[0]

    srv.faults.clear()
    healed = time.monotonic()
    wait_until(lambda: handle.daemon.healthz()[0], 40, interval=0.2, message="/healthz to recover")
    recovered_after = time.monotonic() - healed
    time.sleep(1.0)
    assert cluster.bound(names) == placed
    assert failed_after >= 2.0
    run.check("pod watch broken, writes ok",
              f"500 on pods list/watch {healed - broken_at:.0f} s (healthz failed after {failed_after:.1f} s, "
              f"back {recovered_after:.1f} s after), bindings 3 s late", placed, [handle], max_attempts=1)
