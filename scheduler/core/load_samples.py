"""Measured node utilisation (load-aware placement), per node row.

Rows of `util` are (cpu, memory) fractions, NaN when unknown; `since_sample`
holds the requests of pods placed on a node after its last sample (their usage
is not measured yet), so placements between samples do not pile onto the
idlest node.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import numpy as np

from scheduler.core.columns import NAN, add_saturating, resized
from scheduler.core.model import NodeUtilisation, Pod


class LoadSamples:
    def __init__(self, capacity: int) -> None:
        self.util = np.full((2, capacity), NAN)
        self.util_time = np.zeros(capacity)
        self.since_sample = np.zeros((2, capacity), dtype=np.int64)  # cpu millis, memory bytes
        self.available = True  # False during a load-source outage: no node is judged by load
        self.listeners: List[Callable[[int], None]] = []  # called with a row whenever its load inputs change

    def grow(self, rows: int) -> None:
        self.util = resized(self.util, rows, NAN)
        self.util_time = resized(self.util_time, rows)
        self.since_sample = resized(self.since_sample, rows)

    def reset(self, row: int) -> None:
        """A new node in this row: nothing measured yet."""
        self.util[:, row] = NAN
        self.util_time[row] = 0.0
        self.since_sample[:, row] = 0

    def estimate(self, row: int, pod: Pod, sign: int) -> None:
        """Count (+1) or uncount (-1) a pod placed since the row's last sample."""
        for i, resource in enumerate(("cpu", "memory")):
            if add_saturating(self.since_sample, i, row, sign * pod.requests.get(resource, 0)) < 0:
                self.since_sample[i, row] = 0
        self.changed(row)

    def changed(self, row: int) -> None:
        for listener in self.listeners:
            listener(row)

    def outage(self, rows: int) -> None:
        """The load source is unreachable: forget every sample; placement goes on requests alone."""
        self.available = False
        self.util[:] = NAN
        for row in range(rows):
            self.changed(row)

    def record(self, row: int, sample: NodeUtilisation) -> None:
        """A fresh sample for the row; placements counted since an older sample are reset."""
        self.available = True
        if sample.sampled_at > self.util_time[row]:
            self.since_sample[:, row] = 0
        self.util[0, row] = NAN if sample.cpu is None else sample.cpu
        self.util[1, row] = NAN if sample.memory is None else sample.memory
        self.util_time[row] = sample.sampled_at
        self.changed(row)

    def measured(self, row: int) -> Tuple[Optional[float], Optional[float]]:
        """(cpu, memory) fractions of the row, None where unknown."""
        cpu, memory = (None if value != value else round(float(value), 4) for value in self.util[:, row])
        return cpu, memory
