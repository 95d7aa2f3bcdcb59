"""Raw-JSON access to the Kubernetes API.

The `kubernetes` package provides configuration (kubeconfig, in-cluster, exec
plugins), auth and the TLS-configured urllib3 pool; we send and read plain
JSON over that pool's connections.  This works the same with client 35 and 37
(whose generated layers differ) and avoids the generated models, which are slow
and cannot read a binding response (kubernetes-client/python #547, #825).
Every response body is read, so connections are reused.  JSON goes through
orjson: decoding list pages and watch events was a tenth of the daemon's CPU
with the standard library (about half of that with orjson).

Each call names the permission it needs (scheduler/k8s/permissions.py); the
deploy manifests grant exactly that table.
"""
from __future__ import annotations

import http.client
import logging
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple
from urllib.parse import quote, urlencode

import orjson
import urllib3
from urllib3.util.wait import wait_for_read

from scheduler.k8s import permissions as perm

log = logging.getLogger(__name__)

JSON = "application/json"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


class ApiError(Exception):
    """A non-2xx answer (status code, Status reason and message) or a transport failure (status 0)."""

    def __init__(self, status: int, reason: str = "", message: str = "", body: Optional[Dict[str, Any]] = None,
                 retry_after: float = 0.0) -> None:
        super().__init__(f"{status} {reason}: {message}".strip())
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), 0 when none

    @property
    def transient(self) -> bool:
        """Worth retrying later: the server is unreachable, overloaded or failing (not a verdict on the request)."""
        return self.status == 0 or self.status == 429 or self.status >= 500


MAX_RETRY_AFTER = 600.0


def retry_after_seconds(value: Optional[str]) -> float:
    """A Retry-After header in seconds (the API server sends delta-seconds); 0 when absent or unreadable."""
    if not value:
        return 0.0
    try:
        seconds = float(value.strip())
    except ValueError:
        return 0.0
    return min(MAX_RETRY_AFTER, seconds) if seconds > 0 else 0.0


def _warn_insecure_once(host: str) -> None:
    """insecure-skip-tls-verify: say so once, instead of urllib3's warning on every request."""
    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    log.warning("TLS certificate of %s is not verified (insecure-skip-tls-verify in the kubeconfig)", host)


def load_configuration(kubeconfig: str = "", pool_size: int = 24) -> Any:
    """A kubernetes.client.Configuration from --kubeconfig, $KUBECONFIG, in-cluster or ~/.kube/config."""
    from kubernetes import client, config

    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG", "")
    try:
        if not path and os.environ.get("KUBERNETES_SERVICE_HOST"):
            # the client ships py.typed, but its config loaders carry no annotations
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call, unused-ignore]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call, unused-ignore]
                config_file=path or None, client_configuration=configuration)
    except (config.ConfigException, OSError, TypeError) as exc:
        raise ApiError(0, "ConfigError", f"cannot load Kubernetes configuration ({path or 'default'}): {exc}") from None
    configuration.connection_pool_maxsize = max(pool_size, 4)
    if not configuration.verify_ssl:
        _warn_insecure_once(configuration.host)
    return configuration


AUTH_REFRESH = 10.0  # seconds auth headers are reused


