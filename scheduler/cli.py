"""Command line: `preemptive-scheduler run | simulate | plan | bench`.

The scheduling flags are shared by every subcommand that runs the engine, so
a policy tried in `simulate` is exactly the policy `run` applies.  Invalid
input prints one line naming the value and what was expected, exit code 2.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from scheduler.config import OPTIONS, Config, ConfigError, Option, load_config, parse_bool
from scheduler.logs import setup_logging
from scheduler.sim.scenario import ScenarioError

PROG = "preemptive-scheduler"
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: one line on stderr, exit 2."""


def _add_option(parser: argparse._ActionsContainer, option: Option) -> None:
    text = f"{option.help.replace('%', '%%')} (default: {_shown_default(option)})"
    if option.parse is parse_bool:
        parser.add_argument(option.flag, dest=option.attr, nargs="?", const="true", default=None,
                            metavar="true|false", help=text)
    else:
        parser.add_argument(option.flag, dest=option.attr, default=None, metavar=option.metavar, help=text)


def _shown_default(option: Option) -> str:
    """The built-in value, as one would type it (argparse sees None: the file and environment may set it)."""
    from scheduler.config_docs import default_text

    return default_text(option).strip("`").replace("%", "%%")



def _options_parser(scopes: Tuple[str, ...]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("scheduling policy and settings")
    for option in OPTIONS:
        if option.scope in scopes:
            _add_option(group, option)
    group.add_argument("--config", dest="config_file", default="", metavar="FILE",
                       help="YAML file whose keys are these flag names; flags override it")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="A Kubernetes scheduler with strict priorities, "
                                     "preemption, gang placement and load-aware filtering.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", parents=[_options_parser(("engine", "run", "cluster", "all"))],
                         help="run the scheduler against a cluster (the daemon)")
    run.set_defaults(handler="scheduler.daemon:main")

    simulate = sub.add_parser("simulate", parents=[_options_parser(("engine", "all"))],
                              help="run the engine on an embedded simulated cluster")
    simulate.add_argument("scenario", nargs="?", default=None,
                          help="scenario YAML file, or a bundled scenario by name: constraints, default, gangs, load")
    simulate.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    simulate.add_argument("--html", default=None, metavar="FILE",
                          help="also write a self-contained HTML report (timeline, node heat map, queue, "
                          "preemptions, gangs) to FILE")
    simulate.add_argument("--seed", type=int, default=0, help="seed for the order of simultaneous arrivals")
    simulate.add_argument("--api-latency", type=float, default=0.0, metavar="SECONDS",
                          help="simulated seconds every API call takes to answer (default: 0)")
    simulate.add_argument("--watch-delay", type=float, default=0.0, metavar="SECONDS",
                          help="simulated seconds before a change is seen through the watch (default: 0)")
    simulate.set_defaults(handler="scheduler.sim.command:main")

    plan = sub.add_parser("plan", parents=[_options_parser(("engine", "plan", "cluster", "all"))],
                          help="what-if: would a pod of this size and priority fit on --node now? (read-only)")
    plan.add_argument("--scenario", default=None, help="cluster to ask about (default: the bundled scenario at its end)")
    plan.add_argument("--at", type=float, default=None, help="scenario time to ask at (default: its last arrival)")
    plan.add_argument("--gang-size", type=int, default=1, help="ask about a gang of N such pods")
    plan.add_argument("--json", action="store_true", help="print JSON (fits, reasons, ...)")
    plan.set_defaults(handler="scheduler.plan:main")

    explain = sub.add_parser("explain", parents=[_options_parser(("engine", "cluster", "all"))],
                             help="why is a pod pending, or where would it go? per node and with the preemption plan")
    explain.add_argument("pod", metavar="POD", help="NAME or NAMESPACE/NAME")
    explain.add_argument("--scenario", default=None, help="scenario to ask (default: the bundled one), without --kubeconfig")
    explain.add_argument("--at", type=float, default=None, help="scenario time to ask at (default: its last arrival)")
    explain.add_argument("--json", action="store_true", help="print JSON")
    explain.set_defaults(handler="scheduler.explain:main")

    bench = sub.add_parser("bench", parents=[_options_parser(("engine", "all"))],
                           help="scheduler_perf-like benchmarks; prints throughput and latency")
    bench.add_argument("--workload", default="SchedulingBasic",
                       help="SchedulingBasic | PreemptionBasic | GangScheduling | LoadAwareOverhead | "
                       "SchedulingPodAntiAffinity | SchedulingPodAffinity | TopologySpreading | "
                       "SchedulingPreferredPodAntiAffinity | SchedulingNodeAffinity | Unschedulable | "
                       "SchedulingWithMixedChurn")
    bench.add_argument("--target", default="sim", choices=["sim", "stand-in"], help="engine only, or through HTTP")
    bench.add_argument("--nodes", type=int, default=5000)
    bench.add_argument("--pods", type=int, default=None,
                       help="measured pods (default: 10000, or the scheduler_perf count of the workload)")
    bench.add_argument("--initial-pods", type=int, default=None, help="pods placed before measuring")
    bench.add_argument("--gangs", type=int, default=1000)
    bench.add_argument("--gang-size", type=int, default=3)
    bench.add_argument("--termination-delay", type=float, default=0.0, metavar="SECONDS",
                       help="PreemptionBasic: seconds an evicted pod takes to terminate (simulated; real with --target stand-in)")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler="scheduler.bench.runner:main")
    return parser


def _silence_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (captured): nothing will be flushed to a pipe


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("preemptive-scheduler")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def make_config(args: argparse.Namespace) -> Config:
    flags: Dict[str, Any] = {o.attr: getattr(args, o.attr, None) for o in OPTIONS}
    return load_config(flags, getattr(args, "config_file", "") or "")


def _load_handler(spec: str) -> Any:
    import importlib

    module_name, func = spec.split(":")
    return getattr(importlib.import_module(module_name), func)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = make_config(args)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(config.log_level, config.log_format)
    try:
        return int(_load_handler(args.handler)(args, config) or 0)
    except (ConfigError, UsageError, ScenarioError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `simulate --json | head`: the reader has what it wanted
        _silence_stdout()  # or the interpreter's final flush complains about the closed pipe
        return 141
