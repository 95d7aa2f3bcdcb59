"""Label and field selectors, for list, watch and deletecollection (and PDB selectors).

The string forms are what clients put in ``?labelSelector=``/``?fieldSelector=``;
the object form is a ``metav1.LabelSelector`` as PodDisruptionBudgets carry it.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from scheduler.testing.apiserver.objects import JSON


def _split_top(s: str) -> List[str]:
    parts: List[str] = []
    depth = 0
    cur: List[str] = []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


LabelReq = Tuple[str, str, Tuple[str, ...]]  # key, op, values

_SET_RE = re.compile(r"^([^\s!=]+)\s+(in|notin)\s*\((.*)\)$")


def parse_label_selector(s: str) -> List[LabelReq]:
    reqs: List[LabelReq] = []
    for term in _split_top(s):
        m = _SET_RE.match(term)
        if m:
            vals = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append((m.group(1), m.group(2), vals))
        elif "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((k.strip(), "!=", (v.strip(),)))
        elif "==" in term:
            k, v = term.split("==", 1)
            reqs.append((k.strip(), "=", (v.strip(),)))
        elif "=" in term:
            k, v = term.split("=", 1)
            reqs.append((k.strip(), "=", (v.strip(),)))
        elif term.startswith("!"):
            reqs.append((term[1:].strip(), "!exists", ()))
        else:
            reqs.append((term, "exists", ()))
    return reqs


def labels_match(reqs: List[LabelReq], labels: Optional[Dict[str, str]]) -> bool:
    labels = labels or {}
    for k, op, vals in reqs:
        v = labels.get(k)
        if op == "=":
            if v != vals[0]:
                return False
        elif op == "!=":
            if v == vals[0]:
                return False
        elif op == "in":
            if v is None or v not in vals:
                return False
        elif op == "notin":
            if v is not None and v in vals:
                return False
        elif op == "exists":
            if v is None:
                return False
        elif op == "!exists":
            if v is not None:
                return False
    return True


def label_selector_object_matches(sel: Optional[JSON], labels: Optional[Dict[str, str]]) -> bool:
    """metav1.LabelSelector semantics: an empty selector matches everything."""
    if sel is None:
        return False
    labels = labels or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


FieldReq = Tuple[Tuple[str, ...], bool, str]  # path, negate, value


def parse_field_selector(s: str) -> List[FieldReq]:
    reqs: List[FieldReq] = []
    for term in _split_top(s):
        if "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((tuple(k.strip().split(".")), True, v.strip()))
        else:
            k, v = term.split("==", 1) if "==" in term else term.split("=", 1)
            reqs.append((tuple(k.strip().split(".")), False, v.strip()))
    return reqs


def fields_match(reqs: List[FieldReq], obj: JSON) -> bool:
    for path, neg, val in reqs:
        cur: Any = obj
        for p in path:
            cur = cur.get(p) if isinstance(cur, dict) else None
        cur = "" if cur is None else (str(cur).lower() if isinstance(cur, bool) else str(cur))
        if (cur == val) == neg:
            return False
    return True
