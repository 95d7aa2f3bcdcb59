"""Relative links in README.md and docs/*.md point at files (and headings) that exist."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...
HEADING = re.compile(r"#{1,6}\s+(.*?)\s*#*\s*$")


def _outside_fences(text: str) -> List[str]:
    """The lines of `text`, with those of fenced code blocks blanked (line numbers kept)."""
    lines: List[str] = []
    fence = ""
    for line in text.splitlines():
        stripped = line.lstrip()
        if fence:
            fence = "" if stripped.startswith(fence) else fence
            lines.append("")
        elif stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            lines.append("")
        else:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    """Every heading anchor of a Markdown file (repeats get -1, -2, ... as on GitHub)."""
    seen: Dict[str, int] = {}
    found: Set[str] = set()
    for line in _outside_fences(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> List[Tuple[int, str]]:
    """(line number, target) of every relative link on the page; link text may span lines."""
    text = "\n".join(_outside_fences(page.read_text(encoding="utf-8")))
    text = re.sub(r"`[^`]*`", lambda m: "\n" * m.group(0).count("\n"), text)  # no links in inline code
    return [(text.count("\n", 0, m.start()) + 1, m.group(1))
            for m in LINK.finditer(text) if not EXTERNAL.match(m.group(1))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for number, target in links(page):
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{page.relative_to(REPO)}:{number}: {target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor.lower() not in anchors(destination):
            broken.append(f"{page.relative_to(REPO)}:{number}: {target}: no heading with anchor #{anchor}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_links_every_docs_page() -> None:
    readme = REPO / "README.md"
    linked = {(readme.parent / target.partition("#")[0]).resolve() for _, target in links(readme)}
    missing = [str(p.relative_to(REPO)) for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"README.md's Documentation section does not link: {', '.join(missing)}"


def test_slug_follows_github() -> None:
    assert slug("Running it in a cluster: observability and behaviour") == \
        "running-it-in-a-cluster-observability-and-behaviour"
    assert slug("plan: what-if questions") == "plan-what-if-questions"
    assert slug("The simulator: `simulate` and `plan`") == "the-simulator-simulate-and-plan"
    assert slug("Load-aware placement — Prometheus") == "load-aware-placement--prometheus"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Top\n\nsee [the\nother page](missing.md) and [top](#top)\n\n```\n[x](ignored.md)\n```\n",
                    encoding="utf-8")
    assert links(page) == [(3, "missing.md"), (4, "#top")]
    assert anchors(page) == {"top"}
