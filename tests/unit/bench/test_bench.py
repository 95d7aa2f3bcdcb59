"""`preemptive-scheduler bench` workloads run end to end at small sizes and report sane figures."""
from __future__ import annotations

import json

import pytest

from scheduler.cli import main


def bench(capsys, *args: str) -> dict:
    assert main(["bench", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_scheduling_basic_places_every_pod_and_reports_figures(capsys):
    result = bench(capsys, "--workload", "SchedulingBasic", "--nodes", "50", "--pods", "300", "--initial-pods", "20")
    assert result["scheduled"] == 300
    assert result["throughput_pods_per_s"] > 0
    assert result["cpu_ms_per_pod"] > 0  # CPU per pod beside wall-clock throughput (the machine is shared)
    assert 0 < result["p50_decision_ms"] <= result["p99_decision_ms"]
    assert result["peak_rss_mb"] > 0


def test_preemption_basic_evicts_exactly_one_victim_per_preemptor(capsys):
    result = bench(capsys, "--workload", "PreemptionBasic", "--nodes", "20", "--pods", "20")
    assert result["preemptors_bound"] == 20
    assert result["victims"] == result["victims_needed"] == 20
    assert result["over_evicted"] is False
    assert result["duplicate_victims"] == 0
    assert result["all_preemptors_bound"] is True and result["victims_minimal"] is True
    assert result["victims_per_preemptor"] == 1.0


def test_preemption_basic_takes_free_cores_first_then_one_victim_each(capsys):
    # scheduler_perf's shape, small: --initial-pods low-priority pods (4 per node fill it), then --pods preemptors
    result = bench(capsys, "--workload", "PreemptionBasic", "--nodes", "10", "--initial-pods", "36", "--pods", "10")
    assert result["low_priority_pods"] == 36 and result["preemptors_bound"] == 10
    assert result["victims"] == result["victims_needed"] == 6  # 4 preemptors take the 4 free cores
    assert result["victims_minimal"] is True and result["decisions_with_more_than_one_victim"] == 0
    assert result["cpu_ms_per_pod"] > 0
    assert bench(capsys, "--workload", "PreemptionBasic", "--nodes", "10")["preemptors"] == 10  # one per node
    assert main(["bench", "--workload", "PreemptionBasic", "--nodes", "10", "--initial-pods", "41"]) == 2
    assert "--initial-pods 41" in capsys.readouterr().err


@pytest.mark.parametrize("gangs, size", [(30, 3), (2, 40)])
def test_gang_scheduling_places_whole_gangs_only(capsys, gangs, size):
    result = bench(capsys, "--workload", "GangScheduling", "--nodes", "50", "--gangs", str(gangs), "--gang-size", str(size))
    assert result["gangs_complete"] == gangs
    assert result["gangs_partial"] == 0
    assert result["pods_placed"] == gangs * size


def test_unknown_workload_and_bad_sizes_are_usage_errors(capsys):
    assert main(["bench", "--workload", "Nope"]) == 2
    assert "--workload Nope" in capsys.readouterr().err
    assert main(["bench", "--nodes", "0"]) == 2
    assert "--nodes 0" in capsys.readouterr().err


def test_load_aware_overhead_reports_both_throughputs(capsys):
    result = bench(capsys, "--workload", "LoadAwareOverhead", "--nodes", "50", "--pods", "200", "--initial-pods", "10")
    assert result["load_aware_scheduled"] == 200
    assert result["plain_throughput_pods_per_s"] > 0 and result["load_filter_throughput_pods_per_s"] > 0
    assert "load_filter_overhead_percent" in result
