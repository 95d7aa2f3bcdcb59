"""`preemptive-scheduler simulate`."""
from __future__ import annotations

import argparse

from scheduler.config import Config
from scheduler.sim.cluster import Simulator
from scheduler.sim.report import render_json, render_text
from scheduler.sim.scenario import load_scenario


def main(args: argparse.Namespace, config: Config) -> int:
    scenario = load_scenario(args.scenario, config.scheduler_name)
    result = Simulator(scenario, config, seed=args.seed).run()
    print(render_json(result) if args.json else render_text(result))
    return 0
