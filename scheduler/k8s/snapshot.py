"""Read a live cluster once (read-only) into a SchedulingLoop, for `plan --kubeconfig`."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, List, Optional, Tuple

from scheduler.config import Config
from scheduler.core.loop import SchedulingLoop
from scheduler.core.model import ModelError
from scheduler.core.parse import parse_namespace, parse_node, parse_pdb, parse_pod
from scheduler.core.volumes import VolumeObject, parse_claim, parse_storage_class, parse_volume
from scheduler.k8s.api import WATCHED, ApiError, KubeApi
from scheduler.stack import build_loop, defaults_from, load_source_from

log = logging.getLogger(__name__)


def loop_from_cluster(config: Config, api: Optional[KubeApi] = None) -> SchedulingLoop:
    """List nodes, pods, PodDisruptionBudgets, volume objects and namespaces; nothing is written to the cluster."""
    api = api or KubeApi.from_kubeconfig(config.kubeconfig)
    loop = build_loop(config, time.monotonic, load_enabled=bool(config.prometheus_url))
    defaults = defaults_from(config)
    for obj in api.list(WATCHED["nodes"][0]).get("items") or []:
        try:
            loop.node_changed(parse_node(obj, defaults.quantities))
        except ModelError as exc:
            log.warning("skipping node: %s", exc)
    for obj in api.list(WATCHED["pods"][0]).get("items") or []:
        try:
            pod = parse_pod(obj, defaults)
        except ModelError as exc:
            log.warning("skipping pod: %s", exc)
            continue
        if pod.node_name:  # only placed pods matter for a what-if; pending ones are not queued
            loop.pod_changed(pod)
    if config.preemption:
        try:
            for obj in api.list(WATCHED["poddisruptionbudgets"][0]).get("items") or []:
                loop.pdb_changed(parse_pdb(obj))
        except (ApiError, ModelError) as exc:
            log.warning("PodDisruptionBudgets not read (%s); victims may include protected pods", exc)
    _read_volumes_and_namespaces(api, loop)
    if config.prometheus_url:
        _read_load(loop, config)
    return loop


def _read_volumes_and_namespaces(api: KubeApi, loop: SchedulingLoop) -> None:
    """Claims, volumes and storage classes (for pods that mount claims) and namespace labels; a list we may not
    read is skipped with a warning."""
    parsers: Tuple[Tuple[str, Callable[[Any], VolumeObject]], ...] = (
        ("persistentvolumeclaims", parse_claim), ("persistentvolumes", parse_volume), ("storageclasses", parse_storage_class))
    for resource, parse in parsers:
        for obj in _items(api, resource):
            try:
                loop.volume_object_changed(parse(obj))
            except ModelError as exc:
                log.warning("skipping %s: %s", resource, exc)
    for obj in _items(api, "namespaces"):
        try:
            loop.namespace_changed(*parse_namespace(obj))
        except ModelError as exc:
            log.warning("skipping namespace: %s", exc)


def _items(api: KubeApi, resource: str) -> List[Any]:
    try:
        return list(api.list(WATCHED[resource][0]).get("items") or [])
    except ApiError as exc:
        log.warning("%s not read (%s); what depends on them may be judged wrongly", resource, exc)
        return []


def _read_load(loop: SchedulingLoop, config: Config) -> None:
    """One Prometheus reading, so `plan` shows utilisation against alpha (nothing is retried)."""
    from scheduler.metrics.prometheus_source import on_clock

    reading = load_source_from(config).fetch(loop.nodes())
    if not reading.up:
        log.warning("load metrics unavailable (%s); planning on requests alone", reading.error)
        return
    loop.load_changed(on_clock(reading.values, time.monotonic))
