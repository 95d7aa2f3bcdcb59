"""List-then-watch reflectors that feed raw objects into the daemon's inbox.

Each resource gets a thread that lists in pages (recording the first page's
resourceVersion), hands each page over as LISTED as it arrives (so the consumer
parses one page while the next is on its way), then the full list as a RESYNC
(the consumer drops what it knew but the list no longer has, so nothing is
lost or duplicated), then watches from that version with bookmarks.  A 410 Expired relists; a dropped stream or an
API error reconnects after a jittered backoff.  Socket read timeouts bound
every wait, so a half-open connection cannot hang the process.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from scheduler.k8s.api import ApiError, KubeApi

log = logging.getLogger(__name__)
LIST_PAGE = 500
"""Objects per LIST request (kube's reflectors page by 500 too)."""

LISTED = "LISTED"
"""One page of a list: objects as they are now (applied like updates)."""
RESYNC = "RESYNC"
"""The end of a list, with every object listed: what is not among them is gone."""
Sink = Callable[[str, str, Any], None]  # (resource, event type, LISTED or RESYNC, object or list of objects)


class Reflector:
    def __init__(self, api: KubeApi, resource: str, path: str, sink: Sink, stop: threading.Event,
                 on_restart: Callable[[str, str], None] = lambda resource, cause: None,
                 watch_timeout: int = 300, optional: bool = False, max_backoff: float = 30.0,
                 may_be_forbidden: bool = False) -> None:
        self.api = api
        self.resource = resource
        self.path = path
        self.sink = sink
        self.stop = stop
        self.on_restart = on_restart
        self.watch_timeout = watch_timeout
        self.optional = optional  # e.g. PodGroups: the CRD may not be installed
        self.may_be_forbidden = may_be_forbidden  # e.g. namespaces: run without them when our RBAC does not cover them
        self.max_backoff = max_backoff
        self.synced = threading.Event()
        self.available = True
        self.resource_version = ""
        self.last_contact = time.monotonic()
        self.failing_since: Optional[float] = None  # first failure since the last successful list or watch
        self._failures = 0
        self._thread = threading.Thread(target=self._run, name=f"reflector-{resource}", daemon=True)

    def start(self) -> Reflector:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def failing_for(self, now: float) -> float:
        """Seconds this reflector has failed to list or watch without a success in between (0 when healthy)."""
        since = self.failing_since
        return 0.0 if since is None else max(0.0, now - since)

    def _contact(self) -> None:
        self.last_contact = time.monotonic()
        self.failing_since = None

    def _failing(self) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()

    # ------------------------------------------------------------ loop
    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                if not self.resource_version:
                    self._list()
                self._watch()
                self._failures = 0
            except ApiError as exc:
                self._handle_error(exc)
            except Exception:  # noqa: BLE001 - a reflector must never die silently
                log.exception("%s reflector failed unexpectedly; relisting", self.resource)
                self._failing()
                self.resource_version = ""
                self._sleep_backoff("error")

    def _list(self) -> None:
        """A consistent list in pages of LIST_PAGE (limit/continue, as client-go's pager does): the server
        never builds one huge response.  The resourceVersion is the first page's, as the API defines."""
        items: List[Dict[str, Any]] = []
        token = ""
        version = ""
        while True:
            query: Dict[str, Any] = {"limit": LIST_PAGE}
            if token:
                query["continue"] = token
            listing = self.api.list(self.path, **query)
            self._contact()
            page = listing.get("items") or []
            if not isinstance(page, list):
                raise ApiError(0, "InvalidAnswer", f"list {self.path}: items is a {type(page).__name__}, not a list")
            if page:
                self.sink(self.resource, LISTED, page)
            items += page
            meta = listing.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            token = str(meta.get("continue") or "")
            if not token:
                break
        self.resource_version = version
        self.available = True
        self.sink(self.resource, RESYNC, items)
        self.synced.set()
        log.debug("listed %d %s at resourceVersion %s", len(items), self.resource, self.resource_version)

    def _watch(self) -> None:
        for event in self.api.watch(self.path, self.resource_version, self.watch_timeout, on_open=self._contact):
            self._contact()
            if self.stop.is_set():
                return
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                self._watch_error(obj)
                return
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if version:
                self.resource_version = str(version)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self.sink(self.resource, kind, obj)
        self._contact()  # a stream that ran to its timeout is a healthy watch
        self.on_restart(self.resource, "timeout")  # the server closed the stream: watch again from our version

    def _watch_error(self, status: Dict[str, Any]) -> None:
        code = status.get("code")
        if code in (410, 404) or status.get("reason") in ("Expired", "Gone"):
            log.info("%s watch expired (%s); relisting", self.resource, status.get("message", ""))
            self.resource_version = ""
            self.on_restart(self.resource, "expired")
            return
        raise ApiError(int(code or 500), str(status.get("reason", "")), str(status.get("message", "")), status)

    def _handle_error(self, exc: ApiError) -> None:
        if self.stop.is_set():
            return  # shutting down: a broken stream is expected
        if exc.status == 410:
            self.resource_version = ""
            self.on_restart(self.resource, "expired")
            return
        if (exc.status == 404 and self.optional) or (exc.status == 403 and self.may_be_forbidden):
            if self.available and exc.status == 403:
                log.warning("not allowed to list/watch %s (RBAC: %s); running without them, checking again later",
                            self.resource, exc.message or exc.reason)
            elif self.available:
                log.info("%s are not served by this cluster (CRD not installed); checking again later", self.resource)
            self.available = False
            self.synced.set()
            self.resource_version = ""
            self.stop.wait(60.0)
            return
        self._failures += 1
        self._failing()
        level = logging.WARNING if self._failures <= 3 or self._failures % 20 == 0 else logging.DEBUG
        log.log(level, "%s watch failed (%s); reconnecting", self.resource, exc)
        self._sleep_backoff("error")

    def _sleep_backoff(self, cause: str) -> None:
        self.on_restart(self.resource, cause)
        delay = min(self.max_backoff, 0.2 * (2 ** min(self._failures, 8)))
        self.stop.wait(delay * random.uniform(0.5, 1.5))


def wait_synced(reflectors: List[Reflector], stop: threading.Event, timeout: Optional[float] = None) -> bool:
    deadline = None if timeout is None else time.monotonic() + timeout
    for reflector in reflectors:
        while not reflector.synced.wait(0.1):
            if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                return False
    return True
