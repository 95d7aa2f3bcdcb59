"""Serving HTTP: the listening socket, open connections, and the request plumbing under the routes.

Kept apart from routing because restarts and faults act here: ``stop()``
must drop every connection (watch streams included) so clients notice at once,
``hang_after_apply`` must swallow an answer after the request took effect, and
every answer needs a Content-Length (or chunking) or the client would hang.
"""
from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

from scheduler.testing.apiserver.errors import ApiError
from scheduler.testing.apiserver.objects import JSON
from scheduler.testing.apiserver.routing import Backend, is_watch, route


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True   # SO_REUSEADDR: a restart rebinds the port at once

    def __init__(self, address: Tuple[str, int], handler: Any) -> None:
        super().__init__(address, handler)
        self.stopping = threading.Event()   # set by HttpFrontend.stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or fails the TLS handshake is routine here (tests do it on purpose)."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


def hang_up(conn: socket.socket) -> None:
    """Close a client connection without a word: the client sees EOF / a reset."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class HttpFrontend:
    """One listening socket at a time over the same backend; ``stop()`` then ``start()`` is a restart."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.httpd: Optional[_HTTPServer] = None
        self.conns: Set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        self.accepted = 0   # connections accepted since the server was made (restarts included)
        self._thread: Optional[threading.Thread] = None

    @property
    def serving(self) -> bool:
        return self.httpd is not None

    def start(self, host: str, port: int, tls: Optional[ssl.SSLContext] = None) -> int:
        """Listen on ``host:port`` (0 = any free port), over TLS with ``tls``; returns the port."""
        frontend = self

        class Handler(_Handler):
            pass

        Handler.frontend = frontend
        httpd = _HTTPServer((host, port), Handler)
        if tls is not None:  # the handshake happens in the connection's own thread, on its first read
            httpd.socket = tls.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        with self.conns_lock:
            self.httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="fake-apiserver", daemon=True)
        self._thread.start()
        return httpd.server_address[1]

    def stop(self) -> None:
        """Close the listening socket and every open connection, watch streams included."""
        httpd = self.httpd
        if httpd is not None:
            httpd.stopping.set()       # wakes requests held by hang_after_apply
            httpd.shutdown()
            httpd.server_close()
        with self.conns_lock:
            self.httpd = None          # handlers that begin from now on hang up at once
            conns = list(self.conns)
        self.backend.store.end_http_watches()
        for c in conns:
            hang_up(c)


class _Handler(BaseHTTPRequestHandler):
    frontend: HttpFrontend
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""
    timeout = None
    _hold: Optional[float] = None   # set per request by hang_after_apply
    _body: Optional[bytes] = None   # the request body, read once per request
    server: _HTTPServer              # the server that made this handler (it has `stopping`)

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        fe = self.frontend
        with fe.conns_lock:
            if fe.httpd is not self.server:
                hang_up(self.connection)   # accepted just before stop(): refuse late
            fe.conns.add(self.connection)
            fe.accepted += 1

    def finish(self) -> None:
        with self.frontend.conns_lock:
            self.frontend.conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- what the routes use
    def reply(self, code: int, body: Any, content_type: str = "application/json",
              extra: Optional[Dict[str, str]] = None) -> None:
        """Send a whole answer: ``body`` is bytes or JSON-able."""
        if self._hold is not None:
            return   # hang_after_apply: the answer is lost
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        head = [f"HTTP/1.1 {code} {self.responses.get(code, ('',))[0]}",
                f"Content-Type: {content_type}", f"Content-Length: {len(data)}",
                "Cache-Control: no-cache, private",
                f"Date: {self.date_time_string()}"]
        for k, v in (extra or {}).items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)

    def json_value(self, required: bool = True) -> Any:
        """The body as any JSON value (a JSON patch is a list); an empty optional body is {}."""
        raw = self._read_body()
        if not raw.strip():
            if required:
                raise ApiError(400, "the body of the request was empty")
            return {}
        try:
            return json.loads(raw)
        except ValueError as e:
            raise ApiError(400, f"the object provided is unrecognized or malformed: {e}") from None

    def json_body(self, required: bool = True) -> JSON:
        """The body as a JSON object: any other JSON value is a 400, as on a real kube-apiserver
        (an optional body may be null, as Go decodes null into an empty struct)."""
        body = self.json_value(required)
        if body is None and not required:
            return {}
        if not isinstance(body, dict):
            raise ApiError(400, f"the object provided is unrecognized: expected a JSON object, "
                                f"got {type(body).__name__}")
        return body

    # -- plumbing
    def _read_body(self) -> bytes:
        # read once, up front, so that an early error never leaves body bytes on a
        # keep-alive connection
        if self._body is None:
            self._body = self._read_body_raw()
        return self._body

    def _read_body_raw(self) -> bytes:
        n = self.headers.get("Content-Length")
        if n is not None:
            return self.rfile.read(int(n)) if int(n) > 0 else b""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        faults = self.frontend.backend.faults
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self._body = None
        self._hold = None
        try:
            self._read_body()
            d, fault = faults.before_request(method, path)
            if d:
                time.sleep(d)
            if fault is not None:
                raise fault
            if not is_watch(path, q):
                self._hold = faults.hang_seconds(method, path)
            route(self, self.frontend.backend, method, path, q)
        except ApiError as e:
            self._safe_error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - report as 500 like the real server would
            self._safe_error(ApiError(500, f"internal error: {type(e).__name__}: {e}"))
        if self._hold is not None:
            self._hang_up_after(self._hold)

    def _hang_up_after(self, seconds: float) -> None:
        """Hold the connection ``seconds`` (less if the server stops), then close it unanswered."""
        self.server.stopping.wait(seconds)
        self.close_connection = True
        hang_up(self.connection)

    def _safe_error(self, e: ApiError) -> None:
        try:
            extra = {"Retry-After": str(e.retry_after)} if e.retry_after is not None else None
            self.reply(e.code, e.status, extra=extra)
        except OSError:
            self.close_connection = True
