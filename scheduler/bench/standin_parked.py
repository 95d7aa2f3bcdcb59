"""Unschedulable through HTTP: what keeping 10,000 pods parked costs the daemon while nodes heartbeat.

Pods too large for any node are created first (`--pods`, default 10,000); the daemon
starts in a process of its own, tries each once and parks it.  Then, for one
`--unschedulable-timeout` (so the periodic retry tries every parked pod exactly once,
as it would in any such window of a long run), one node a second sends a kubelet's
heartbeat (a status PATCH that only moves `lastHeartbeatTime`).  Figures: the daemon's
CPU over the window as a share of one core (target <= 5 %), the attempts in it (the
periodic retry's; heartbeats must add none) and the daemon's writes to the API (the
pod conditions do not change; each pod's FailedScheduling Event is patched once, as the
repeat makes it a series, and then not again before the 30-min series refresh).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import threading
import time
from typing import Any, Dict

from scheduler.bench import standin, workloads
from scheduler.bench.runner import register
from scheduler.config import Config
from scheduler.k8s.api import KubeApi

HEARTBEATS_PER_S = 1.0
UNSCHEDULABLE = "unschedulable"
TOO_LARGE_CPU = "64"
"""Twice a bench node: nothing can ever fit, and preemption cannot help either."""


def unschedulable_standin(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    standin.require_standin()
    parked = args.pods
    window = config.unschedulable_timeout
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        server = standin.start_standin(args.nodes, kubeconfig)
        try:
            api = KubeApi.from_kubeconfig(kubeconfig, pool_size=8)
            standin.create_backlog(api, parked, config.scheduler_name, make=lambda i: workloads.pod(
                f"big-{i}", config.scheduler_name, cpu=TOO_LARGE_CPU))
            port = standin.free_port()
            daemon_config = dataclasses.replace(config, metrics_port=port, metrics_bind_address="127.0.0.1",
                                                leader_elect=False, kubeconfig=kubeconfig, log_level="warning")
            start = time.perf_counter()
            daemon = standin.start_daemon_process(daemon_config)
            try:
                tried = standin.wait_attempts(port, parked, daemon, max(120.0, parked / 50), every=0.2, result=UNSCHEDULABLE)
                park_seconds = time.perf_counter() - start
                park_cpu = standin.process_cpu_seconds(daemon.pid) or 0.0
                time.sleep(2.0)  # the last status PATCHes and Events drain
                measured = _measure_window(api, port, daemon.pid, args.nodes, window)
            finally:
                standin.stop_process(daemon)
        finally:
            standin.stop_process(server)
    return {
        "workload": "Unschedulable",
        "target": "stand-in",
        "nodes": args.nodes,
        "parked_pods": parked,
        "parked_after_seconds": round(park_seconds, 3),
        "timed_out": tried < parked,
        # from the daemon's start: imports, the initial lists, one attempt and one status PATCH per pod
        "cpu_ms_per_first_attempt": round(park_cpu * 1000 / max(tried, 1), 3),
        "window_seconds": round(measured["seconds"], 1),
        "heartbeats_per_s": HEARTBEATS_PER_S,
        "heartbeats": measured["heartbeats"],
        "daemon_core_share_pct": round(100 * measured["cpu"] / measured["seconds"], 2),
        "attempts_in_window": measured["attempts"],
        "daemon_api_writes_in_window": measured["writes"] - measured["heartbeats"],
        "bind_workers": config.bind_workers,
    }


def _store_revision(api: KubeApi) -> int:
    """The stand-in's resourceVersion: it moves once per write, whoever makes it."""
    return int(api.request("GET", "/api/v1/namespaces/default/pods", {"limit": 1})["metadata"]["resourceVersion"])


def _measure_window(api: KubeApi, port: int, pid: int, nodes: int, seconds: float) -> Dict[str, Any]:
    stop = threading.Event()
    sent = [0]

    def heartbeat() -> None:
        while not stop.wait(1.0 / HEARTBEATS_PER_S):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            name = f"node-{sent[0] % nodes}"
            api.request("PATCH", f"/api/v1/nodes/{name}/status", body={"status": {"conditions": [
                {"type": "Ready", "status": "True", "lastHeartbeatTime": stamp}]}},
                content_type="application/strategic-merge-patch+json")
            sent[0] += 1

    revision, attempts = _store_revision(api), standin.attempts(port, UNSCHEDULABLE)
    start, cpu = time.perf_counter(), standin.process_cpu_seconds(pid) or 0.0
    kubelet = threading.Thread(target=heartbeat, daemon=True)
    kubelet.start()
    time.sleep(seconds)
    stop.set()
    kubelet.join()
    elapsed, cpu = time.perf_counter() - start, (standin.process_cpu_seconds(pid) or 0.0) - cpu
    return {"seconds": elapsed, "cpu": cpu, "heartbeats": sent[0], "attempts": standin.attempts(port, UNSCHEDULABLE) - attempts,
            "writes": _store_revision(api) - revision}


register("Unschedulable@stand-in", unschedulable_standin)
