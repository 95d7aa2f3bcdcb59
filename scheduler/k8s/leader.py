"""Leader election with a coordination.k8s.io/v1 Lease.

Same timing as kube-scheduler: 15 s lease, 10 s renew deadline, 2 s retry.
A replica is leader only while its last successful renewal is younger than
the renew deadline — checked locally on every `is_leader()` call, so a
replica cut off from the API stops acting at once, before anyone else can
take the lease.  Updates use the Lease's resourceVersion (optimistic
concurrency): two candidates can never both win.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any, Callable, Dict, Optional

from scheduler.k8s.api import ApiError, KubeApi
from scheduler.k8s.events import micro_time

log = logging.getLogger(__name__)


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


class LeaderElector:
    def __init__(self, api: KubeApi, namespace: str, name: str, identity: Optional[str] = None,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 on_change: Callable[[bool], None] = lambda leading: None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_change = on_change
        self.clock = clock
        self.wall = wall
        self._renewed_at: Optional[float] = None  # monotonic time of our last successful acquire/renew
        self._observed: Dict[str, Any] = {}
        self._observed_at = 0.0
        self._leading = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leader-elector", daemon=True)

    # ------------------------------------------------------------ public
    def start(self) -> LeaderElector:
        self._thread.start()
        return self

    def is_leader(self) -> bool:
        renewed = self._renewed_at
        return renewed is not None and self.clock() - renewed < self.renew_deadline

    def stop(self, release: bool = True) -> None:
        self._stop.set()
        self._thread.join(timeout=self.retry_period + 5)
        if release and self.is_leader():
            self.release()
        self._set_leading(False)

    def release(self) -> None:
        """Give the lease up so a successor need not wait for it to expire."""
        lease = self._observed
        if not lease or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        spec = dict(lease.get("spec") or {})
        spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": micro_time(self.wall())})
        body = dict(lease, spec=spec)
        try:
            self.api.update_lease(self.namespace, self.name, body)
            log.info("released leader lease %s/%s", self.namespace, self.name)
        except ApiError as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)
        self._renewed_at = None

    # ------------------------------------------------------------ loop
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.try_acquire_or_renew()
            except ApiError as exc:
                log.warning("leader election: %s", exc)
            self._set_leading(self.is_leader())
            self._stop.wait(self.retry_period)

    def _set_leading(self, leading: bool) -> None:
        if leading != self._leading:
            self._leading = leading
            log.info("%s leadership of %s/%s", "acquired" if leading else "lost", self.namespace, self.name)
            self.on_change(leading)

    def _lease_body(self, acquire_time: str, transitions: int) -> Dict[str, Any]:
        now = micro_time(self.wall())
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_duration),
                "acquireTime": acquire_time or now,
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        }

    def try_acquire_or_renew(self) -> bool:
        """One election round; True when we hold the lease afterwards."""
        started = self.clock()
        try:
            lease = self.api.get_lease(self.namespace, self.name)
        except ApiError as exc:
            if exc.status != 404:
                raise
            created = self.api.create_lease(self.namespace, self._lease_body("", 0))
            self._won(created, started)
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if lease.get("metadata", {}).get("resourceVersion") != self._observed.get("metadata", {}).get("resourceVersion"):
            self._observed, self._observed_at = lease, started  # expiry is judged on our clock, not theirs
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and started - self._observed_at < duration:
            return False  # someone else holds a lease that has not expired by our observation
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == self.identity:
            acquire_time = spec.get("acquireTime") or ""
        else:
            acquire_time, transitions = "", transitions + 1
        body = self._lease_body(acquire_time, transitions)
        body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
        try:
            updated = self.api.update_lease(self.namespace, self.name, body)
        except ApiError as exc:
            if exc.status == 409:
                return False  # somebody else wrote it first
            raise
        self._won(updated, started)
        return True

    def _won(self, lease: Dict[str, Any], started: float) -> None:
        self._observed, self._observed_at = lease, started
        self._renewed_at = started
