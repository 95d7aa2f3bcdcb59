"""Loading a kubeconfig: an insecure one is reported once, not on every request."""
from __future__ import annotations

import logging
import warnings

import yaml

from scheduler.k8s.api import load_configuration


def test_insecure_skip_tls_verify_is_logged_once_and_urllib3_stays_quiet(tmp_path, caplog):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }))
    with caplog.at_level(logging.WARNING, logger="scheduler.k8s.api"):
        configuration = load_configuration(str(path))
    assert configuration.verify_ssl is False
    assert [r.getMessage() for r in caplog.records if "not verified" in r.getMessage()] == [
        "TLS certificate of https://127.0.0.1:6443 is not verified (insecure-skip-tls-verify in the kubeconfig)"]
    import urllib3

    ignored = [f[2] for f in warnings.filters if f[0] == "ignore"]
    assert urllib3.exceptions.InsecureRequestWarning in ignored  # no warning per request


def test_auth_headers_are_reused_for_a_while_then_recomputed(monkeypatch):
    from kubernetes import client

    from scheduler.k8s import api as api_module

    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:1"
    configuration.api_key = {"authorization": "one"}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    kube = api_module.KubeApi(configuration)
    now = [100.0]
    monkeypatch.setattr(api_module.time, "monotonic", lambda: now[0])
    assert kube._headers(None)["authorization"] == "Bearer one"
    configuration.api_key = {"authorization": "two"}  # e.g. a rotated ServiceAccount token
    assert kube._headers(None)["authorization"] == "Bearer one"  # reused within the refresh interval
    now[0] += api_module.AUTH_REFRESH + 1
    assert kube._headers("application/json")["authorization"] == "Bearer two"
