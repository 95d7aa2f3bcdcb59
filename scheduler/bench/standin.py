"""SchedulingBasic through HTTP: the daemon against the stand-in kube-apiserver.

The stand-in runs in its own process, with a node agent playing the kubelets,
and so does the daemon (as `run` would).  All pods are created first (a
backlog), then the daemon starts; the figures are the time from its start to
the first and to the last accepted binding (read from its /metrics) and its
CPU from /proc, so the bench's own polling costs the daemon nothing.
Target: >= 400 pods/s at 500 nodes on this 2-core machine.

The stand-in (``scheduler.testing``) is a test utility that the container
image leaves out, so this module never imports it; it checks for it before
starting and says so in one line when it is missing.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, Optional, Tuple

from scheduler.bench import workloads
from scheduler.bench.runner import register
from scheduler.config import Config
from scheduler.k8s.api import KubeApi, pool_size_for

STANDIN_MODULE = "scheduler.testing.apiserver"


def standin_available() -> bool:
    """True when the stand-in API server (a test utility, not in the image) is installed."""
    try:
        return importlib.util.find_spec(STANDIN_MODULE) is not None
    except ModuleNotFoundError:   # scheduler.testing itself is missing
        return False


def start_standin(nodes: int, kubeconfig: str, cpu: str = workloads.NODE_CPU, memory: str = workloads.NODE_MEMORY,
                  termination_delay: Any = None) -> subprocess.Popen[str]:
    extra = [] if termination_delay is None else ["--termination-delay", str(termination_delay)]
    proc = subprocess.Popen(
        [sys.executable, "-m", STANDIN_MODULE, "--port", "0", "--kubeconfig-out", kubeconfig,
         "--node-agent", "--nodes", str(nodes), "--node-cpu", cpu, "--node-memory", memory, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("http"):
        proc.kill()
        raise RuntimeError(f"stand-in API server did not start (got {line!r})")
    return proc


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM (a clean shutdown), SIGKILL after 10 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def create_backlog(api: KubeApi, count: int, scheduler_name: str, workers: int = 8,
                   make: Any = None) -> float:
    """POST `count` pods in parallel (pending `pod-i` unless `make(i)` says otherwise); returns the seconds."""
    start = time.perf_counter()
    chunks = [range(i, count, workers) for i in range(workers)]
    make = make or (lambda i: workloads.pod(f"pod-{i}", scheduler_name))

    def post(indices: range) -> None:
        for i in indices:
            api.request("POST", "/api/v1/namespaces/default/pods", body=make(i))

    threads = [threading.Thread(target=post, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def require_standin() -> None:
    from scheduler.cli import UsageError

    if not standin_available():
        raise UsageError("--target stand-in: the stand-in API server is a test utility (scheduler.testing) "
                         "and is not shipped in the container image; run this benchmark from a source "
                         "checkout (pip install -e '.[test]')")


def scheduling_basic_standin(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    """The daemon in a process of its own (as `preemptive-scheduler run`), measured from outside: its CPU
    from /proc, progress from its /metrics, so the bench's own polling costs the daemon nothing."""
    require_standin()
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        server = start_standin(args.nodes, kubeconfig)
        try:
            api = KubeApi.from_kubeconfig(kubeconfig, pool_size=pool_size_for(config.bind_workers))
            create_seconds = create_backlog(api, args.pods, config.scheduler_name)
            port = free_port()
            daemon_config = dataclasses.replace(config, metrics_port=port, metrics_bind_address="127.0.0.1",
                                                leader_elect=False, kubeconfig=kubeconfig, log_level="warning")
            start = time.perf_counter()
            daemon = start_daemon_process(daemon_config)
            try:
                first_bind = wait_attempts(port, 1, daemon, timeout=60.0, every=0.05)
                first_bind_seconds = time.perf_counter() - start
                bound = wait_attempts(port, args.pods, daemon, timeout=max(60.0, args.pods / 20), every=0.25)
                elapsed = time.perf_counter() - start
                cpu_split = process_cpu_split(daemon.pid)
                peak_rss = process_peak_rss_mb(daemon.pid)
            finally:
                stop_process(daemon)
        finally:
            stop_process(server)
    return {
        "workload": "SchedulingBasic",
        "target": "stand-in",
        "nodes": args.nodes,
        "pods": args.pods,
        "bound": bound,
        "timed_out": bound < args.pods,
        "seconds": round(elapsed, 3),
        "throughput_pods_per_s": round(bound / elapsed, 1) if elapsed else 0.0,
        "first_bind_seconds": round(first_bind_seconds, 3) if first_bind else None,
        # the daemon process from its start (imports and the initial list included) to the last bind
        "scheduler_cpu_ms_per_pod": round(sum(cpu_split) * 1000 / bound, 3) if bound and cpu_split else None,
        "of_which_system_ms_per_pod": round(cpu_split[1] * 1000 / bound, 3) if bound and cpu_split else None,
        "backlog_create_pods_per_s": round(args.pods / create_seconds, 1) if create_seconds else 0.0,
        "bind_workers": config.bind_workers,
        "scheduler_peak_rss_mb": peak_rss,
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


DAEMON_SCRIPT = (
    "import argparse, logging, pickle, sys\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "from scheduler.daemon import main\n"
    "sys.exit(main(argparse.Namespace(), pickle.loads(sys.stdin.buffer.read())))\n"
)


def start_daemon_process(config: Config) -> subprocess.Popen[bytes]:
    """`preemptive-scheduler run` with exactly this Config (handed over whole, not re-spelled as flags)."""
    import pickle

    proc = subprocess.Popen([sys.executable, "-c", DAEMON_SCRIPT], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(pickle.dumps(config))
    proc.stdin.close()
    return proc


def metric_value(port: int, name: str, **labels: str) -> float:
    """One sample of the daemon's own /metrics (0 while it is not serving yet or has no such sample)."""
    from urllib.error import URLError
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except (URLError, OSError):
        return 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def attempts(port: int, result: str) -> int:
    """Scheduling attempts the daemon counted with this result ("scheduled": bindings accepted)."""
    return int(metric_value(port, "scheduler_schedule_attempts_total", result=result))


def wait_attempts(port: int, count: int, daemon: subprocess.Popen[bytes], timeout: float, every: float,
                  result: str = "scheduled") -> int:
    """Poll the daemon's /metrics every `every` seconds (each poll costs it about a millisecond) until it
    counted `count` attempts with this result; returns the count reached."""
    deadline = time.perf_counter() + timeout
    done = 0
    while time.perf_counter() < deadline and daemon.poll() is None:
        done = attempts(port, result)
        if done >= count:
            return done
        time.sleep(every)
    return done


def process_cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU of a process so far (Linux /proc; None elsewhere)."""
    split = process_cpu_split(pid)
    return None if split is None else sum(split)


def process_peak_rss_mb(pid: int) -> Optional[float]:
    """A process's peak resident memory so far (VmHWM in /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def process_cpu_split(pid: int) -> Optional[Tuple[float, float]]:
    """(user, system) CPU seconds of a process so far: system time is mostly the kernel's network stack."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


register("SchedulingBasic@stand-in", scheduling_basic_standin)


def preemption_basic_standin(args: argparse.Namespace, config: Config) -> Dict[str, Any]:
    """PreemptionBasic through HTTP: every node full of low-priority pods, then one high-priority pod per
    victim needed; victims terminate after `--termination-delay` seconds (the node agent).  The daemon runs
    in a process of its own: CPU from /proc, victims from its /metrics, placements from the API."""
    from scheduler.bench.preemption import LOW_PER_NODE

    require_standin()
    delay = args.termination_delay
    low = args.nodes * LOW_PER_NODE
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        server = start_standin(args.nodes, kubeconfig, cpu="4", memory="16Gi", termination_delay=delay)
        try:
            api = KubeApi.from_kubeconfig(kubeconfig, pool_size=8)

            def low_pod(i: int) -> Dict[str, Any]:
                pod = workloads.pod(f"low-{i}", config.scheduler_name, cpu="1", memory="1Gi", priority=1,
                                    node_name=f"node-{i % args.nodes}", created=float(i))
                pod["spec"]["terminationGracePeriodSeconds"] = math.ceil(delay)
                return pod

            create_backlog(api, low, config.scheduler_name, make=low_pod)
            port = free_port()
            daemon = start_daemon_process(dataclasses.replace(
                config, metrics_port=port, metrics_bind_address="127.0.0.1", leader_elect=False, preemption=True,
                kubeconfig=kubeconfig, log_level="warning"))
            try:
                if not _wait_ready(port, daemon, 120.0):
                    raise RuntimeError("the daemon did not sync its caches within 120 s")
                start, cpu_start = time.perf_counter(), process_cpu_seconds(daemon.pid) or 0.0
                create_backlog(api, args.pods, config.scheduler_name, make=lambda i: workloads.pod(
                    f"high-{i}", config.scheduler_name, cpu="1", memory="1Gi", priority=1000))
                bound = wait_attempts(port, args.pods, daemon, max(60.0, args.pods / 5 + delay * 4), every=0.25)
                elapsed = time.perf_counter() - start
                cpu = (process_cpu_seconds(daemon.pid) or 0.0) - cpu_start
                victims = _victim_figures(port)
                peak_rss = process_peak_rss_mb(daemon.pid)
            finally:
                stop_process(daemon)
            per_node = _high_pods_per_node(api)
        finally:
            stop_process(server)
    return {
        "workload": "PreemptionBasic",
        "target": "stand-in",
        "nodes": args.nodes,
        "low_priority_pods": low,
        "preemptors": args.pods,
        "preemptors_bound": bound,
        "timed_out": bound < args.pods,
        "termination_delay_s": delay,
        "seconds": round(elapsed, 3),
        "preemptor_pods_per_s": round(bound / elapsed, 1) if elapsed else 0.0,
        "scheduler_cpu_ms_per_pod": round(cpu * 1000 / bound, 3) if bound else 0.0,  # the daemon, after its start
        "victims": victims["victims"],
        "victims_needed": args.pods,
        "decisions_with_more_than_one_victim": victims["more_than_one"],
        "max_preemptors_on_one_node": max(per_node.values(), default=0),
        "scheduler_peak_rss_mb": peak_rss,
    }


def _wait_ready(port: int, daemon: subprocess.Popen[bytes], timeout: float) -> bool:
    """/readyz answers 200 once the daemon's caches are synced."""
    from urllib.error import URLError
    from urllib.request import urlopen

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and daemon.poll() is None:
        try:
            with urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (URLError, OSError):
            pass
        time.sleep(0.1)
    return False


def _victim_figures(port: int) -> Dict[str, int]:
    """Victims chosen, and preemptions that chose more than one (the histogram's observations above 1)."""
    count = metric_value(port, "scheduler_preemption_victims_count")
    at_most_one = metric_value(port, "scheduler_preemption_victims_bucket", le="1.0")
    return {"victims": int(metric_value(port, "scheduler_preemption_victims_sum")),
            "more_than_one": int(count - at_most_one)}


def _high_pods_per_node(api: KubeApi) -> Dict[str, int]:
    from collections import Counter

    listing = api.request("GET", "/api/v1/namespaces/default/pods")
    nodes = [str((p.get("spec") or {}).get("nodeName") or "") for p in listing.get("items") or []
             if p["metadata"]["name"].startswith("high-")]
    return dict(Counter(node for node in nodes if node))


register("PreemptionBasic@stand-in", preemption_basic_standin)
