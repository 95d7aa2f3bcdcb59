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
