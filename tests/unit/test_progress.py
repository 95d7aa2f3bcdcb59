"""Progress lines: on a terminal only, at most every interval, cleared at the end."""
from __future__ import annotations

import io

from scheduler.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_throttled_lines_and_a_clean_end():
    now = [0.0]
    out = Terminal()
    progress = Progress("bench", out, every=0.5, clock=lambda: now[0])
    for i in range(10):
        progress.update(lambda i=i: f"{i} bound")
        now[0] += 0.2
    progress.done()
    text = out.getvalue()
    assert text.count("bench: ") == 4  # at 0, 0.6, 1.2, 1.8 s
    assert text.endswith("\r\033[K")


def test_nothing_is_written_when_not_a_terminal(capsys):
    out = io.StringIO()
    progress = Progress("simulate", out)
    progress.update(lambda: "x")
    progress.done()
    assert out.getvalue() == ""


def test_piped_bench_output_stays_clean(capsys):
    from scheduler.cli import main

    assert main(["bench", "--workload", "SchedulingBasic", "--nodes", "20", "--pods", "50", "--json"]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "\r" not in captured.out