class KubeApi:
    """A thin raw-JSON client: request, list, watch and the scheduler's write calls."""

    def __init__(self, configuration: Any) -> None:
        from kubernetes.client import rest

        self.configuration = configuration
        self.host: str = configuration.host.rstrip("/")
        self.pool: urllib3.PoolManager = rest.RESTClientObject(configuration).pool_manager
        # One server: its connection pool (with the client's TLS settings) directly, which saves the
        # manager's per-request URL parsing and pool lookup.  Through a proxy the manager must build each request.
        self._server: Optional[urllib3.HTTPConnectionPool] = None
        self._connections: Optional[Connections] = None
        self._prefix = ""  # a path the server URL carries (e.g. a proxy in front of the API)
        if not isinstance(self.pool, urllib3.ProxyManager):
            self._server = self.pool.connection_from_url(self.host)
            self._connections = Connections(self._server, configuration.connection_pool_maxsize or 4)
            self._prefix = urllib3.util.parse_url(self.host).path or ""
        self._auth: Tuple[float, Dict[str, str]] = (float("-inf"), {})  # (valid until, auth headers)

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str = "", pool_size: int = 24) -> KubeApi:
        return cls(load_configuration(kubeconfig, pool_size))

    # ------------------------------------------------------------ transport
    def _headers(self, content_type: Optional[str]) -> Dict[str, str]:
        headers = {"Accept": JSON, "User-Agent": "preemptive-scheduler", **self._auth_headers()}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _auth_headers(self) -> Dict[str, str]:
        """The client's auth headers, computed at most every AUTH_REFRESH seconds instead of per request
        (the client's token refresh hooks still run then, so rotating tokens keep working)."""
        until, headers = self._auth
        now = time.monotonic()
        if now < until:
            return headers
        headers = {setting["key"]: setting["value"] for setting in self.configuration.auth_settings().values()
                   if setting.get("in") == "header" and setting.get("value")}
        self._auth = (now + AUTH_REFRESH, headers)
        return headers

    def _url(self, path: str, query: Optional[Dict[str, Any]], base: str) -> str:
        if not query:
            return base + path
        return base + path + "?" + urlencode({k: v for k, v in query.items() if v is not None})

    def open(self, path: str, query: Optional[Dict[str, Any]] = None,
             read_timeout: float = READ_TIMEOUT) -> urllib3.BaseHTTPResponse:
        """GET through urllib3 and return the raw, unread response, for streaming (watches); the caller must
        read or release it."""
        return self._urlopen("GET", path, query, None, self._headers(None), read_timeout)

    def _urlopen(self, method: str, path: str, query: Optional[Dict[str, Any]], data: Optional[bytes],
                 headers: Dict[str, str], read_timeout: float) -> urllib3.BaseHTTPResponse:
        """A request through urllib3 (streams, and everything when a proxy is configured); unread answer."""
        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout)
        try:
            if self._server is not None:
                return self._server.urlopen(
                    method, self._url(path, query, self._prefix), body=data, headers=headers,
                    preload_content=False, retries=False, timeout=timeout, assert_same_host=False)
            return self.pool.request(method, self._url(path, query, self.host), body=data, headers=headers,
                                     preload_content=False, retries=False, timeout=timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(0, "ConnectionError", str(exc)) from None

    def send(self, method: str, path: str, query: Optional[Dict[str, Any]] = None, body: Any = None,
             content_type: Optional[str] = None, read_timeout: float = READ_TIMEOUT) -> bytes:
        """Send a request and return the body of its 2xx answer, unparsed; any other answer raises ApiError."""
        data = None if body is None else orjson.dumps(body)
        if data is not None and content_type is None:
            content_type = JSON
        headers = self._headers(content_type)
        if self._connections is not None:
            status, raw, retry_after = self._connections.send(
                method, self._url(path, query, self._prefix), data, headers, read_timeout)
        else:
            status, raw, retry_after = self._via_proxy(method, path, query, data, headers, read_timeout)
        if not 200 <= status < 300:
            payload = _safe_json(raw)
            if not payload and raw:
                payload = {"message": raw[:200].decode(errors="replace")}
            raise ApiError(status, str(payload.get("reason", "")), str(payload.get("message", "")), payload,
                           retry_after_seconds(retry_after))
        return raw

    def request(self, method: str, path: str, query: Optional[Dict[str, Any]] = None, body: Any = None,
                content_type: Optional[str] = None, read_timeout: float = READ_TIMEOUT) -> Dict[str, Any]:
        """Send a request and return its JSON answer ({} when the body is empty).  A 2xx answer that is not a
        JSON object (a truncated body, a proxy's HTML page) raises a transient ApiError: taken for an empty
        answer, a list would make every object look deleted."""
        raw = self.send(method, path, query, body, content_type, read_timeout)
        if not raw:
            return {}
        try:
            payload = orjson.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ApiError(0, "InvalidAnswer", f"{method} {path}: the answer is not a JSON object "
                                               f"(starts {raw[:80].decode(errors='replace')!r})")
        return payload

    def _via_proxy(self, method: str, path: str, query: Optional[Dict[str, Any]], data: Optional[bytes],
                   headers: Dict[str, str], read_timeout: float) -> Tuple[int, bytes, Optional[str]]:
        response = self._urlopen(method, path, query, data, headers, read_timeout)
        try:
            return response.status, response.data, response.headers.get("Retry-After")
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(0, "ConnectionError", str(exc)) from None
        finally:
            response.release_conn()

    # ------------------------------------------------------------ reads
    def list(self, path: str, **query: Any) -> Dict[str, Any]:
        for watched_path, permission in WATCHED.values():
            if path == watched_path:
                _uses(permission)
        return self.request("GET", path, query)

    def watch(self, path: str, resource_version: str, timeout_seconds: int = 300,
              on_open: Callable[[], None] = lambda: None) -> Iterator[Dict[str, Any]]:
        """Yield watch events from `resource_version`; ends when the server closes the stream.

        `on_open` is called once the server has accepted the watch (before any event arrives)."""
        query = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": timeout_seconds}
        response = self.open(path, query, timeout_seconds + 30)
        try:
            if response.status != 200:
                payload = _safe_json(response.data)
                raise ApiError(response.status, str(payload.get("reason", "")), str(payload.get("message", "")), payload)
            on_open()
            buffer = b""
            for chunk in response.stream(64 * 1024, decode_content=True):
                lines = (buffer + chunk).split(b"\n")
                buffer = lines.pop()  # an incomplete last line waits for the next chunk
                for line in lines:
                    if line.strip():
                        yield orjson.loads(line)
            if buffer.strip():
                yield orjson.loads(buffer)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiError(0, "ConnectionError", f"watch {path} broke: {exc}") from None
        finally:
            response.release_conn()

    def server_version(self) -> Tuple[int, int]:
        info = self.request("GET", "/version")
        try:
            return int(info.get("major", "1")), int("".join(ch for ch in str(info.get("minor", "0")) if ch.isdigit()) or 0)
        except ValueError:
            return 1, 0

    def get_pod(self, namespace: str, name: str) -> Optional[Dict[str, Any]]:
        """The pod as the API has it now; None when it does not exist."""
        _uses(perm.PODS_LIST_WATCH)
        try:
            return self.request("GET", f"/api/v1/namespaces/{q(namespace)}/pods/{q(name)}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    # ------------------------------------------------------------ writes (each names its permission)
    def bind(self, namespace: str, name: str, node: str, uid: str = "") -> None:
        _uses(perm.PODS_BIND)
        body: Dict[str, Any] = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
                                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        if uid:
            body["metadata"]["uid"] = uid
        self.send("POST", f"/api/v1/namespaces/{q(namespace)}/pods/{q(name)}/binding", body=body)

    def evict(self, namespace: str, name: str, policy_version: str = "v1", grace_seconds: Optional[int] = None) -> None:
        _uses(perm.PODS_EVICT)
        body: Dict[str, Any] = {"apiVersion": f"policy/{policy_version}", "kind": "Eviction",
                                "metadata": {"name": name, "namespace": namespace}}
        if grace_seconds is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_seconds}
        self.send("POST", f"/api/v1/namespaces/{q(namespace)}/pods/{q(name)}/eviction", body=body)

    def patch_pod_status(self, namespace: str, name: str, status: Dict[str, Any]) -> None:
        _uses(perm.PODS_STATUS)
        self.send("PATCH", f"/api/v1/namespaces/{q(namespace)}/pods/{q(name)}/status",
                  body={"status": status}, content_type=STRATEGIC_MERGE)

    def patch_podgroup_status(self, namespace: str, name: str, status: Dict[str, Any]) -> None:
        _uses(perm.PODGROUPS_STATUS)
        self.send("PATCH", f"/apis/scheduling.x-k8s.io/v1alpha1/namespaces/{q(namespace)}/podgroups/{q(name)}/status",
                  body={"status": status}, content_type=MERGE)

    def create_event(self, namespace: str, body: Dict[str, Any]) -> None:
        """Create an Event (its name is in `body`, as client-go's recorder names them)."""
        _uses(perm.EVENTS)
        self.send("POST", f"/apis/events.k8s.io/v1/namespaces/{q(namespace)}/events", body=body)

    def patch_event(self, namespace: str, name: str, patch: Dict[str, Any]) -> None:
        _uses(perm.EVENTS)
        self.send("PATCH", f"/apis/events.k8s.io/v1/namespaces/{q(namespace)}/events/{q(name)}",
                  body=patch, content_type=MERGE)

    def get_lease(self, namespace: str, name: str) -> Dict[str, Any]:
        _uses(perm.LEASES)
        return self.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{q(namespace)}/leases/{q(name)}")

    def create_lease(self, namespace: str, body: Dict[str, Any]) -> Dict[str, Any]:
        _uses(perm.LEASES)
        return self.request("POST", f"/apis/coordination.k8s.io/v1/namespaces/{q(namespace)}/leases", body=body,
                            read_timeout=5.0)

    def update_lease(self, namespace: str, name: str, body: Dict[str, Any]) -> Dict[str, Any]:
        _uses(perm.LEASES)
        return self.request("PUT", f"/apis/coordination.k8s.io/v1/namespaces/{q(namespace)}/leases/{q(name)}",
                            body=body, read_timeout=5.0)


WATCHED = {
    "pods": ("/api/v1/pods", perm.PODS_LIST_WATCH),
    "nodes": ("/api/v1/nodes", perm.NODES),
    "poddisruptionbudgets": ("/apis/policy/v1/poddisruptionbudgets", perm.PDBS),
    "podgroups": ("/apis/scheduling.x-k8s.io/v1alpha1/podgroups", perm.PODGROUPS),
    "persistentvolumeclaims": ("/api/v1/persistentvolumeclaims", perm.PVCS),
    "persistentvolumes": ("/api/v1/persistentvolumes", perm.PVS),
    "storageclasses": ("/apis/storage.k8s.io/v1/storageclasses", perm.STORAGE_CLASSES),
    "namespaces": ("/api/v1/namespaces", perm.NAMESPACES),
}


class Connections:
    """Keep-alive connections to one API server, made by the kubernetes client's urllib3 pool (so TLS, CA,
    client certificates and socket options are the client's) and driven with http.client directly.

    Why not the pool's urlopen: its per-request bookkeeping (retry and timeout objects, URL re-parsing, a
    response wrapper) costs about as much CPU as the request itself, and the daemon makes two requests per
    pod (KubeApi.request measured 290 -> 185 us of CPU per request).  A connection that is idle here and was closed by the
    server is noticed before it is used (as urllib3 does); any failure closes it."""

    def __init__(self, pool: urllib3.HTTPConnectionPool, size: int) -> None:
        self._pool = pool
        self._size = size
        self._idle: List[Any] = []  # most recently used last; list.append/pop are atomic

    def send(self, method: str, url: str, body: Optional[bytes], headers: Dict[str, str],
             read_timeout: float) -> Tuple[int, bytes, Optional[str]]:
        """(status, body, Retry-After header) of one request; a transport failure raises ApiError status 0."""
        conn = self._take()
        try:
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout)
            http.client.HTTPConnection.request(conn, method, url, body, headers)
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout)  # a fresh connection was connected with the connect timeout
            response = http.client.HTTPConnection.getresponse(conn)
            raw = response.read()
            answer = response.status, raw, response.getheader("Retry-After")
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            conn.close()
            raise ApiError(0, "ConnectionError", f"{method} {url}: {exc or type(exc).__name__}") from None
        except BaseException:
            conn.close()  # e.g. interrupted mid-answer: the stream's position is unknown
            raise
        self._give_back(conn)
        return answer

    def _take(self) -> Any:
        while self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if conn.sock is not None and wait_for_read(conn.sock, timeout=0.0):
                conn.close()  # readable while idle: the server closed it (or sent garbage); never reuse it
                continue
            return conn
        conn = self._pool._new_conn()  # the pool's connection class and TLS settings, connected on first send
        conn.timeout = CONNECT_TIMEOUT
        return conn

    def _give_back(self, conn: Any) -> None:
        if len(self._idle) < self._size:
            self._idle.append(conn)
        else:
            conn.close()


def pool_size_for(bind_workers: int) -> int:
    """Connections the daemon may hold at once: a long-poll per watch, one per bind worker, and a few for the
    Event recorder, the Lease and re-reads (a smaller pool makes urllib3 discard and reopen connections)."""
    return bind_workers + len(WATCHED) + 4


def q(segment: str) -> str:
    return quote(segment, safe="")


USED_PERMISSIONS: Set[perm.Permission] = set()


def _uses(permission: perm.Permission) -> None:
    """Record which RBAC rule a call relies on (tests compare this with the table and the manifests)."""
    USED_PERMISSIONS.add(permission)


def _safe_json(raw: bytes) -> Dict[str, Any]:
    """An error answer's JSON object; {} when it is empty, not JSON, or JSON but not an object."""
    try:
        payload = orjson.loads(raw) if raw else {}
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
