"""`python -m scheduler.config_check`: a config (or a ConfigMap's config.yaml) checked as `run --config` checks it."""
from __future__ import annotations

import io

import pytest

from scheduler.config_check import main

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: NAMESPACE_PLACEHOLDER}
data:
  config.yaml: |
    alpha: {alpha}
    log-level: info
"""


def test_a_valid_file_is_silent(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("alpha: 0.7\npreemption: true\n")
    assert main([str(path)]) == 0
    assert capsys.readouterr() == ("", "")


def test_a_bad_value_is_one_line_naming_the_source(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("alpha: 2\n")
    assert main([str(path), "--source", "my config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("my config: alpha 2: expected") and err.count("\n") == 1
    assert "config-check-" not in err  # not the temporary file's name


@pytest.mark.parametrize("alpha, code", [("0.7", 0), ("1.5", 2)])
def test_a_configmap_from_standard_input(monkeypatch, capsys, alpha, code):
    monkeypatch.setattr("sys.stdin", io.StringIO(CONFIGMAP.replace("{alpha}", alpha)))
    monkeypatch.setenv("PROMETHEUS_URL", "http://ignored")  # the Deployment sets none: the environment is not read
    assert main(["--configmap", "-"]) == code
    assert ("standard input: alpha 1.5" in capsys.readouterr().err) == (code == 2)


@pytest.mark.parametrize("text, message", [
    ("kind: ConfigMap\ndata: {}\n", "expected a ConfigMap with data.config.yaml"),
    ("data: [\n", "not valid YAML"),
])
def test_not_a_configmap(monkeypatch, capsys, text, message):
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["--configmap", "-"]) == 2
    assert message in capsys.readouterr().err


def test_an_unreadable_file(tmp_path, capsys):
    assert main([str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
