"""`simulate --html FILE`: one self-contained HTML page from the same SimResult the text and JSON reports use.

Inline CSS and SVG only: no scripts, no fonts, nothing fetched when the page is
viewed (its Content-Security-Policy forbids it).  Sections: placement timeline
(one row per pod), requested (and measured, when the scenario has it) cpu per
node over time, pending pods over time, preemptions, gangs and every pod.
Every name is escaped: scenarios are untrusted input.
"""
from __future__ import annotations

from html import escape
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from scheduler.sim.cluster import PodRecord, SimResult
from scheduler.sim.report import summary
from scheduler.sim.svg import GanttRow, Segment, fmt_time, gantt, heatmap, step_chart
from scheduler.sim.timeline import bucketed

MAX_TIMELINE_PODS = 500
MAX_HEATMAP_NODES = 300
BUCKETS = 60
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#e15759", "#bab0ac")

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}
nav a{margin-right:12px}.note{color:#666;font-size:12px}.summary span{margin-right:14px}
.chart{display:block;max-width:100%;height:auto;font:11px monospace}
.chart .axis line,.chart .axis path{stroke:#999}.chart .axis text,.chart .label,.chart .legend text{fill:#333}
.chart .grid{stroke:#eee}.chart .row:hover .label{font-weight:bold}
.seg.pending{fill:#d9d9d9}.seg.running{fill:#4e79a7}.seg.terminating{fill:#e15759;opacity:.8}
.line{fill:none;stroke:#d95f02;stroke-width:2}.hover{fill:transparent}.hover:hover{fill:rgba(217,95,2,.08)}
.swatch{stroke:#999;stroke-width:.5}.cell:hover{stroke:#000;stroke-width:1}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right}.legend-inline span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(result: SimResult) -> str:
    sections = [
        ("placement", "Placement timeline", _placement(result)),
        ("utilisation", "Node utilisation over time", _utilisation(result)),
        ("queue", "Pending pods over time", _queue(result)),
        ("preemptions", "Preemptions and evictions", _preemptions(result)),
        ("gangs", "Gangs", _gangs(result)),
        ("pods", "Pods", _pods(result)),
    ]
    s = summary(result)
    facts = [f"{s['pods']} pods", f"{s['scheduled']} scheduled", f"{s['pending']} pending", f"{s['running']} running",
             f"{s['succeeded']} succeeded", f"{s['evicted']} evicted", f"{s['evictions']} evictions",
             f"{len(result.nodes)} nodes", f"simulated {fmt_time(result.end_time)}"]
    title = f"Simulation: {result.scenario}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        '<p class="summary">' + "".join(f"<span>{escape(fact)}</span>" for fact in facts) + "</p>",
        "<nav>" + "".join(f'<a href="#{key}">{escape(heading)}</a>' for key, heading, _ in sections) + "</nav>",
    ]
    for key, heading, body in sections:
        parts.append(f'<section id="{key}"><h2>{escape(heading)}</h2>{body}</section>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_html(result: SimResult, path: str) -> None:
    """Write the report (raises OSError: the caller reports it)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(render_html(result))


# ------------------------------------------------------------ placement timeline
def _node_colours(result: SimResult) -> Dict[str, str]:
    names = [row["name"] for row in result.nodes]
    for record in result.pods:
        if record.node and record.node not in names:
            names.append(record.node)
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _pod_row(record: PodRecord, end: float, colours: Dict[str, str]) -> GanttRow:
    segments: List[Segment] = []
    left_at = record.evicted_at if record.evicted_at is not None else record.finished_at
    if record.scheduled_at is None:
        stop = left_at if left_at is not None else end
        segments.append(Segment(record.arrived, stop, "pending",
                                f"{record.key}: pending {fmt_time(record.arrived)} to {fmt_time(stop)}"
                                + (f" ({record.reason})" if record.reason else "")))
    else:
        if record.scheduled_at > record.arrived:
            segments.append(Segment(record.arrived, record.scheduled_at, "pending",
                                    f"{record.key}: pending {fmt_time(record.arrived)} to {fmt_time(record.scheduled_at)}"))
        stop = left_at if left_at is not None else end
        ending = "evicted" if record.evicted_at is not None else "finished" if record.finished_at is not None else "running"
        segments.append(Segment(record.scheduled_at, stop, "running",
                                f"{record.key} on {record.node}: bound {fmt_time(record.scheduled_at)}, "
                                f"{ending} {fmt_time(stop) if ending != 'running' else 'at the end'}",
                                colours.get(record.node or "", "")))
        if record.evicted_at is not None:
            gone = record.gone_at if record.gone_at is not None else end
            segments.append(Segment(record.evicted_at, gone, "terminating",
                                    f"{record.key}: evicted {fmt_time(record.evicted_at)} ({record.reason}), "
                                    f"gone {fmt_time(record.gone_at)}"))
    prio = "?" if record.priority is None else str(record.priority)
    title = (f"{record.key} (priority {prio}): arrived {fmt_time(record.arrived)}, {record.state}"
             + (f" on {record.node}" if record.node else "") + (f"; {record.reason}" if record.reason else ""))
    return GanttRow(record.key, segments, title)


def _placement(result: SimResult) -> str:
    colours = _node_colours(result)
    order = {name: i for i, name in enumerate(colours)}
    pods = sorted(result.pods, key=lambda r: (r.node is None, order.get(r.node or "", 0),
                                               r.scheduled_at if r.scheduled_at is not None else r.arrived, r.key))
    shown = pods[:MAX_TIMELINE_PODS]
    rows = [_pod_row(record, result.end_time, colours) for record in shown]
    note = ('<p class="note">One row per pod, grouped by node (colour), pods never bound last. Grey: pending; '
            'coloured: bound and running on the node; red: evicted, terminating. Hover for details.</p>')
    legend = '<p class="note legend-inline">' + "".join(
        f'<span style="background:{colour}"></span>{escape(name)}' for name, colour in colours.items()) + "</p>"
    more = "" if len(pods) <= len(shown) else \
        f'<p class="note">First {len(shown)} of {len(pods)} pods shown; the pod table below lists all.</p>'
    if not rows:
        return '<p class="note">No pods.</p>'
    return note + legend + gantt("timeline-chart", "Placement timeline: one row per pod", rows, result.end_time) + more


# ------------------------------------------------------------ utilisation
def _utilisation(result: SimResult) -> str:
    timeline = result.timeline
    buckets = BUCKETS if result.end_time > 0 else 1
    names = [name for name in timeline.requested_cpu][:MAX_HEATMAP_NODES]
    more = len(timeline.requested_cpu) - len(names)
    if not names:
        return '<p class="note">No nodes.</p>'
    slice_width = result.end_time / buckets if result.end_time > 0 else 0
    parts = [f'<p class="note">Requested cpu as a fraction of allocatable, per node, averaged over '
             f'{slice_width:g}s slices.</p>',
             heatmap("heatmap-requested", "Requested cpu per node over time",
                     [(name, bucketed(timeline.requested_cpu[name], result.end_time, buckets)) for name in names],
                     result.end_time)]
    if timeline.measured_cpu:
        parts.append('<p class="note">Measured cpu utilisation from the scenario\'s profiles, as sampled every '
                     'metrics refresh (grey: no data).</p>')
        rows = [(name, bucketed(timeline.measured_cpu.get(name, []), result.end_time, buckets)) for name in names]
        parts.append(heatmap("heatmap-measured", "Measured cpu utilisation per node over time", rows,
                             result.end_time, what="measured cpu"))
    if more > 0:
        parts.append(f'<p class="note">First {len(names)} of {len(names) + more} nodes shown.</p>')
    return "".join(parts)


# ------------------------------------------------------------ queue
def _queue(result: SimResult) -> str:
    series: List[Tuple[float, Optional[float]]] = [(t, v) for t, v in result.timeline.pending]
    if not series:
        series = [(0.0, 0)]
    peak = max((v for _, v in series if v is not None), default=0)
    return (f'<p class="note">Pods the scheduler had not placed yet (peak {peak:g}).</p>'
            + step_chart("queue-chart", "Pending pods over time", series, result.end_time, "pending pods",
                         integer=True))


# ------------------------------------------------------------ tables
def _table(table_id: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str) -> str:
    body = []
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            cells.append(f'<td class="num">{value:g}</td>' if numeric else f"<td>{escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return f'<p class="note" id="{table_id}">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _preemptions(result: SimResult) -> str:
    priority = {r.key: r.priority for r in result.pods}
    groups: Dict[Tuple[float, str, str], List[str]] = {}  # in order of time
    for e in result.evictions:
        groups.setdefault((e.time, e.preemptor, e.node), []).append(e.victim)

    def who(key: str) -> str:
        prio = priority.get(key)
        return key if prio is None else f"{key} (priority {prio})"

    preemptions, others = [], []
    for (time, preemptor, node), victims in groups.items():
        names = ", ".join(who(v) for v in victims)
        if preemptor in priority:
            preemptions.append((fmt_time(time), who(preemptor), node, names))
        else:  # no preemptor: e.g. a gang rolled back; the field holds why
            others.append((fmt_time(time), node, names, preemptor))
    html = _table("preemption-table", ("time", "preemptor", "node", "victims"), preemptions, "No preemptions.")
    if others:
        html += "<h3>Other evictions</h3>" + _table("eviction-table", ("time", "node", "evicted", "why"), others, "")
    return html


def _gangs(result: SimResult) -> str:
    records = {r.key: r for r in result.pods}
    rows = []
    for gang in result.gangs:
        members = [records[k] for k in result.gang_members.get(gang["name"], []) if k in records]
        arrived = min((r.arrived for r in members), default=None)
        bound = sorted(r.scheduled_at for r in members if r.scheduled_at is not None)
        minimum = _as_int(gang.get("min_available"))
        reached = bound[minimum - 1] if minimum is not None and 0 < minimum <= len(bound) else None
        outcome = gang["state"] + (f": {gang['message']}" if gang.get("message") else "")
        rows.append((gang["name"], gang["members"], "-" if gang.get("min_available") is None else str(gang["min_available"]),
                     outcome, fmt_time(arrived), fmt_time(reached), fmt_time(bound[-1] if bound else None),
                     f"{gang['scheduled']} scheduled, {gang['running']} running"))
    return _table("gang-table", ("gang", "size", "min", "outcome", "first arrival", "minimum bound at", "last bound",
                                 "members"), rows, "No gangs.")


def _as_int(value: Any) -> Optional[int]:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _pods(result: SimResult) -> str:
    rows = []
    for r in result.pods:
        ended = r.evicted_at if r.evicted_at is not None else r.finished_at
        reason = r.reason if r.state in ("Pending", "Evicted") else ""
        if r.nominated_node and r.state == "Pending":
            reason = f"nominated to {r.nominated_node}; {reason}"
        reason = "; ".join([part for part in [reason] if part] + [f"warning: {w}" for w in r.warnings])
        rows.append((r.key, "?" if r.priority is None else str(r.priority), fmt_time(r.arrived), r.state, r.node or "-",
                     fmt_time(r.scheduled_at), fmt_time(ended), reason))
    return _table("pod-table", ("pod", "priority", "arrived", "state", "node", "bound at", "ended at", "reason"),
                  rows, "No pods.")
