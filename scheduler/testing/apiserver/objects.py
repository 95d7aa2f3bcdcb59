"""Plain-JSON helpers shared by the stand-in: kube's timestamp formats, cheap copies, a Ready node.

Objects are kept as the JSON dicts a client would see, so every layer works on
the wire format and nothing needs converting at the HTTP edge.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Dict, Optional, TypeVar

JSON = Dict[str, Any]
T = TypeVar("T")


def now_rfc3339() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_microtime() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clone(obj: T) -> T:
    """A deep copy; a json round trip is faster than copy.deepcopy for plain JSON data."""
    copy: T = json.loads(json.dumps(obj))
    return copy


def make_node(name: str, cpu: str = "32", memory: str = "128Gi", pods: str = "110",
              labels: Optional[Dict[str, str]] = None) -> JSON:
    """A Ready node object with the given allocatable resources."""
    ts = now_rfc3339()
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                              "kubernetes.io/os": "linux", **(labels or {})}},
        "spec": {},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "lastHeartbeatTime": ts, "lastTransitionTime": ts}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                          {"type": "Hostname", "address": name}],
        },
    }
