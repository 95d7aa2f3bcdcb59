"""Charts as inline SVG text (no scripts, no external resources): a Gantt chart, a heat map, a step chart.

Every label and tooltip is escaped here: pod and node names come from the
scenario, which is untrusted input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import List, Optional, Sequence, Tuple

LABEL_CHARS = 32  # longer labels are cut (the full name is in the row's tooltip)
CHAR_WIDTH = 6.6  # px per character of the 11px monospace labels
PLOT_WIDTH = 760
ROW_HEIGHT = 14
AXIS_HEIGHT = 26
TOP = 8


@dataclass
class Segment:
    start: float
    stop: float
    kind: str  # a CSS class: pending, running, terminating
    title: str
    color: str = ""


@dataclass
class GanttRow:
    label: str
    segments: List[Segment]
    title: str = ""


def fmt_time(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds:g}s"


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "\u2026"


def _label_width(labels: Sequence[str]) -> float:
    return 12 + CHAR_WIDTH * max([8] + [len(_short(label)) for label in labels])


def nice_ticks(high: float, count: int = 6, integer: bool = False) -> List[float]:
    """Round tick values from 0 to at least `high` (at most about `count` of them; whole numbers if `integer`)."""
    if not (high > 0 and math.isfinite(high)):
        return [0.0]
    raw = high / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    ticks = []
    value = 0.0
    while value <= high + 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


class _Scale:
    def __init__(self, left: float, end: float, width: float = PLOT_WIDTH) -> None:
        self.left, self.end, self.width = left, end if end > 0 else 1.0, width

    def x(self, t: float) -> float:
        return self.left + max(0.0, min(t, self.end)) / self.end * self.width


def _time_axis(scale: _Scale, y: float) -> List[str]:
    parts = [f'<g class="axis"><line x1="{scale.left:.1f}" y1="{y:.1f}" x2="{scale.left + scale.width:.1f}" y2="{y:.1f}"/>']
    for tick in nice_ticks(scale.end):
        if tick > scale.end:
            continue
        x = scale.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}"/>'
                     f'<text x="{x:.1f}" y="{y + 15:.1f}" text-anchor="middle">{tick:g}s</text>')
    parts.append("</g>")
    return parts


def _svg(chart_id: str, css_class: str, width: float, height: float, title: str, body: List[str]) -> str:
    return (f'<svg id="{escape(chart_id)}" class="chart {escape(css_class)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>' + "".join(body) + "</svg>")


def gantt(chart_id: str, title: str, rows: Sequence[GanttRow], end: float) -> str:
    """One row per entry; each segment a bar from its start to its stop, with a tooltip."""
    left = _label_width([row.label for row in rows])
    scale = _Scale(left, end)
    height = TOP + ROW_HEIGHT * len(rows) + AXIS_HEIGHT
    body: List[str] = []
    for i, row in enumerate(rows):
        y = TOP + i * ROW_HEIGHT
        tip = escape(row.title or row.label)
        body.append(f'<g class="row" data-label="{escape(row.label)}"><title>{tip}</title>'
                    f'<text class="label" x="{left - 6:.1f}" y="{y + ROW_HEIGHT - 3:.1f}" text-anchor="end">'
                    f'{escape(_short(row.label))}</text>')
        for seg in row.segments:
            x1, x2 = scale.x(seg.start), scale.x(seg.stop)
            fill = f' style="fill:{escape(seg.color)}"' if seg.color else ""
            body.append(f'<rect class="seg {escape(seg.kind)}" x="{x1:.1f}" y="{y + 2:.1f}" '
                        f'width="{max(x2 - x1, 1.5):.1f}" height="{ROW_HEIGHT - 4}"{fill}>'
                        f'<title>{escape(seg.title)}</title></rect>')
        body.append("</g>")
    body += _time_axis(scale, TOP + ROW_HEIGHT * len(rows) + 2)
    return _svg(chart_id, "gantt", left + PLOT_WIDTH + 20, height, title, body)


# Sequential colour scale (light to dark blue), then red above 100 %.
_STOPS = ((0.0, (247, 251, 255)), (0.25, (198, 219, 239)), (0.5, (107, 174, 214)), (0.75, (33, 113, 181)),
          (1.0, (8, 48, 107)))
OVER = "#b2182b"
UNKNOWN = "#e5e5e5"


def heat_colour(value: Optional[float]) -> str:
    if value is None or not math.isfinite(value):
        return UNKNOWN
    if value > 1.0 + 1e-9:
        return OVER
    value = max(0.0, value)
    for (low, a), (high, b) in zip(_STOPS, _STOPS[1:]):
        if value <= high:
            f = (value - low) / (high - low)
            r, g, bl = (round(a[k] + (b[k] - a[k]) * f) for k in range(3))
            return f"#{r:02x}{g:02x}{bl:02x}"
    return _hex(_STOPS[-1][1])


def _hex(rgb: Tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def heatmap(chart_id: str, title: str, rows: Sequence[Tuple[str, Sequence[Optional[float]]]], end: float,
            what: str = "requested cpu") -> str:
    """One row per node, one cell per time bucket, coloured by the fraction (tooltip: node, slice, value)."""
    left = _label_width([label for label, _ in rows])
    scale = _Scale(left, end)
    buckets = max((len(values) for _, values in rows), default=1) or 1
    width = scale.end / buckets
    cell = PLOT_WIDTH / buckets
    legend_height = 30
    height = TOP + ROW_HEIGHT * len(rows) + AXIS_HEIGHT + legend_height
    body: List[str] = []
    for i, (label, values) in enumerate(rows):
        y = TOP + i * ROW_HEIGHT
        body.append(f'<g class="row" data-label="{escape(label)}"><text class="label" x="{left - 6:.1f}" '
                    f'y="{y + ROW_HEIGHT - 3:.1f}" text-anchor="end">{escape(_short(label))}<title>{escape(label)}</title></text>')
        for b, value in enumerate(values):
            shown = "unknown" if value is None else f"{value:.0%}"
            tip = f"{label}, {b * width:g}s to {(b + 1) * width:g}s: {what} {shown}"
            body.append(f'<rect class="cell" shape-rendering="crispEdges" x="{left + b * cell:.1f}" y="{y:.1f}" width="{cell + 0.2:.2f}" '
                        f'height="{ROW_HEIGHT - 1}" fill="{heat_colour(value)}"><title>{escape(tip)}</title></rect>')
        body.append("</g>")
    axis_y = TOP + ROW_HEIGHT * len(rows) + 2
    body += _time_axis(scale, axis_y)
    body += _legend(left, axis_y + AXIS_HEIGHT)
    return _svg(chart_id, "heatmap", left + PLOT_WIDTH + 20, height, title, body)


def _legend(left: float, y: float) -> List[str]:
    parts = ['<g class="legend">']
    x = left
    for value, text in ((0.0, "0%"), (0.25, "25%"), (0.5, "50%"), (0.75, "75%"), (1.0, "100%"), (1.5, "over 100%"),
                        (None, "unknown")):
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" fill="{heat_colour(value)}" class="swatch"/>'
                     f'<text x="{x + 16:.1f}" y="{y + 10:.1f}">{text}</text>')
        x += 28 + CHAR_WIDTH * len(text)
    parts.append("</g>")
    return parts


def step_chart(chart_id: str, title: str, series: Sequence[Tuple[float, Optional[float]]], end: float,
               y_label: str, integer: bool = False) -> str:
    """A step line (the value holds until the next point), with a time axis and a value axis."""
    left = 12 + CHAR_WIDTH * 6
    plot_height = 160
    scale = _Scale(left, end)
    values = [v for _, v in series if v is not None]
    ticks = nice_ticks(max(values, default=0.0) or 1.0, 4, integer)
    top_value = ticks[-1] or 1.0

    def y(value: float) -> float:
        return TOP + plot_height - value / top_value * plot_height

    body: List[str] = ['<g class="axis">']
    for tick in ticks:
        body.append(f'<line class="grid" x1="{left:.1f}" y1="{y(tick):.1f}" x2="{left + PLOT_WIDTH:.1f}" y2="{y(tick):.1f}"/>'
                    f'<text x="{left - 6:.1f}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    body.append(f'<text x="{left:.1f}" y="{TOP - 1:.1f}" class="y-label">{escape(y_label)}</text></g>')
    points: List[str] = []
    for i, (t, value) in enumerate(series):
        if value is None:
            continue
        stop = series[i + 1][0] if i + 1 < len(series) else scale.end
        command = "M" if not points else "L"
        points.append(f"{command}{scale.x(t):.1f},{y(value):.1f} L{scale.x(max(t, stop)):.1f},{y(value):.1f}")
    if points:
        body.append(f'<path class="line" d="{" ".join(points)}"/>')
    for i, (t, value) in enumerate(series):
        if value is not None:
            stop = series[i + 1][0] if i + 1 < len(series) else scale.end
            body.append(f'<rect class="hover" x="{scale.x(t):.1f}" y="{TOP}" width="{max(scale.x(stop) - scale.x(t), 1):.1f}" '
                        f'height="{plot_height}"><title>{escape(f"{t:g}s to {stop:g}s: {value:g} {y_label}")}</title></rect>')
    body += _time_axis(scale, TOP + plot_height + 2)
    return _svg(chart_id, "steps", left + PLOT_WIDTH + 20, TOP + plot_height + AXIS_HEIGHT + 4, title, body)
