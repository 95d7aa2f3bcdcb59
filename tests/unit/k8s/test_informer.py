"""Reflector lists in pages (limit/continue), hands each page over as it arrives, then the whole list once."""
from __future__ import annotations

import threading
from typing import Any, Dict, List

from scheduler.k8s import informer
from scheduler.k8s.informer import LISTED, RESYNC, Reflector


class PagedApi:
    def __init__(self, total: int) -> None:
        self.items = [{"metadata": {"name": f"p{i}", "namespace": "default"}} for i in range(total)]
        self.queries: List[Dict[str, Any]] = []

    def list(self, path: str, **query: Any) -> Dict[str, Any]:
        self.queries.append(query)
        start = int(query.get("continue") or 0)
        end = start + int(query["limit"])
        meta: Dict[str, Any] = {"resourceVersion": str(100 + len(self.queries))}
        if end < len(self.items):
            meta["continue"] = str(end)
        return {"items": self.items[start:end], "metadata": meta}


def test_a_large_list_is_read_in_pages_delivered_page_by_page_then_whole(monkeypatch):
    monkeypatch.setattr(informer, "LIST_PAGE", 100)
    api = PagedApi(250)
    received: List[Any] = []
    reflector = Reflector(api, "pods", "/api/v1/pods", lambda resource, kind, obj: received.append((kind, obj)),
                          threading.Event())  # type: ignore[arg-type]
    reflector._list()
    assert [q.get("continue", "") for q in api.queries] == ["", "100", "200"]
    assert all(q["limit"] == 100 for q in api.queries)
    assert [(kind, len(objs)) for kind, objs in received] == [(LISTED, 100), (LISTED, 100), (LISTED, 50), (RESYNC, 250)]
    assert reflector.resource_version == "101"  # the first page's: the list is consistent as of it


def test_a_list_failing_midway_deletes_nothing_and_is_listed_again(monkeypatch):
    """Pages that arrived are applied (they are the objects as they are); without the end of the list nothing
    is taken for gone, and the reflector has no version to watch from, so it lists again."""
    import pytest

    from scheduler.k8s.api import ApiError

    class FailingSecondPage(PagedApi):
        def list(self, path: str, **query: Any) -> Dict[str, Any]:
            if query.get("continue"):
                raise ApiError(500, "InternalError", "etcd timed out")
            return super().list(path, **query)

    monkeypatch.setattr(informer, "LIST_PAGE", 100)
    received: List[Any] = []
    reflector = Reflector(FailingSecondPage(250), "pods", "/api/v1/pods",
                          lambda resource, kind, obj: received.append((kind, obj)), threading.Event())  # type: ignore[arg-type]
    with pytest.raises(ApiError):
        reflector._list()
    assert [(kind, len(objs)) for kind, objs in received] == [(LISTED, 100)]
    assert reflector.resource_version == "" and not reflector.synced.is_set()


def test_a_list_answer_without_an_items_list_is_an_error_not_an_empty_list():
    """Taken for an empty list, a garbled answer would make every known object look deleted."""
    import pytest

    from scheduler.k8s.api import ApiError

    class GarbledApi(PagedApi):
        def list(self, path: str, **query: Any) -> Dict[str, Any]:
            return {"items": {"not": "a list"}, "metadata": {"resourceVersion": "7"}}

    received: List[Any] = []
    reflector = Reflector(GarbledApi(0), "pods", "/api/v1/pods",
                          lambda resource, kind, obj: received.append((kind, obj)), threading.Event())  # type: ignore[arg-type]
    with pytest.raises(ApiError) as failure:
        reflector._list()
    assert failure.value.transient and "not a list" in failure.value.message
    assert received == [] and not reflector.synced.is_set()
