"""list and watch over HTTP: what informers depend on.

A list answers ``metadata.resourceVersion`` (and pages with ``limit`` /
``continue``); a watch is a chunked stream of newline-delimited JSON events
that resumes from that RV, sends BOOKMARKs when asked, and answers a too-old
RV with HTTP 200 and an ERROR event carrying a 410 Expired Status.
"""
from __future__ import annotations

import base64
import json
import queue
import select
import socket
import time
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from scheduler.testing.apiserver.errors import ApiError
from scheduler.testing.apiserver.objects import JSON
from scheduler.testing.apiserver.resources import Resource
from scheduler.testing.apiserver.selectors import FieldReq, LabelReq, parse_field_selector, parse_label_selector
from scheduler.testing.apiserver.store import DROP, STOP, Store, Watcher

if TYPE_CHECKING:
    from scheduler.testing.apiserver.routing import Backend
    from scheduler.testing.apiserver.serving import _Handler as Handler


def selectors_from(q: Dict[str, str]) -> Tuple[List[LabelReq], List[FieldReq]]:
    try:
        labels = parse_label_selector(q.get("labelSelector", ""))
        fields = parse_field_selector(q.get("fieldSelector", ""))
    except ValueError as e:
        raise ApiError(400, f"unable to parse requirement: {e}") from None
    return labels, fields


def list_objects(h: Handler, store: Store, res: Resource, ns: Optional[str], q: Dict[str, str]) -> None:
    labels, fields = selectors_from(q)
    w = Watcher(res, ns, labels, fields)
    limit = int(q.get("limit") or 0)
    cont = q.get("continue") or ""
    after: Optional[Tuple[str, str]] = None
    last: Optional[Tuple[str, str]] = None
    list_rv: Optional[int] = None
    if cont:
        try:
            tok = json.loads(base64.urlsafe_b64decode(cont.encode()))
            after, list_rv = (tok["ns"], tok["name"]), int(tok["rv"])
        except Exception:
            raise ApiError(400, "continue key is not valid") from None
    with store.lock:
        rv = store.rv if list_rv is None else list_rv
        objs = store.objects[res.rid]
        if limit or after:
            keys = sorted(k for k in objs if after is None or k > after)
            items: List[JSON] = []
            more = None
            for k in keys:
                o = objs[k]
                if w.matches(o):
                    if limit and len(items) >= limit:
                        more = last
                        break
                    items.append(o)
                    last = k
        else:
            items = [o for o in objs.values() if w.matches(o)]
            more = None
        meta: JSON = {"resourceVersion": str(rv)}
        if more is not None:
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"ns": more[0], "name": more[1], "rv": rv}).encode()).decode()
        data = json.dumps({"kind": res.list_kind, "apiVersion": res.api_version,
                           "metadata": meta, "items": items},
                          separators=(",", ":")).encode()
    h.reply(200, data)


def _client_gone(h: Handler) -> bool:
    """True when the client closed its end of an idle watch connection."""
    try:
        r, _, _ = select.select([h.connection], [], [], 0)
        if r:
            return bool(h.connection.recv(1, socket.MSG_PEEK) == b"")
    except OSError:
        return True
    return False


def watch_stream(h: Handler, b: Backend, res: Resource, ns: Optional[str], q: Dict[str, str]) -> None:
    """Stream events until timeoutSeconds, the client leaves, a dropped watch or a server stop."""
    store, srv = b.store, b.server
    labels, fields = selectors_from(q)
    bookmarks = q.get("allowWatchBookmarks") in ("1", "true", "True")
    initial = q.get("sendInitialEvents") in ("1", "true", "True")
    timeout = float(q.get("timeoutSeconds") or srv.default_watch_timeout)
    w, first, err, _ = store.register_watch(res, ns, labels, fields,
                                            q.get("resourceVersion", ""), initial, http=True)
    head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n"
            f"Date: {h.date_time_string()}\r\n\r\n").encode()
    out = h.wfile

    def chunk(data: bytes) -> None:
        out.write(b"%x\r\n%s\r\n" % (len(data), data))

    def bookmark(rv: int, annotations: Optional[JSON] = None) -> bytes:
        md: JSON = {"resourceVersion": str(rv)}
        if annotations:
            md["annotations"] = annotations
        return json.dumps({"type": "BOOKMARK", "object": {
            "kind": res.kind, "apiVersion": res.api_version, "metadata": md}},
            separators=(",", ":")).encode() + b"\n"

    try:
        out.write(head)
        if err is not None:
            store.unregister_watch(w)
            chunk(json.dumps({"type": "ERROR", "object": err}, separators=(",", ":")).encode() + b"\n")
            out.write(b"0\r\n\r\n")
            return
        if first:
            chunk(b"".join(first))
        if initial and bookmarks:
            with store.lock:
                rv0 = store.rv
            chunk(bookmark(rv0, {"k8s.io/initial-events-end": "true"}))
        deadline = time.monotonic() + timeout
        next_bm = time.monotonic() + srv.bookmark_interval
        while True:
            nowm = time.monotonic()
            if nowm >= deadline:
                break
            wait = min(deadline - nowm, 1.0)
            if bookmarks:
                wait = min(wait, max(0.0, next_bm - nowm))
            try:
                item = w.q.get(timeout=wait)
            except queue.Empty:
                if _client_gone(h):
                    h.close_connection = True
                    return
                if bookmarks and time.monotonic() >= next_bm:
                    with store.lock:
                        rv = store.rv
                        empty = w.q.empty()
                    if empty:
                        chunk(bookmark(rv))
                    next_bm = time.monotonic() + srv.bookmark_interval
                continue
            if item is STOP:
                h.close_connection = True
                return
            if item is DROP:
                break
            lines = []
            ln = w.translate(item)
            if ln is not None:
                lines.append(ln)
            # batch whatever else is queued into one chunk
            while len(lines) < 256:
                try:
                    item = w.q.get_nowait()
                except queue.Empty:
                    break
                if item is STOP or item is DROP:
                    w.q.put(item)
                    break
                ln = w.translate(item)
                if ln is not None:
                    lines.append(ln)
            if lines:
                chunk(b"".join(lines))
        out.write(b"0\r\n\r\n")
    except OSError:
        h.close_connection = True
    finally:
        store.unregister_watch(w)
