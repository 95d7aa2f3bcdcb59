"""`simulate --html`: the report opened in a real (headless) Chromium shows every chart and the pods."""
from __future__ import annotations

import struct
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/integration: the helper module

from chromium import dump_dom, require_chromium, screenshot  # noqa: E402

from scheduler.cli import main  # noqa: E402

pytestmark = pytest.mark.chromium

HOSTILE = """
name: hostile
until: 30
nodes: [{name: "n<i>1</i>", cpu: 2, memory: 4Gi}]
pods: [{name: "<script>document.title='pwned'</script>", at: 0, cpu: 1, memory: 1Gi}]
"""


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: List[Tuple[str, Dict[str, str]]] = []
        self.text: List[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)


def parsed(dom: str) -> Elements:
    page = Elements()
    page.feed(dom)
    return page


@pytest.fixture(scope="module")
def browser() -> str:
    return require_chromium()


@pytest.fixture(autouse=True)
def no_prometheus(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)


def report(tmp_path: Path, capsys, *argv: str) -> Path:
    path = tmp_path / "report.html"
    assert main(["simulate", *argv, "--html", str(path)]) == 0
    capsys.readouterr()
    return path


def test_the_browser_renders_every_chart_with_the_pods(browser, tmp_path, capsys):
    page = parsed(dump_dom(browser, report(tmp_path, capsys, "--preemption")))
    svgs = {attrs.get("id"): attrs for tag, attrs in page.elements if tag == "svg"}
    assert {"timeline-chart", "heatmap-requested", "queue-chart"} <= set(svgs)
    rects = [attrs for tag, attrs in page.elements if tag == "rect"]
    assert sum("running" in a.get("class", "") for a in rects) >= 15  # a bar per bound pod
    assert sum("terminating" in a.get("class", "") for a in rects) == 4  # the four victims
    assert sum(a.get("class") == "cell" for a in rects) == 4 * 60  # four nodes x sixty time slices
    assert any(tag == "path" and a.get("class") == "line" for tag, a in page.elements)  # the queue line
    text = " ".join(page.text)
    for pod in ("default/api-critical-0", "default/batch-low-1", "default/trainer", "default/huge"):
        assert pod in text
    assert {"preemption-table", "pod-table"} <= {a.get("id") for tag, a in page.elements if tag == "table"}


def test_the_browser_shows_a_non_trivial_picture(browser, tmp_path, capsys):
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    empty = screenshot(browser, blank, tmp_path / "blank.png")
    png = screenshot(browser, report(tmp_path, capsys, "gangs"), tmp_path / "shot.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 2000)
    # charts, tables and text compress far worse than an empty page of the same size
    assert len(png) > 5 * len(empty), (len(png), len(empty))


def test_hostile_names_stay_text_in_the_browser(browser, tmp_path, capsys):
    scenario = tmp_path / "hostile.yaml"
    scenario.write_text(HOSTILE)
    dom = dump_dom(browser, report(tmp_path, capsys, str(scenario)))
    page = parsed(dom)
    assert not any(tag in ("script", "i") for tag, _ in page.elements)
    assert "default/<script>document.title='pwned'</script>" in " ".join(page.text)
    assert "<title>Simulation: hostile</title>" in dom  # nothing ran
