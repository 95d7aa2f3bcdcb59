"""The HTTP benchmark: daemon + stand-in API server in another process, at a small size."""
from __future__ import annotations

import json

from scheduler.cli import main


def test_stand_in_benchmark_binds_every_pod_through_http(capsys):
    assert main(["bench", "--workload", "SchedulingBasic", "--target", "stand-in", "--nodes", "20",
                 "--pods", "100", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bound"] == 100
    assert result["timed_out"] is False
    assert result["throughput_pods_per_s"] > 0


def test_parked_pods_are_retried_once_per_timeout_and_heartbeats_wake_none(capsys):
    """Over one unschedulable timeout every parked pod is tried exactly once more (node heartbeats add no
    attempt), its condition is not rewritten, and its Event is patched once (it became a series)."""
    assert main(["bench", "--workload", "Unschedulable", "--target", "stand-in", "--nodes", "20", "--pods", "100",
                 "--unschedulable-timeout", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["timed_out"] is False
    assert result["heartbeats"] >= 3
    assert result["attempts_in_window"] == 100
    assert result["daemon_api_writes_in_window"] == 100


def test_preemption_through_http_evicts_one_victim_per_preemptor(capsys):
    assert main(["bench", "--workload", "PreemptionBasic", "--target", "stand-in", "--nodes", "10", "--pods", "10",
                 "--termination-delay", "0.5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["preemptors_bound"] == 10 and result["timed_out"] is False
    assert result["victims"] == result["victims_needed"] == 10
    assert result["decisions_with_more_than_one_victim"] == 0
