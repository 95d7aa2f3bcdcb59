"""scheduler_perf-like workloads, built as raw API objects like the real ones."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from scheduler.core.model import MIN_AVAILABLE_ANNOTATION, POD_GROUP_LABEL, PRIORITY_ANNOTATION

NODE_CPU = "32"
NODE_MEMORY = "128Gi"
NODE_PODS = "110"


def node(name: str, cpu: str = NODE_CPU, memory: str = NODE_MEMORY, pods: str = NODE_PODS,
         labels: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {},
        "status": {"allocatable": allocatable, "capacity": allocatable,
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod(
    name: str,
    scheduler_name: str,
    cpu: str = "100m",
    memory: str = "500Mi",
    priority: Optional[int] = None,
    node_name: str = "",
    namespace: str = "default",
    gang: str = "",
    min_available: int = 0,
    created: float = 0.0,
    labels: Optional[Dict[str, str]] = None,
    **spec_fields: Any,
) -> Dict[str, Any]:
    """A pod; `labels` replace the default app=bench, extra keyword arguments go into its spec (affinity, ...)."""
    annotations: Dict[str, str] = {}
    labels = dict(labels) if labels is not None else {"app": "bench"}
    if priority is not None:
        annotations[PRIORITY_ANNOTATION] = str(priority)
    if gang:
        labels[POD_GROUP_LABEL] = gang
        annotations[MIN_AVAILABLE_ANNOTATION] = str(min_available)
    spec: Dict[str, Any] = {
        "schedulerName": scheduler_name,
        "containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
        "terminationGracePeriodSeconds": 0,
        **spec_fields,
    }
    status: Dict[str, Any] = {"phase": "Pending"}
    if node_name:
        spec["nodeName"] = node_name
        status = {"phase": "Running", "startTime": created}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                     "labels": labels, "annotations": annotations, "creationTimestamp": created},
        "spec": spec,
        "status": status,
    }


def nodes(count: int, **kwargs: Any) -> List[Dict[str, Any]]:
    return [node(f"node-{i}", **kwargs) for i in range(count)]
