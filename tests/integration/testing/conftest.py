"""Fixtures for the stand-in kube-apiserver's own tests: a started server, and the real client talking to it."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from kubernetes import client, config

from scheduler.testing import FakeApiServer


@pytest.fixture
def srv() -> Iterator[FakeApiServer]:
    s = FakeApiServer(bookmark_interval=0.2)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def api_client(srv: FakeApiServer, tmp_path: Any) -> client.ApiClient:
    return config.new_client_from_config(srv.write_kubeconfig(str(tmp_path / "kubeconfig")))
