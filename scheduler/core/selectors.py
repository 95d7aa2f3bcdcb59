"""Label and node selectors from raw JSON: requirement lists, and `{matchLabels, matchExpressions}`.

Shared by the pod, budget, volume and affinity parsers.  Untrusted input: every
shape is checked, and only ModelError escapes.
"""
from __future__ import annotations

from typing import Any, Optional

from scheduler.core.model import VALID_OPERATORS, ModelError, NodeSelectorTerm, Requirement
from scheduler.core.untrusted import as_array, as_object, as_string_map, preview

LABEL_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
"""A label selector's operators (node selectors also allow Gt and Lt)."""


def parse_requirements(raw: Any, where: str, operators: frozenset[str] = VALID_OPERATORS) -> NodeSelectorTerm:
    """A matchExpressions list -> requirements (ANDed)."""
    reqs = []
    for raw_item in as_array(raw, where):
        item = as_object(raw_item, where)
        op = item.get("operator", "")
        if not isinstance(op, str) or op not in operators:
            raise ModelError(f"{where}: unknown operator {preview(op)} (expected one of {sorted(operators)})")
        values = tuple(str(v) for v in as_array(item.get("values"), f"{where} values"))
        reqs.append(Requirement(str(item.get("key", "")), op, values))
    return tuple(reqs)


def parse_label_selector(raw: Any, where: str) -> Optional[NodeSelectorTerm]:
    """A metav1.LabelSelector -> requirements; None for a nil selector (it selects nothing), () for `{}` (everything)."""
    if raw is None:
        return None
    selector = as_object(raw, where)
    match_labels = tuple(Requirement(key, "In", (value,))
                         for key, value in as_string_map(selector.get("matchLabels"), f"{where}.matchLabels").items())
    return match_labels + parse_requirements(selector.get("matchExpressions"), f"{where}.matchExpressions", LABEL_OPERATORS)
