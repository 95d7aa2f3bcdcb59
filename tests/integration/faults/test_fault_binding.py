"""Fault suite: bindings whose answer is lost, refused, failing or throttled (issue item 2)."""
from __future__ import annotations

import time
from typing import Any, Callable, List

Cluster = RunningDaemon = FaultRun = Any  # fixtures from tests/integration/conftest.py and faults/conftest.py

BINDING = r"/pods/[^/]+/binding$"


def _all_bound(cluster: Cluster, names: List[str]) -> bool:
    return len(cluster.bound(names)) == len(names)


def test_lost_bind_answers_with_a_working_watch_bind_each_pod_once(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="4")
    handle = start_daemon(cluster)
    cluster.srv.faults.hang_after_apply(BINDING, seconds=0, count=6, method="POST")
    names = [f"lost-{i}" for i in range(8)]
    for name in names:
        cluster.add_pod(name, cpu="1")
    wait_until(lambda: _all_bound(cluster, names), 15, message="every pod bound")
    time.sleep(1.0)  # a chance to bind again

    assert handle.sample("scheduler_bind_errors_total", code="0") >= 6  # the answers really were lost
    for name in names:  # the pod was re-read (or seen on the watch) and never sent elsewhere
        nodes = {c.target for c in run.calls.bind_attempts(f"default/{name}")}
        assert nodes == {cluster.node_of(name)}, (name, nodes)
    # `kubectl describe pod` tells where each went, whether or not the answer arrived
    wait_until(lambda: all(cluster.events_for(n, "Scheduled") for n in names), 5, message="Scheduled events")
    assert all(len(cluster.events_for(n, "Scheduled")) == 1 for n in names)
    run.check("lost bind answer, watch ok", "hang_after_apply(binding, 0s) x6", names, [handle], max_attempts=2)


