"""PATCH bodies: strategic-merge (the client's default), JSON merge (RFC 7386) and JSON patch (RFC 6902).

Strategic merge matters most: the scheduler patches pod status, and
``conditions`` must merge by ``type`` there rather than replace the list.
"""
from __future__ import annotations

import copy
from typing import Any, List, Tuple

from scheduler.testing.apiserver.errors import ApiError
from scheduler.testing.apiserver.objects import JSON

# list fields merged by key under strategic-merge-patch (others are replaced)
SMP_MERGE_KEYS = {
    "conditions": "type", "containers": "name", "initContainers": "name",
    "ephemeralContainers": "name", "containerStatuses": "name",
    "initContainerStatuses": "name", "volumes": "name", "env": "name",
    "ports": "containerPort", "ownerReferences": "uid", "addresses": "type",
    "volumeMounts": "mountPath", "imagePullSecrets": "name", "resourceClaims": "name",
    "schedulingGates": "name",
}
SMP_SET_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A subset of Kubernetes strategic-merge-patch, enough for pods/nodes/status."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if patch.get("$patch") == "delete":
        return None
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue  # $setElementOrder, $retainKeys, $deleteFromPrimitiveList ...
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in SMP_MERGE_KEYS and isinstance(out.get(k), list):
            out[k] = _merge_list(out[k], v, SMP_MERGE_KEYS[k])
        elif isinstance(v, list) and k in SMP_SET_LISTS and isinstance(out.get(k), list):
            out[k] = list(out[k]) + [x for x in v if x not in out[k]]
        elif isinstance(v, dict):
            r = strategic_merge_patch(out.get(k), v)
            if r is None:
                out.pop(k, None)
            else:
                out[k] = r
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_list(cur: List[Any], patch: List[Any], key: str) -> List[Any]:
    out = list(cur)
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            out.append(copy.deepcopy(item))
            continue
        idx = next((i for i, e in enumerate(out) if isinstance(e, dict) and e.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("$")})
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def _ptr(path: str) -> List[str]:
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(doc: Any, ops: List[JSON]) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, test, copy, move)."""
    doc = copy.deepcopy(doc)

    def parent(path: str) -> Tuple[Any, str]:
        parts = _ptr(path)
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur, parts[-1]

    def get(path: str) -> Any:
        cur = doc
        for p in _ptr(path):
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        try:
            if kind == "test":
                if get(path) != op.get("value"):
                    raise ApiError(422, f"the server rejected our request due to an error in our request: test failed for {path}")
                continue
            if kind in ("copy", "move"):
                val = copy.deepcopy(get(op["from"]))
                if kind == "move":
                    json_patch_remove = parent(op["from"])
                    c, k = json_patch_remove
                    c.pop(int(k)) if isinstance(c, list) else c.pop(k)
                kind, op = "add", {"value": val}
            c, k = parent(path)
            if kind == "add":
                if isinstance(c, list):
                    c.insert(len(c) if k == "-" else int(k), copy.deepcopy(op.get("value")))
                else:
                    c[k] = copy.deepcopy(op.get("value"))
            elif kind == "replace":
                if isinstance(c, list):
                    c[int(k)] = copy.deepcopy(op.get("value"))
                else:
                    if k not in c:
                        raise KeyError(k)
                    c[k] = copy.deepcopy(op.get("value"))
            elif kind == "remove":
                c.pop(int(k)) if isinstance(c, list) else c.pop(k)
            else:
                raise ApiError(400, f"unexpected kind of patch operation: {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, f"the server rejected our request due to an error in our request: "
                                f"jsonpatch {kind} operation does not apply: doc is missing path: {path}") from None
    return doc
