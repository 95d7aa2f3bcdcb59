"""LoadAware: u + r/A <= alpha per resource, estimates since the last sample, stale/missing metrics, preemption."""
from __future__ import annotations

import pytest

from ..builders import Cluster, victim_names


def one_node(alpha: float = 0.8, cpu_util=0.1, mem_util=0.1, **flags) -> Cluster:
    """One node with 10 cpu and 10Gi memory (1 cpu and 1Gi are 10%), sampled now."""
    cluster = Cluster(load=True, alpha=alpha, **flags)
    cluster.node("n1", cpu="10", memory="10Gi")
    if cpu_util is not None or mem_util is not None:
        cluster.set_util({"n1": (cpu_util, mem_util)})
    return cluster


@pytest.mark.parametrize("alpha, fits", [(0.8, False), (0.95, True), (0.9, True), (0.89, False)])
def test_cpu_arithmetic_u_plus_request_over_allocatable(alpha, fits):
    cluster = one_node(alpha=alpha, cpu_util=0.7)
    pod = cluster.pod("p", cpu="2", memory="100Mi")  # 20% of allocatable cpu: 0.7 + 0.2 = 0.9
    cluster.run()
    assert (cluster.node_of(pod.key) == "n1") is fits


@pytest.mark.parametrize("alpha, fits", [(0.8, False), (0.95, True)])
def test_memory_arithmetic_u_plus_request_over_allocatable(alpha, fits):
    cluster = one_node(alpha=alpha, mem_util=0.7)
    pod = cluster.pod("p", cpu="100m", memory="2Gi")
    cluster.run()
    assert (cluster.node_of(pod.key) == "n1") is fits


def test_exactly_at_alpha_passes():
    cluster = one_node(alpha=0.8, cpu_util=0.6)
    pod = cluster.pod("p", cpu="2", memory="100Mi")  # 0.6 + 0.2 == 0.8
    cluster.run()
    assert cluster.node_of(pod.key) == "n1"


def test_failure_message_names_the_resource_and_threshold():
    cluster = one_node(alpha=0.8, cpu_util=0.7)
    cluster.pod("p", cpu="2", memory="100Mi")
    cluster.run()
    assert cluster.last("p").message == "0/1 nodes are available: 1 node(s) would exceed cpu utilisation threshold 0.8."


def test_load_filter_prefers_the_node_under_alpha():
    cluster = Cluster(load=True, alpha=0.8)
    cluster.node("busy", cpu="10", memory="10Gi")
    cluster.node("idle", cpu="10", memory="10Gi")
    cluster.set_util({"busy": (0.95, 0.2), "idle": (0.2, 0.2)})
    keys = [cluster.pod(f"p{i}", cpu="500m", memory="100Mi").key for i in range(5)]
    cluster.run()
    assert {cluster.node_of(k) for k in keys} == {"idle"}


def test_estimated_usage_of_pods_placed_since_the_sample_accumulates_and_a_newer_sample_resets_it():
    cluster = one_node(alpha=0.8, cpu_util=0.5)
    keys = [cluster.pod(f"p{i}", cpu="1", memory="100Mi").key for i in range(4)]
    cluster.run()
    # 0.5 + 3 * 0.1 = 0.8 fits; the fourth would make 0.9
    assert [cluster.node_of(k) for k in keys] == ["n1", "n1", "n1", None]
    assert "would exceed cpu utilisation threshold 0.8" in cluster.last(keys[3]).message
    cluster.clock.advance(15)
    cluster.set_util({"n1": (0.5, 0.1)})  # a newer sample: the measured usage now includes the three pods
    cluster.loop.queue.move_to_active(lambda unit: True)
    cluster.clock.advance(15)
    cluster.run()
    assert cluster.node_of(keys[3]) == "n1"


def test_an_older_sample_does_not_reset_the_estimate():
    cluster = one_node(alpha=0.8, cpu_util=0.5)
    keys = [cluster.pod(f"p{i}", cpu="1", memory="100Mi").key for i in range(4)]
    cluster.run()
    cluster.set_util({"n1": (0.5, 0.1)}, sampled_at=cluster.clock() - 30)  # late, out-of-order reading
    cluster.loop.queue.move_to_active(lambda unit: True)
    cluster.clock.advance(15)
    cluster.run()
    assert cluster.node_of(keys[3]) is None


@pytest.mark.parametrize("on_missing, fits", [("allow", True), ("deny", False)])
def test_samples_older_than_max_age_count_as_missing(on_missing, fits):
    cluster = Cluster(load=True, alpha=0.8, metrics_max_age=60, on_missing_metrics=on_missing)
    cluster.node("n1", cpu="10", memory="10Gi")
    cluster.set_util({"n1": (0.99, 0.99)}, sampled_at=cluster.clock() - 61)  # overloaded, but stale
    pod = cluster.pod("p", cpu="1", memory="100Mi")
    cluster.run()
    assert (cluster.node_of(pod.key) == "n1") is fits
    if not fits:
        assert cluster.last("p").message == "0/1 nodes are available: 1 node(s) had no fresh load metrics."


def test_a_fresh_sample_within_max_age_is_used():
    cluster = Cluster(load=True, alpha=0.8, metrics_max_age=60)
    cluster.node("n1", cpu="10", memory="10Gi")
    cluster.set_util({"n1": (0.99, 0.1)}, sampled_at=cluster.clock() - 59)
    pod = cluster.pod("p", cpu="1", memory="100Mi")
    cluster.run()
    assert cluster.node_of(pod.key) is None


