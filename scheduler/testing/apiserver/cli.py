"""``python -m scheduler.testing.apiserver``: the stand-in in its own process, until SIGTERM.

The HTTP benchmark runs it this way so the API server has a core of its own
and its load does not distort the scheduler's figures.
"""
from __future__ import annotations

import argparse
import signal
import threading
from typing import List, Optional

from scheduler.testing.apiserver.objects import make_node
from scheduler.testing.apiserver.server import FakeApiServer


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scheduler.testing.apiserver",
                                 description="Run the stand-in kube-apiserver until SIGTERM.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--kubeconfig-out", default=None, help="write a kubeconfig here")
    ap.add_argument("--node-agent", action="store_true", help="run a NodeAgent (kubelet stand-in)")
    ap.add_argument("--agent-start-delay", type=float, default=0.0)
    ap.add_argument("--termination-delay", type=float, default=None,
                    help="seconds a deleted pod takes to go (default: its own grace period)")
    ap.add_argument("--nodes", type=int, default=0, help="create N Ready nodes node-0..node-N-1")
    ap.add_argument("--node-cpu", default="32")
    ap.add_argument("--node-memory", default="128Gi")
    ap.add_argument("--node-pods", default="110")
    ap.add_argument("--no-podgroup-crd", action="store_true")
    ap.add_argument("--bookmark-interval", type=float, default=2.0)
    args = ap.parse_args(argv)

    srv = FakeApiServer(args.host, args.port, bookmark_interval=args.bookmark_interval)
    srv.podgroup_crd_installed = not args.no_podgroup_crd
    for i in range(args.nodes):
        srv.create(make_node(f"node-{i}", args.node_cpu, args.node_memory, args.node_pods))
    srv.start()
    agent = None
    if args.node_agent:
        from scheduler.testing.nodeagent import NodeAgent
        agent = NodeAgent(srv, start_delay=args.agent_start_delay, termination_delay=args.termination_delay)
        agent.start()
    if args.kubeconfig_out:
        srv.write_kubeconfig(args.kubeconfig_out)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(srv.url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if agent is not None:
            agent.stop()
        srv.stop()
    return 0
