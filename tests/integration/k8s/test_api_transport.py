"""KubeApi's transport against a real HTTP(S) server: TLS with client certificates, kept-alive connections,
and connections the server dropped, timed out or answered late (the answer must never reach a later request)."""
from __future__ import annotations

import base64
import contextlib
import ssl
import threading
from typing import Any, Dict, Iterator, List, Optional

import pytest
import trustme

from scheduler.k8s.api import ApiError, KubeApi
from scheduler.testing.apiserver.server import FakeApiServer

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
       "spec": {"containers": [{"name": "c", "image": "x"}]}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[FakeApiServer]:
    """HTTPS with a certificate from `ca`, demanding a client certificate signed by `ca` (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    with FakeApiServer(tls=context) as srv:
        yield srv


def _tls_kubeconfig(srv: FakeApiServer, path: str, ca: trustme.CA, client: trustme.LeafCert) -> str:
    return srv.write_kubeconfig(path, cluster={"certificate-authority-data": _b64(ca.cert_pem.bytes())}, user={
        "client-certificate-data": _b64(client.cert_chain_pems[0].bytes()),
        "client-key-data": _b64(client.private_key_pem.bytes())})


@pytest.fixture
def plain_server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as srv:
        yield srv


def _api(srv: FakeApiServer, tmp_path: Any) -> KubeApi:
    return KubeApi.from_kubeconfig(srv.write_kubeconfig(str(tmp_path / "kubeconfig")))


def test_mutual_tls_requests_writes_and_watches_reuse_one_connection(tls_server, ca, tmp_path):
    api = KubeApi.from_kubeconfig(_tls_kubeconfig(tls_server, str(tmp_path / "kc"), ca, ca.issue_cert("scheduler")))
    tls_server.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    listed = api.list("/api/v1/pods")
    api.request("POST", "/api/v1/namespaces/default/pods", body=POD)
    api.bind("default", "p", "n1")
    assert tls_server.bound_pods() == ["default/p"]
    for _ in range(20):
        assert api.list("/api/v1/nodes")["items"][0]["metadata"]["name"] == "n1"
    assert tls_server.connections_accepted == 1  # 23 requests, one TLS handshake
    events = api.watch("/api/v1/pods", listed["metadata"]["resourceVersion"], timeout_seconds=1)
    first = next(events)
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "p")
    events.close()


def test_a_server_certificate_from_another_ca_is_refused_with_the_reason(tls_server, ca, tmp_path):
    other = trustme.CA()
    kubeconfig = _tls_kubeconfig(tls_server, str(tmp_path / "kc"), other, ca.issue_cert("scheduler"))
    api = KubeApi.from_kubeconfig(kubeconfig)
    with pytest.raises(ApiError) as failure:
        api.list("/api/v1/pods")
    assert failure.value.status == 0 and "CERTIFICATE_VERIFY_FAILED" in failure.value.message
    assert failure.value.transient


def test_a_client_without_a_certificate_is_refused_by_a_mutual_tls_server(tls_server, ca, tmp_path):
    kubeconfig = tls_server.write_kubeconfig(str(tmp_path / "kc"),
                                             cluster={"certificate-authority-data": _b64(ca.cert_pem.bytes())})
    with pytest.raises(ApiError) as failure:
        KubeApi.from_kubeconfig(kubeconfig).list("/api/v1/pods")
    assert failure.value.status == 0


def test_connections_the_server_closed_while_idle_are_not_used(plain_server, tmp_path):
    api = _api(plain_server, tmp_path)
    api.list("/api/v1/pods")
    plain_server.restart()  # drops every connection, like an API server restart or an idle-timeout
    assert api.list("/api/v1/pods")["kind"] == "PodList"  # a fresh connection, no error
    assert plain_server.connections_accepted == 2


def test_a_late_answer_never_reaches_the_next_request(plain_server, tmp_path):
    """A binding whose answer comes after the read timeout fails as a transport error; the connection is
    closed, so the next request reads its own answer, not the stale one."""
    api = _api(plain_server, tmp_path)
    plain_server.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    api.request("POST", "/api/v1/namespaces/default/pods", body=POD)
    plain_server.faults.delay(1.0, r"/binding$")
    with pytest.raises(ApiError) as failure:
        api.send("POST", "/api/v1/namespaces/default/pods/p/binding", body={
            "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}},
            read_timeout=0.2)
    assert failure.value.status == 0 and failure.value.transient
    assert api.request("GET", "/version")["major"]  # its own answer, not the binding's
    pod = api.get_pod("default", "p")
    assert pod is not None and pod["metadata"]["name"] == "p"


def test_an_answer_lost_after_the_write_is_a_transport_error(plain_server, tmp_path):
    api = _api(plain_server, tmp_path)
    plain_server.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    api.request("POST", "/api/v1/namespaces/default/pods", body=POD)
    plain_server.faults.hang_after_apply(r"/binding$", 0)
    with pytest.raises(ApiError) as failure:
        api.bind("default", "p", "n1")
    assert failure.value.status == 0
    assert plain_server.bound_pods() == ["default/p"]  # it happened: the caller re-reads to learn that
    assert api.get_pod("default", "p")["spec"]["nodeName"] == "n1"


def test_an_unreachable_server_is_a_transient_error(tmp_path):
    with FakeApiServer() as srv:
        api = _api(srv, tmp_path)
    with pytest.raises(ApiError) as failure:
        api.list("/api/v1/pods")
    assert failure.value.status == 0 and failure.value.transient


def test_idle_connections_are_bounded_by_the_pool_size(plain_server, tmp_path):
    api = KubeApi.from_kubeconfig(plain_server.write_kubeconfig(str(tmp_path / "kc")), pool_size=4)
    plain_server.faults.delay(0.2, r"^/version$")  # hold each request so that 12 are open at once
    errors: Dict[int, Exception] = {}

    def ask(i: int) -> None:
        try:
            api.request("GET", "/version")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert plain_server.connections_accepted == 12
    for _ in range(50):  # the server notices closed connections asynchronously
        if plain_server.connections_open <= 4:
            break
        threading.Event().wait(0.05)
    assert plain_server.connections_open == 4


@contextlib.contextmanager
def answering(body: bytes, seen: Optional[List[str]] = None, status: int = 200) -> Iterator[str]:
    """A bare HTTP server answering every GET with `status` and `body` (the request paths go to `seen`);
    yields its URL."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
            if seen is not None:
                seen.append(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _api_at(url: str, proxy: Optional[str] = None) -> KubeApi:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    configuration.proxy = proxy
    return KubeApi(configuration)


def test_a_server_url_with_a_path_keeps_it_in_every_request():
    """e.g. an API behind a proxy at https://host/k8s/clusters/c-1: requests go below that path."""
    seen: List[str] = []
    with answering(b'{"kind": "PodList", "items": []}', seen) as url:
        assert _api_at(url + "/k8s/clusters/c-1/").request("GET", "/api/v1/pods", {"limit": 1}) == {
            "kind": "PodList", "items": []}
    assert seen == ["/k8s/clusters/c-1/api/v1/pods?limit=1"]


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"kind": "PodList", "items": [', b"[1, 2]"])
def test_a_2xx_answer_that_is_not_a_json_object_is_a_transient_error(body):
    """e.g. a proxy's error page with status 200, or a body cut short: never read as an empty list."""
    with answering(body) as url:
        with pytest.raises(ApiError) as failure:
            _api_at(url).list("/api/v1/pods")
    assert failure.value.transient and failure.value.reason == "InvalidAnswer"
    assert body[:20].decode() in failure.value.message



@pytest.mark.parametrize("body", [b"[1, 2]", b'"overloaded"', b"<html>503</html>"])
def test_an_error_answer_whose_body_is_not_a_json_object_is_still_an_api_error(body):
    """e.g. a proxy answering 503 with a JSON array or an HTML page: the status and the body's text are kept."""
    with answering(body, status=503) as url:
        with pytest.raises(ApiError) as failure:
            _api_at(url).request("GET", "/version")
    assert failure.value.status == 503 and failure.value.transient
    assert failure.value.message == body.decode()


def test_through_a_configured_proxy_every_request_goes_to_the_proxy():
    """The kubeconfig's proxy-url: urllib3's proxy manager builds each request (absolute URL to the proxy)."""
    seen: List[str] = []
    with answering(b'{"major": "1", "minor": "31"}', seen) as proxy:
        assert _api_at("http://kube.invalid:6443", proxy=proxy).server_version() == (1, 31)
    assert seen == ["http://kube.invalid:6443/version"]