def test_sample_going_stale_while_time_passes_counts_as_missing():
    cluster = Cluster(load=True, alpha=0.8, metrics_max_age=60, on_missing_metrics="deny")
    cluster.node("n1", cpu="10", memory="10Gi")
    cluster.set_util({"n1": (0.1, 0.1)})
    first = cluster.pod("first", cpu="1", memory="100Mi")
    cluster.run()
    assert cluster.node_of(first.key) == "n1"
    cluster.clock.advance(61)
    second = cluster.pod("second", cpu="1", memory="100Mi")
    cluster.run()
    assert cluster.node_of(second.key) is None
    assert "no fresh load metrics" in cluster.last("second").message


@pytest.mark.parametrize("on_missing, fits", [("allow", True), ("deny", False)])
def test_nodes_without_any_sample(on_missing, fits):
    cluster = Cluster(load=True, alpha=0.8, on_missing_metrics=on_missing)
    cluster.node("unknown", cpu="10", memory="10Gi")
    pod = cluster.pod("p", cpu="1", memory="100Mi")
    cluster.run()
    assert (cluster.node_of(pod.key) == "unknown") is fits


def test_deny_still_allows_nodes_with_fresh_low_metrics():
    cluster = Cluster(load=True, alpha=0.8, on_missing_metrics="deny")
    cluster.node("unknown", cpu="10", memory="10Gi")
    cluster.node("known", cpu="10", memory="10Gi")
    cluster.set_util({"known": (0.1, 0.1)})
    keys = [cluster.pod(f"p{i}", cpu="1", memory="100Mi").key for i in range(3)]
    cluster.run()
    assert {cluster.node_of(k) for k in keys} == {"known"}


def test_load_filter_is_off_without_a_load_source():
    cluster = Cluster(load=False, alpha=0.8)
    cluster.node("n1", cpu="10", memory="10Gi")
    cluster.set_util({"n1": (0.99, 0.99)})
    pod = cluster.pod("p", cpu="1", memory="100Mi")
    cluster.run()
    assert cluster.node_of(pod.key) == "n1"


# ---------------------------------------------------------------- with preemption

@pytest.mark.parametrize("victim_cpu, preempts", [("2", True), ("500m", False)])
def test_preemption_candidate_when_evicting_brings_the_node_under_alpha(victim_cpu, preempts):
    cluster = Cluster(load=True, alpha=0.8, preemption=True)
    cluster.node("n1", cpu="10", memory="10Gi")
    cluster.pod("low", cpu=victim_cpu, memory="100Mi", priority=1, node="n1")
    cluster.set_util({"n1": (0.85, 0.1)})  # sampled after `low` started: it is in the measurement
    cluster.pod("high", cpu="1", memory="100Mi", priority=100)  # 0.85 + 0.1 > 0.8; resources are plentiful
    cluster.run()
    decision = cluster.last("high")
    assert "would exceed cpu utilisation threshold 0.8" in decision.message
    if preempts:  # 0.85 + 0.1 - 0.2 = 0.75 <= 0.8
        assert victim_names(decision) == ["low"] and decision.nominated_node == "n1"
    else:  # 0.85 + 0.1 - 0.05 = 0.9 > 0.8
        assert decision.victims == [] and not decision.nominated_node


def test_deleting_a_pod_placed_since_the_sample_gives_its_estimate_back():
    cluster = one_node(alpha=0.8, cpu_util=0.5)
    keys = [cluster.pod(f"p{i}", cpu="1", memory="100Mi").key for i in range(4)]
    cluster.run()
    assert cluster.node_of(keys[3]) is None
    cluster.delete(keys[0])  # placed after the sample: its usage was only an estimate
    cluster.clock.advance(15)
    cluster.run()
    assert cluster.node_of(keys[3]) == "n1"


def test_failed_binding_gives_its_estimate_back():
    cluster = one_node(alpha=0.8, cpu_util=0.5)
    keys = [cluster.pod(f"p{i}", cpu="1", memory="100Mi").key for i in range(4)]
    cluster.run()
    assert cluster.node_of(keys[3]) is None  # the estimate of p0..p2 fills the room under alpha
    cluster.bind_failed(keys[0])
    assert cluster.node_of(keys[0]) is None
    cluster.clock.advance(15)
    cluster.run()
    # p0's estimate came back, so exactly one of the two waiting pods fits again
    assert sorted(k for k in (keys[0], keys[3]) if cluster.node_of(k) == "n1") in ([keys[0]], [keys[3]])


@pytest.mark.parametrize("on_missing", ["allow", "deny"])
def test_during_a_load_source_outage_placement_uses_requests_alone(on_missing):
    cluster = Cluster(load=True, alpha=0.8, on_missing_metrics=on_missing)
    cluster.node("n1", cpu="10", memory="10Gi")
    cluster.set_util({"n1": (0.95, 0.5)})  # overloaded by the last reading
    blocked = cluster.pod("blocked", cpu="1", memory="100Mi")
    cluster.run()
    assert cluster.node_of(blocked.key) is None
    cluster.loop.state.load_outage()  # Prometheus went away: neither the old reading nor `deny` applies
    cluster.loop.queue.move_to_active(lambda unit: True)
    cluster.clock.advance(20)
    cluster.run()
    assert cluster.node_of(blocked.key) == "n1"
    cluster.set_util({"n1": (0.95, 0.5)})  # it is back, and so is the filter
    later = cluster.pod("later", cpu="1", memory="100Mi")
    cluster.run()
    assert cluster.node_of(later.key) is None
