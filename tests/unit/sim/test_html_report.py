"""`simulate --html FILE`: the page's structure, its escaping of hostile names, and how it is written."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Dict, List, Tuple

import pytest

from scheduler.cli import main
from scheduler.sim.timeline import TimelineRecorder, bucketed

HOSTILE = """
name: "<b>scenario</b>"
until: 60
nodes:
  - {name: "n<img src=x onerror=alert(1)>", cpu: 2, memory: 4Gi}
pods:
  - {name: "<script>alert(1)</script>", at: 0, cpu: 1, memory: 1Gi, duration: 10, priority: 1}
  - {name: "x\\" onmouseover=\\"alert(2)", at: 1, cpu: 1, memory: 1Gi, priority: 1}
  - {name: huge, at: 2, cpu: 16, memory: 1Gi}
"""


class Elements(HTMLParser):
    """Every element as (tag, attributes), and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: List[Tuple[str, Dict[str, str]]] = []
        self.text: List[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        self.text.append(data)

    def by_id(self, element_id: str) -> Tuple[str, Dict[str, str]]:
        found = [e for e in self.elements if e[1].get("id") == element_id]
        assert len(found) == 1, f"expected one element #{element_id}, found {len(found)}"
        return found[0]


def parse(text: str) -> Elements:
    page = Elements()
    page.feed(text)
    page.close()
    return page


@pytest.fixture(autouse=True)
def no_prometheus(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)


def simulate_html(tmp_path, capsys, *argv) -> Tuple[str, str]:
    path = tmp_path / "report.html"
    assert main(["simulate", *argv, "--html", str(path)]) == 0
    return path.read_text(encoding="utf-8"), capsys.readouterr().out


def test_every_chart_and_table_is_there_with_the_pods(tmp_path, capsys):
    html, out = simulate_html(tmp_path, capsys, "--preemption")
    page = parse(html)
    assert html.startswith("<!DOCTYPE html>")
    for chart in ("timeline-chart", "heatmap-requested", "queue-chart"):
        tag, attrs = page.by_id(chart)
        assert tag == "svg" and "chart" in attrs["class"].split()
    for table in ("preemption-table", "pod-table"):
        assert page.by_id(table)[0] == "table"
    assert "heatmap-measured" not in html  # the default scenario has no measured load
    text = " ".join(page.text)
    for pod in ("default/api-critical-0", "default/batch-low-1", "default/huge"):
        assert pod in text
    rows = [a for t, a in page.elements if t == "g" and a.get("class") == "row" and "data-label" in a]
    assert {"worker-0", "gpu-node", "default/trainer"} <= {a["data-label"] for a in rows}
    # the preemption table names preemptor, node and victims
    table = html[html.index('id="preemption-table"'):]
    table = table[: table.index("</table>")]
    assert "default/api-critical-0 (priority 1000)" in table and "worker-1" in table and "default/batch-low-1" in table
    assert out.startswith("Scenario default")  # the text report still goes to stdout


def test_nothing_is_fetched_when_viewed(tmp_path, capsys):
    html, _ = simulate_html(tmp_path, capsys, "gangs")
    page = parse(html)
    tags = {tag for tag, _ in page.elements}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert [a for t, a in page.elements if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"][0][
        "content"].startswith("default-src 'none'")


def test_gang_table_and_measured_load(tmp_path, capsys):
    html, _ = simulate_html(tmp_path, capsys, "gangs")
    table = html[html.index('id="gang-table"'):html.index("</table>", html.index('id="gang-table"'))]
    assert "default/train" in table and "default/partial" in table and "Waiting" in table
    html, _ = simulate_html(tmp_path, capsys, "load")
    assert parse(html).by_id("heatmap-measured")[0] == "svg"


def test_hostile_names_are_escaped(tmp_path, capsys):
    scenario = tmp_path / "hostile.yaml"
    scenario.write_text(HOSTILE)
    html, _ = simulate_html(tmp_path, capsys, str(scenario))
    page = parse(html)
    assert not any(tag in ("script", "img", "b") for tag, _ in page.elements)
    assert not any(k.startswith("on") for _, attrs in page.elements for k in attrs)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = " ".join(page.text)
    assert "default/<script>alert(1)</script>" in text  # shown as text, not run
    assert "n<img src=x onerror=alert(1)>" in text


def test_json_on_stdout_with_html_to_a_file(tmp_path, capsys):
    html, out = simulate_html(tmp_path, capsys, "--json")
    assert json.loads(out)["summary"]["pods"] > 0
    assert "timeline-chart" in html


@pytest.mark.parametrize("target, message", [
    ("{tmp}/no/such/dir/report.html", "no such directory"),
    ("{tmp}", "is a directory"),
])
def test_bad_path_is_one_line_and_exit_2(tmp_path, capsys, target, message):
    assert main(["simulate", "--html", target.format(tmp=tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before simulating
    err = captured.err.strip()
    assert "\n" not in err and err.startswith("preemptive-scheduler: error: --html ") and message in err


def test_requested_cpu_follows_binds_and_departures():
    recorder = TimelineRecorder()
    recorder.node("n", 4000, 0.0)
    recorder.placed("a", "n", 1000, 0.0)
    recorder.placed("b", "n", 2000, 10.0)
    recorder.gone("a", 30.0)
    recorder.gone("a", 31.0)  # twice: counted once
    assert recorder.timeline.requested_cpu["n"] == [(0.0, 0.25), (10.0, 0.75), (30.0, 0.5)]
    recorder.pending(0.0, 3)
    recorder.pending(0.0, 1)  # same instant: the later count wins
    recorder.pending(5.0, 1)  # no change: no point
    recorder.pending(8.0, 0)
    assert recorder.timeline.pending == [(0.0, 1), (8.0, 0)]


def test_buckets_are_time_weighted_means():
    series = [(0.0, 0.0), (5.0, 1.0), (20.0, None)]
    assert bucketed(series, 20.0, 2) == [0.5, 1.0]
    assert bucketed(series, 40.0, 2) == [0.75, None]  # unknown from 20 s on
    assert bucketed([], 10.0, 3) == [None, None, None]
