"""A stand-in kube-apiserver for tests and benchmarks.

``FakeApiServer`` is a small, threaded HTTP server on loopback that keeps
Kubernetes objects in memory and speaks enough of the real kube-apiserver's
REST protocol for the *unmodified* ``kubernetes`` Python client (v35-v37) to
work against it through an ordinary kubeconfig (plain http; any bearer token
is accepted and ignored).

Quick start::

    from kubernetes import client, config
    from scheduler.testing import FakeApiServer, NodeAgent

    with FakeApiServer() as srv:                 # port 0 = pick a free port
        srv.write_kubeconfig("/tmp/kubeconfig")
        api = client.CoreV1Api(config.new_client_from_config("/tmp/kubeconfig"))
        srv.create({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": "n1"},
                    "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})
        agent = NodeAgent(srv); agent.start()      # plays the kubelets
        ...                                        # run the scheduler against it
        assert all(srv.bindings_count(k) <= 1 for k in srv.bound_pods())
        agent.stop()

Out of process (the benchmark does this to use a second core)::

    python -m scheduler.testing.apiserver --port 0 --kubeconfig-out /tmp/kc \\
        --node-agent --nodes 100 --node-cpu 32 --node-memory 128Gi

prints the URL on stdout and serves until SIGTERM/SIGINT.

What is modelled (faithful to kube-apiserver where the scheduler cares):

* one global, monotonically increasing ``resourceVersion`` (a decimal string);
* discovery (``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>``,
  ``/apis/<group>/<version>``);
* resources: core ``pods`` (+ ``binding``, ``eviction``, ``status``), ``nodes``
  (+ ``status``), ``namespaces``, ``events``, ``bindings``,
  ``persistentvolumeclaims`` and ``persistentvolumes`` (+ ``status``; stored as
  given: nothing binds or provisions them); ``storage.k8s.io/v1``
  ``storageclasses``; ``policy/v1``
  ``poddisruptionbudgets`` (status.disruptionsAllowed kept current);
  ``scheduling.k8s.io/v1`` ``priorityclasses`` (pods' ``priorityClassName`` is
  resolved into ``spec.priority`` like the Priority admission plugin);
  ``scheduling.x-k8s.io/v1alpha1`` ``podgroups`` (404 everywhere while
  ``srv.podgroup_crd_installed`` is False); ``coordination.k8s.io/v1``
  ``leases`` (MicroTime validated); ``events.k8s.io/v1`` ``events``;
* list with ``labelSelector`` (=, ==, !=, in, notin, exists, !exists),
  ``fieldSelector`` (=, ==, != on any dotted path such as ``spec.nodeName``),
  ``limit``/``continue``;
* watch (``?watch=1``): chunked newline-delimited JSON events; RV ""/"0" starts
  with synthetic ADDED events; resuming from an RV older than the kept history
  answers HTTP 200 + an ERROR event carrying a 410 ``Expired`` Status;
  ``allowWatchBookmarks=true`` gets BOOKMARKs every ``srv.bookmark_interval``
  seconds; ``timeoutSeconds`` ends the stream; ``sendInitialEvents=true`` ends
  the initial events with the ``k8s.io/initial-events-end`` bookmark; objects
  that start/stop matching a selector are sent as ADDED/DELETED;
* POST (409 AlreadyExists, ``generateName``), GET, PUT (409 Conflict on a stale
  ``metadata.resourceVersion``), PATCH (strategic-merge, merge and JSON patch),
  DELETE (pods are deleted gracefully when bound: ``deletionTimestamp`` +
  ``deletionGracePeriodSeconds``; the ``NodeAgent`` finishes them);
* binding: 201 Status; 409 when already bound, being deleted or gated; 404;
* eviction: 201; 429 when a PodDisruptionBudget would be violated; 404;
* every error body is a ``Status`` object; bodies without Content-Type are
  accepted; every response has a Content-Length (or is chunked).

Python API (all return plain JSON dicts, copies of what is stored)::

    FakeApiServer(host="127.0.0.1", port=0, history_size=100_000,
                  bookmark_interval=2.0, default_watch_timeout=1800.0)
    srv.start() / srv.stop() / with FakeApiServer() as srv: ...
    srv.restart(down_for=0.0)          # see "Restarts" below; srv.serving -> bool
    srv.url, srv.port, srv.resource_version
    srv.write_kubeconfig(path, namespace="default") -> path
    srv.create(obj) -> dict            # kind/apiVersion from obj; sets uid, RV, timestamps
    srv.get(kind, namespace, name) -> dict | None   # kind: "Pod", "pods", "events.k8s.io/events"
    srv.list(kind, namespace=None) -> list[dict]
    srv.update(obj) -> dict            # wholesale replace (spec and status)
    srv.modify(kind, namespace, name, change) -> dict | None
                                       # read-modify-write, no other write in between;
                                       # change(copy) returns the new object or None
    srv.delete(kind, namespace, name, grace_period_seconds=None, uid=None) -> dict | None
    srv.bind(namespace, name, node) -> Status   # as POST pods/binding (409 / 404 as ApiError)
    srv.events() -> list[dict]         # events.k8s.io/v1 and core v1 Events
    srv.bindings                       # [{"pod": "ns/name", "uid", "node", "resourceVersion", "time"}]
    srv.bindings_count("ns/name") -> int ; srv.bound_pods() -> list[str]
    srv.request_counts                 # Counter{(METHOD, "pods/binding"): n, ...} (approximate)
    srv.watcher_count(kind=None) -> int
    srv.podgroup_crd_installed = False # podgroups answer 404, vanish from discovery
    srv.bookmark_interval = 0.2        # seconds between BOOKMARKs (real server: ~60 s)

In-process watching (what the ``NodeAgent`` uses; no HTTP, survives restarts)::

    w = srv.open_watch("pods")         # w.objects: the pods now; w.get(timeout) -> event | None
    ev.type, ev.obj, ev.old            # ADDED/MODIFIED/DELETED and the stored dicts (read-only)
    w.empty(); w.close()
    with srv.atomic(): ...             # no write lands inside: several watches, one RV

Note ``srv.delete("Pod", ...)`` follows the real rules: a bound pod with a
grace period is only marked for deletion; run a ``NodeAgent`` (or pass
``grace_period_seconds=0``) to have it removed.

Fault injection (``srv.faults``)::

    srv.faults.drop_watches()        # end every open watch stream now
    srv.faults.expire_history()      # resuming from any older RV -> ERROR 410 Expired
    srv.faults.fail_next(method, path_regex, status, count=1, message=None, retry_after=None)
        # method None/"*" = any; path_regex is re.search'ed on the URL path (no query);
        # retry_after adds a Retry-After header - urllib3 (so the kubernetes client)
        # then retries 413/429/503 by itself
    srv.faults.delay(seconds, path_regex=None)   # latency; delay(0, same_regex) removes
    srv.faults.hang_after_apply(path_regex, seconds, count=1, method=None)
        # apply the request (a bind binds, watchers see it), then hold the answer
        # `seconds` and close the connection unanswered: the client gets a read
        # timeout (seconds > its read timeout) or a connection error (0 = at once).
        # Note urllib3 retries idempotent methods (GET, PUT, DELETE) after such an
        # error unless retries=False; POSTs are not retried.
    srv.faults.clear()

Restarts (the store survives, the watch history does not)::

    srv.restart(down_for=0.5)        # blocking: stop, refuse connections 0.5 s, start
    srv.stop(); ...; srv.start()     # non-blocking: down while the test does other things

``stop()`` closes the listening socket and every open connection, watch
streams included (clients see a broken stream, a dropped keep-alive connection
or "connection refused"), and keeps objects, the resourceVersion counter,
``bindings``, ``request_counts`` and ``faults``. ``start()`` after ``stop()``
serves the same store on the same port (SO_REUSEADDR) with an empty watch
history: resuming a watch from any RV seen before the restart answers the ERROR
410 Expired event (the RV is bumped once on restart, so even the latest old RV
is too old - stricter than a real server, deterministic for tests), and a list
returns the current objects and an RV to watch from. The Python API works while
the server is down, and a ``NodeAgent`` (in-process) keeps working throughout.

Known simplifications: no authn/authz, admission only resolves
``priorityClassName``; no namespace existence checks; ``resourceVersion`` on a
list is ignored (always the latest state); no server-side apply; pods' spec
immutability is checked coarsely; ``status`` writes on the main resource are
ignored (as on the real server) but ``srv.update`` writes everything.

Modules (one concern each): ``server`` (FakeApiServer), ``store`` (objects,
resourceVersions, watch history and fan-out), ``registry`` (create/update/
delete rules), ``admission`` (validation and defaulting), ``binding``,
``eviction`` (Eviction API and PodDisruptionBudgets), ``faults``, ``serving``
(sockets and connections), ``routing`` (URLs and discovery), ``listwatch``,
``selectors``, ``patches``, ``resources``, ``errors``, ``objects``, ``cli``.
"""

from scheduler.testing.apiserver.cli import main
from scheduler.testing.apiserver.errors import ApiError, status_object
from scheduler.testing.apiserver.faults import Faults
from scheduler.testing.apiserver.objects import make_node, now_microtime, now_rfc3339, rfc3339
from scheduler.testing.apiserver.patches import json_patch, merge_patch, strategic_merge_patch
from scheduler.testing.apiserver.resources import PODGROUP_GROUP, RESOURCES, Resource
from scheduler.testing.apiserver.selectors import (
                                                   fields_match,
                                                   label_selector_object_matches,
                                                   labels_match,
                                                   parse_field_selector,
                                                   parse_label_selector,
)
from scheduler.testing.apiserver.server import FakeApiServer
from scheduler.testing.apiserver.store import LocalWatch, WatchEvent

__all__ = [
    "FakeApiServer", "Faults", "ApiError", "Resource", "RESOURCES", "main", "make_node",
    "LocalWatch", "WatchEvent", "PODGROUP_GROUP", "status_object", "now_rfc3339", "rfc3339",
    "now_microtime", "parse_label_selector", "labels_match", "label_selector_object_matches",
    "parse_field_selector", "fields_match", "merge_patch", "strategic_merge_patch", "json_patch",
]
