"""`preemptive-scheduler simulate`."""
from __future__ import annotations

import argparse
import math

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
    result = Simulator(scenario, config, seed=args.seed, api_latency=args.api_latency, watch_delay=args.watch_delay).run()
    print(render_json(result) if args.json else render_text(result))
    return 0
