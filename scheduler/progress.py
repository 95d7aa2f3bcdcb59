"""Progress on a terminal for long runs (`bench`, large `simulate`): one line rewritten in place.

Nothing is written when stderr is not a terminal (piped, captured, CI), so
logs and `--json` output stay clean.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO


class Progress:
    def __init__(self, label: str, stream: Optional[TextIO] = None, every: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.clock = clock
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = float("-inf")
        self._shown = False

    def update(self, text: Callable[[], str]) -> None:
        """Show `text()` (only computed when due) at most every `every` seconds."""
        if not self.enabled:
            return
        now = self.clock()
        if now - self._last < self.every:
            return
        self._last = now
        self.stream.write(f"\r\033[K{self.label}: {text()}")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        """Clear the line, so the report that follows starts clean."""
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False
