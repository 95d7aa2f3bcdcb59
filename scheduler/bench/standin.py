"""SchedulingBasic through HTTP: the daemon against the stand-in kube-apiserver.

The stand-in runs in its own process (so it has the second core), with a
node agent playing the kubelets.  All pods are created first (a backlog),
then the daemon starts; the figure is the time from daemon start until every
pod is bound, as seen by the daemon's own informer.  Target: >= 400 pods/s
at 500 nodes on this 2-core machine.

The stand-in (``scheduler.testing``) is a test utility that the container
image leaves out, so this module never imports it; it checks for it before
starting and says so in one line when it is missing.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict

from scheduler.bench import workloads
from scheduler.bench.runner import peak_rss_mb, register
from scheduler.config import Config
from scheduler.k8s.api import KubeApi

STANDIN_MODULE = "scheduler.testing.apiserver"


def standin_available() -> bool:
    """True when the stand-in API server (a test utility, not in the image) is installed."""
    try:
        return importlib.util.find_spec(STANDIN_MODULE) is not None
    except ModuleNotFoundError:   # scheduler.testing itself is missing
        return False


def start_standin(nodes: int, kubeconfig: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", STANDIN_MODULE, "--port", "0", "--kubeconfig-out", kubeconfig,
         "--node-agent", "--nodes", str(nodes), "--node-cpu", workloads.NODE_CPU, "--node-memory", workloads.NODE_MEMORY],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("http"):
        proc.kill()
        raise RuntimeError(f"stand-in API server did not start (got {line!r})")
    return proc


def create_backlog(api: KubeApi, count: int, scheduler_name: str, workers: int = 8) -> float:
    """POST `count` pending pods in parallel; returns the seconds it took."""
    start = time.perf_counter()
    chunks = [range(i, count, workers) for i in range(workers)]

    def post(indices: range) -> None:
        for i in indices:
            api.request("POST", "/api/v1/namespaces/default/pods", body=workloads.pod(f"pod-{i}", scheduler_name))

    threads = [threading.Thread(target=post, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def scheduling_basic_standin(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    from scheduler.cli import UsageError
    from scheduler.daemon import Daemon

    if not standin_available():
        raise UsageError("--target stand-in: the stand-in API server is a test utility (scheduler.testing) "
                         "and is not shipped in the container image; run this benchmark from a source "
                         "checkout (pip install -e '.[test]')")

    config = dataclasses.replace(config, metrics_port=0, leader_elect=False)
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        server = start_standin(args.nodes, kubeconfig)
        try:
            api = KubeApi.from_kubeconfig(kubeconfig, pool_size=config.bind_workers + 8)
            create_seconds = create_backlog(api, args.pods, config.scheduler_name)
            daemon = Daemon(config, api)
            start = time.perf_counter()
            daemon.start()
            runner = threading.Thread(target=daemon.serve, daemon=True)
            runner.start()
            bound, timed_out = _wait_all_bound(daemon, args.pods, timeout=max(60.0, args.pods / 20))
            elapsed = time.perf_counter() - start
            daemon.shutdown()
            runner.join(5)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
    return {
        "workload": "SchedulingBasic",
        "target": "stand-in",
        "nodes": args.nodes,
        "pods": args.pods,
        "bound": bound,
        "timed_out": timed_out,
        "seconds": round(elapsed, 3),
        "throughput_pods_per_s": round(bound / elapsed, 1) if elapsed else 0.0,
        "backlog_create_pods_per_s": round(args.pods / create_seconds, 1) if create_seconds else 0.0,
        "bind_workers": config.bind_workers,
        "peak_rss_mb": peak_rss_mb(),
    }


def _wait_all_bound(daemon: Any, count: int, timeout: float) -> tuple:
    """Poll the daemon's informer cache (what it has seen bound by the API)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        pods = list(daemon.known["pods"].values())
        bound = sum(1 for pod in pods if (pod.get("spec") or {}).get("nodeName"))
        if bound >= count:
            return bound, False
        time.sleep(0.02)
    pods = list(daemon.known["pods"].values())
    return sum(1 for pod in pods if (pod.get("spec") or {}).get("nodeName")), True


register("SchedulingBasic@stand-in", scheduling_basic_standin)
