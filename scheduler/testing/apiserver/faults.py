"""Fault injection (``srv.faults``): failed, slow and lost requests, dropped watches, expired history.

These are the failures a scheduler meets on a real cluster, made deterministic
so a test can say exactly which request fails and how. The HTTP front end asks
:meth:`Faults.before_request` and :meth:`Faults.hang_seconds` about every request.
"""
from __future__ import annotations

import re
import threading
from typing import Any, List, Optional, Tuple

from scheduler.testing.apiserver.errors import REASONS, ApiError
from scheduler.testing.apiserver.store import Store


def _method_key(method: Optional[str]) -> Optional[str]:
    """None matches any method."""
    return None if method in (None, "*") else str(method).upper()


class Faults:
    """Fault injection for a FakeApiServer (``srv.faults``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._fail: List[List[Any]] = []   # [method, regex, status, remaining]
        self._delays: List[Tuple[Optional[Any], float]] = []
        self._hangs: List[List[Any]] = []  # [method, regex, seconds, remaining]

    def drop_watches(self) -> int:
        """End every open watch stream now; returns how many were open."""
        return self._store.drop_watches()

    def expire_history(self) -> None:
        """Forget the watch history: resuming from any older RV now gets 410 Expired."""
        self._store.expire_history()

    def fail_next(self, method: Optional[str], path_regex: str, status: int,
                  count: int = 1, message: Optional[str] = None,
                  retry_after: Optional[int] = None) -> None:
        """Answer the next ``count`` requests whose METHOD matches (None/"*" = any) and
        whose URL path (no query) matches ``path_regex`` (re.search) with ``status``.

        ``retry_after`` adds a Retry-After header (note: urllib3, hence the
        kubernetes client, silently retries 413/429/503 answers that carry one)."""
        with self._lock:
            self._fail.append([_method_key(method), re.compile(path_regex), int(status),
                               int(count), message, retry_after])

    def hang_after_apply(self, path_regex: str, seconds: float, count: int = 1,
                         method: Optional[str] = None) -> None:
        """Apply the next ``count`` matching requests, then hold the answer ``seconds``
        and close the connection without sending it: the write happened (objects
        changed, watch events sent) but the client sees a read timeout, or a
        connection error when ``seconds`` is shorter than its read timeout (0 = at
        once). Like a bind whose response was lost. Matching as in ``fail_next``;
        watch streams are not affected."""
        with self._lock:
            self._hangs.append([_method_key(method), re.compile(path_regex),
                                max(0.0, float(seconds)), int(count)])

    def delay(self, seconds: float, path_regex: Optional[str] = None) -> None:
        """Add ``seconds`` of latency to matching requests (all when path_regex is None).
        ``delay(0, same_regex)`` removes it."""
        with self._lock:
            key = path_regex
            self._delays = [(r, s) for (r, s) in self._delays
                            if (r.pattern if r is not None else None) != key]
            if seconds > 0:
                self._delays.append((re.compile(path_regex) if path_regex else None, float(seconds)))

    def clear(self) -> None:
        with self._lock:
            self._fail.clear()
            self._delays.clear()
            self._hangs.clear()

    def hang_seconds(self, method: str, path: str) -> Optional[float]:
        """Seconds to hold this request's answer before hanging up, or None."""
        if not self._hangs:
            return None
        with self._lock:
            for rule in self._hangs:
                m, rx, seconds, _ = rule
                if (m is None or m == method) and rx.search(path):
                    rule[3] -= 1
                    if rule[3] <= 0:
                        self._hangs.remove(rule)
                    return float(seconds)
            return None

    def before_request(self, method: str, path: str) -> Tuple[float, Optional[ApiError]]:
        """(seconds to delay, error to answer instead or None) for this request."""
        if not self._fail and not self._delays:
            return 0.0, None
        with self._lock:
            d = sum(s for r, s in self._delays if r is None or r.search(path))
            for rule in self._fail:
                m, rx, st, left, msg, retry = rule
                if left > 0 and (m is None or m == method) and rx.search(path):
                    rule[3] -= 1
                    if rule[3] <= 0:
                        self._fail.remove(rule)
                    return d, ApiError(st, msg or f"injected fault: {REASONS.get(st, st)}",
                                       retry_after=retry)
            return d, None
