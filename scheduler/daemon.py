"""`preemptive-scheduler run`: the long-running scheduler (see the daemon issue)."""
from __future__ import annotations

import argparse
import sys

from scheduler.config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    print("preemptive-scheduler: error: `run` (the cluster daemon) is not available in this build yet; "
          "use `simulate` or `plan`", file=sys.stderr)
    return 1
