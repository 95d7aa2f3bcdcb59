"""`preemptive-scheduler simulate`."""
from __future__ import annotations

import argparse
import math
import os

from scheduler.config import Config
from scheduler.sim.cluster import Simulator
from scheduler.sim.report import render_json, render_text
from scheduler.sim.scenario import load_scenario


def main(args: argparse.Namespace, config: Config) -> int:
    from scheduler.cli import UsageError

    scenario = load_scenario(args.scenario, config.scheduler_name)
    for flag, value in (("--api-latency", args.api_latency), ("--watch-delay", args.watch_delay)):
        if not (value >= 0 and math.isfinite(value)):
            raise UsageError(f"{flag} {value}: expected a finite number of seconds >= 0")
    html = getattr(args, "html", None)
    if html is not None:
        _check_writable(html)  # before a long simulation, not after it
    result = Simulator(scenario, config, seed=args.seed, api_latency=args.api_latency, watch_delay=args.watch_delay).run()
    if html is not None:  # first: a reader of stdout that stops early (`| head`) must not cost the file
        from scheduler.sim.html_report import write_html

        try:
            write_html(result, html)
        except OSError as exc:
            raise UsageError(f"--html {html}: cannot write ({exc.strerror or exc})") from None
    print(render_json(result) if args.json else render_text(result))
    return 0


def _check_writable(path: str) -> None:
    from scheduler.cli import UsageError

    if not path:
        raise UsageError("--html: expected a file name")
    if os.path.isdir(path):
        raise UsageError(f"--html {path}: is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--html {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"--html {path}: not writable")
