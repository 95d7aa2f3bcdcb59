"""What a simulation looked like over time, for the HTML report: step series recorded as things change.

Recorded by the Simulator from what the in-memory cluster tells it (pods bound
and gone, load samples) and from the loop's pending count between rounds; the
core is not asked for anything extra.  A step series is a list of
``(time, value)`` points: the value holds from its time until the next point.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

Steps = List[Tuple[float, Optional[float]]]


def _step(series: Steps, now: float, value: Optional[float]) -> None:
    """Append a point, or overwrite the last one when it is at the same time; drop repeats."""
    if series and series[-1][0] == now:
        series[-1] = (now, value)
        if len(series) > 1 and series[-2][1] == value:
            series.pop()
    elif not series or series[-1][1] != value:
        series.append((now, value))


@dataclass
class Timeline:
    """Pending pods, requested cpu fraction per node and measured cpu per node, over simulated time."""

    pending: Steps = field(default_factory=list)
    requested_cpu: Dict[str, Steps] = field(default_factory=dict)
    measured_cpu: Dict[str, Steps] = field(default_factory=dict)


class TimelineRecorder:
    def __init__(self) -> None:
        self.timeline = Timeline()
        self._allocatable: Dict[str, float] = {}
        self._requested: Dict[str, float] = {}
        self._on_node: Dict[str, Tuple[str, float]] = {}  # pod key -> (node, cpu it requests)

    def node(self, name: str, allocatable_cpu: float, now: float) -> None:
        self._allocatable[name] = allocatable_cpu
        self._requested.setdefault(name, 0.0)
        self._record(name, now)

    def pending(self, now: float, count: int) -> None:
        _step(self.timeline.pending, now, count)

    def placed(self, key: str, node: str, cpu: float, now: float) -> None:
        """The API bound the pod: its request counts on the node until it is gone."""
        self.gone(key, now)
        self._on_node[key] = (node, cpu)
        self._requested[node] = self._requested.get(node, 0.0) + cpu
        self._record(node, now)

    def gone(self, key: str, now: float) -> None:
        """The pod left its node (finished, or terminated after an eviction)."""
        held = self._on_node.pop(key, None)
        if held is not None:
            node, cpu = held
            self._requested[node] = max(0.0, self._requested.get(node, 0.0) - cpu)
            self._record(node, now)

    def measured(self, now: float, values: Mapping[str, Optional[float]]) -> None:
        for node, value in values.items():
            _step(self.timeline.measured_cpu.setdefault(node, []), now, value)

    def _record(self, node: str, now: float) -> None:
        allocatable = self._allocatable.get(node, 0.0)
        fraction = round(self._requested.get(node, 0.0) / allocatable, 4) if allocatable > 0 else None
        _step(self.timeline.requested_cpu.setdefault(node, []), now, fraction)


def bucketed(series: Steps, end: float, buckets: int) -> List[Optional[float]]:
    """Time-weighted mean of a step series in each of `buckets` equal slices of [0, end].

    A slice the series does not cover yet (before its first point), or where its value is
    unknown (None), counts only its known part; a slice with no known part is None."""
    if buckets <= 0:
        return []
    if end <= 0:
        return [series[-1][1] if series else None] * buckets
    width = end / buckets
    sums = [0.0] * buckets
    known = [0.0] * buckets
    for i, (start, value) in enumerate(series):
        stop = series[i + 1][0] if i + 1 < len(series) else end
        if value is None or stop <= start:
            continue
        start, stop = max(0.0, start), min(end, stop)
        first, last = int(start // width), min(buckets - 1, int(stop // width))
        for b in range(max(0, first), last + 1):
            lo, hi = max(start, b * width), min(stop, (b + 1) * width)
            if hi > lo:
                sums[b] += value * (hi - lo)
                known[b] += hi - lo
    return [sums[b] / known[b] if known[b] > 0 else None for b in range(buckets)]
