"""`preemptive-scheduler run` as a real process against the stand-in kube-apiserver."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Tuple

import pytest

Cluster = Any  # fixture from tests/integration/conftest.py

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> Tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _run(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    env.pop("PROMETHEUS_URL", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "scheduler", "run", *args], cwd=str(REPO), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def processes() -> Iterator[list]:
    started: list = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_run_serves_health_and_metrics_schedules_and_stops_cleanly_on_sigterm(
        cluster: Cluster, wait_until: Callable[..., Any], processes: list) -> None:
    cluster.add_nodes(2, cpu="4")
    port = _free_port()
    proc = _run("--kubeconfig", cluster.kubeconfig, "--metrics-port", str(port), "--metrics-bind-address", "127.0.0.1",
                "--leader-elect-namespace", "default")
    processes.append(proc)

    def ready() -> bool:
        assert proc.poll() is None, f"the scheduler exited early: {proc.communicate()[1][-2000:]}"
        return _get(port, "/readyz")[0] == 200

    wait_until(ready, 20, interval=0.1, message="/readyz to answer 200")
    cluster.add_pod("web", cpu="1")
    wait_until(lambda: cluster.node_of("web"), 10, message="a pod bound by the process")
    assert cluster.srv.bindings_count("default/web") == 1

    status, body = _get(port, "/metrics")
    assert status == 200
    assert "scheduler_schedule_attempts_total" in body
    assert 'scheduler_schedule_attempts_total{result="scheduled"} 1.0' in body
    assert _get(port, "/healthz")[0] == 200
    lease = cluster.lease() or {}
    assert lease["spec"]["holderIdentity"], "the process should hold the Lease while it runs"

    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail("the scheduler did not exit within 15 s of SIGTERM")
    assert time.monotonic() - started < 15
    stderr = proc.communicate()[1]
    assert code == 0, stderr[-2000:]
    assert (cluster.lease() or {})["spec"]["holderIdentity"] == ""
    assert _get(port, "/healthz")[0] == 0, "the health port should be closed after exit"


def test_run_with_a_missing_kubeconfig_exits_2_with_one_line(processes: list) -> None:
    proc = _run("--kubeconfig", "/nonexistent", "--metrics-port", "0")
    processes.append(proc)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the scheduler did not give up on a missing kubeconfig")
    assert proc.returncode == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "/nonexistent" in lines[0]
    assert "error" in lines[0].lower()
    assert "Traceback" not in err


def test_run_with_its_metrics_port_taken_exits_2_with_one_line(cluster: Cluster, processes: list) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _run("--kubeconfig", cluster.kubeconfig, "--metrics-port", str(port), "--metrics-bind-address", "127.0.0.1",
                    "--leader-elect=false")
        processes.append(proc)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the scheduler did not give up on a taken metrics port")
    lines = [line for line in err.splitlines() if line.strip() and "INFO" not in line]
    assert proc.returncode == 2, err
    assert len(lines) == 1 and f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}" in lines[0], err
    assert "Traceback" not in err