def test_lost_bind_answers_while_blind_are_reconciled_by_the_409(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    """The answer is lost, the pod cannot be re-read and the watch is late: the binding is retried to
    the same node, the API says 409 "already assigned", and that settles it."""
    cluster.add_nodes(2, cpu="4")
    handle = start_daemon(cluster)
    names = [f"blind-{i}" for i in range(4)]
    srv = cluster.srv
    srv.faults.delay(1.0, BINDING)  # bindings arrive 1 s late: time to blind the scheduler meanwhile
    srv.faults.hang_after_apply(BINDING, seconds=0, count=len(names), method="POST")
    srv.faults.fail_next("GET", r"^/api/v1/namespaces/default/pods/blind-\d$", 500, count=len(names))
    for name in names:
        cluster.add_pod(name, cpu="1")
    wait_until(lambda: all(run.calls.binds.get(f"default/{n}") or
                           f"default/{n}" in handle.daemon.loop.state.placed for n in names), 10,
               message="the scheduler to decide every pod")
    srv.faults.delay(4.0, r"^/api/v1/pods$")  # the pod watch comes back 4 s late
    srv.faults.drop_watches()
    wait_until(lambda: handle.sample("scheduler_bind_errors_total", code="409") >= len(names), 10,
               message="a 409 for every retried binding")
    srv.faults.clear()
    wait_until(lambda: _all_bound(cluster, names), 10, message="every pod bound")
    time.sleep(1.0)

    for name in names:
        attempts = run.calls.bind_attempts(f"default/{name}")
        assert [c.status for c in attempts] == [0, 409], (name, attempts)
        assert {c.target for c in attempts} == {cluster.node_of(name)}, "re-placed on another node"
        assert len(cluster.events_for(name, "Scheduled")) == 1, name
    run.check("lost bind answer, blind (409)", "hang_after_apply(binding) + 500 on re-read + watch 4 s late",
              names, [handle], max_attempts=2)


def test_lost_bind_answers_while_blind_are_confirmed_by_the_watch_before_the_retry(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    """As above, but the watch comes back before the retry is due: no second binding, and the pod
    still gets its Scheduled Event."""
    cluster.add_nodes(2, cpu="4")
    handle = start_daemon(cluster, backoff_initial=4, backoff_max=4)
    names = [f"seen-{i}" for i in range(4)]
    srv = cluster.srv
    srv.faults.delay(1.0, BINDING)
    srv.faults.hang_after_apply(BINDING, seconds=0, count=len(names), method="POST")
    srv.faults.fail_next("GET", r"^/api/v1/namespaces/default/pods/seen-\d$", 500, count=len(names))
    for name in names:
        cluster.add_pod(name, cpu="1")
    wait_until(lambda: all(run.calls.binds.get(f"default/{n}") for n in names), 10,
               message="the scheduler to send every binding")
    srv.faults.delay(2.0, r"^/api/v1/pods$")  # the pod watch comes back 2 s late, before the 4 s retry
    srv.faults.drop_watches()
    wait_until(lambda: _all_bound(cluster, names), 10, message="every pod bound")
    wait_until(lambda: all(cluster.events_for(n, "Scheduled") for n in names), 5, message="Scheduled events")
    srv.faults.clear()
    time.sleep(4.5)  # past the retry that must not happen

    for name in names:
        assert [c.status for c in run.calls.bind_attempts(f"default/{name}")] == [0], name
        assert len(cluster.events_for(name, "Scheduled")) == 1, name
    run.check("lost bind answer, blind, watch first", "as above, retry backoff 4 s > watch delay 2 s",
              names, [handle], max_attempts=1)


def test_500s_on_binding_back_off_per_pod_and_retry_after_is_honoured(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(2, cpu="8")
    handle = start_daemon(cluster, backoff_initial=0.2, backoff_max=1.0)
    srv = cluster.srv
    srv.faults.fail_next("POST", BINDING, 500, count=100_000)
    names = [f"e500-{i}" for i in range(6)]
    for name in names:
        cluster.add_pod(name, cpu="1")
    wait_until(lambda: all(run.calls.bind_attempts(f"default/{n}") for n in names), 10,
               message="a first binding attempt for every pod")
    time.sleep(4.0)
    srv.faults.clear()
    ended = time.monotonic()
    wait_until(lambda: _all_bound(cluster, names), 10, message="every pod bound once the 500s end")

    worst = 0
    for name in names:
        attempts = run.calls.bind_attempts(f"default/{name}")
        bound = run.backoff_bound(ended - attempts[0].started, 0.2, 1.0)
        worst = max(worst, bound)
        assert len(attempts) <= bound, (name, len(attempts), bound)
        for n, (before, after) in enumerate(zip(attempts, attempts[1:]), start=1):
            backoff = min(1.0, 0.2 * 2 ** (n - 1))
            assert after.started - before.ended >= backoff - 0.05, (name, n, after.started - before.ended, backoff)

    # 429 with Retry-After: 3 -> the next attempt waits at least 3 s (the backoff alone would be 0.2 s)
    srv.faults.fail_next("POST", r"/pods/throttled/binding$", 429, retry_after=3)
    cluster.add_pod("throttled", cpu="1")
    wait_until(lambda: cluster.node_of("throttled"), 10, message="the throttled pod bound")
    first, second = run.calls.bind_attempts("default/throttled")
    assert first.status == 429 and second.status == 201
    waited = second.started - first.ended
    assert 3.0 - 0.05 <= waited <= 5.0, waited
    run.check("binding 500s for 4 s, then a 429", "fail_next(binding, 500) 4 s; 429 Retry-After: 3",
              names + ["throttled"], [handle], max_attempts=worst)


def test_a_404_on_binding_re_checks_the_pod_and_binds_it_later(
        cluster: Cluster, run: FaultRun, start_daemon: Callable[..., RunningDaemon], wait_until: Callable[..., Any]) -> None:
    cluster.add_nodes(1, cpu="4")
    handle = start_daemon(cluster)
    cluster.srv.faults.fail_next("POST", r"/pods/p404/binding$", 404)
    cluster.add_pod("p404", cpu="1")
    cluster.add_pod("other", cpu="1")
    wait_until(lambda: _all_bound(cluster, ["p404", "other"]), 10, message="both pods bound")
    time.sleep(0.5)
    assert [c.status for c in run.calls.bind_attempts("default/p404")] == [404, 201]
    assert handle.sample("scheduler_bind_errors_total", code="404") == 1
    warnings = cluster.events_for("p404", "FailedScheduling")
    assert warnings and "binding rejected" in warnings[0]["note"]
    run.check("404 on one binding", "fail_next(binding, 404) x1", ["p404", "other"], [handle], max_attempts=2)
