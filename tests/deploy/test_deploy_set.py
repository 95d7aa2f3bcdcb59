"""deploy.sh --set KEY=VALUE: edits the ConfigMap's config.yaml before applying, checked like the scheduler checks it."""
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from scheduler.config import load_config

REPO = Path(__file__).resolve().parents[2]
DEPLOY_SH = REPO / "deploy.sh"


def run(args: List[str], path: str, python: str = "") -> subprocess.CompletedProcess:
    """deploy.sh with a bare PATH (no docker/kubectl/python); `python` is what PYTHON points at."""
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp"), "LC_ALL": "C"}
    if python:
        env["PYTHON"] = python
    return subprocess.run([shutil.which("bash") or "bash", str(DEPLOY_SH), "reg", "--dry-run", "--tag", "t1", *args],
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=60)


def docs_of(result: subprocess.CompletedProcess) -> List[Dict]:
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def config_of(result: subprocess.CompletedProcess) -> Dict:
    (cm,) = [d for d in docs_of(result) if d["kind"] == "ConfigMap"]
    return yaml.safe_load(cm["data"]["config.yaml"])


def checksum_of(result: subprocess.CompletedProcess) -> str:
    (deployment,) = [d for d in docs_of(result) if d["kind"] == "Deployment"]
    return deployment["spec"]["template"]["metadata"]["annotations"]["preemptive-scheduler/config-checksum"]


def set_args(*items: str) -> List[str]:
    return [arg for item in items for arg in ("--set", item)]


def test_set_overrides_keys_and_rolls_the_pods(bare_path, tmp_path):
    plain = run([], bare_path)
    edited = run(set_args("alpha=0.7", "log-level=debug", "preemption=false"), bare_path)
    config = config_of(edited)
    assert config["alpha"] == 0.7 and config["log-level"] == "debug" and config["preemption"] is False
    untouched = {k: v for k, v in config_of(plain).items() if k not in ("alpha", "log-level", "preemption")}
    assert {k: config[k] for k in untouched} == untouched
    assert list(config) == list(config_of(plain))  # replaced in place, nothing added or duplicated
    assert checksum_of(edited) != checksum_of(plain)  # the pod template changes: the pods roll
    assert run(set_args("alpha=0.7", "log-level=debug", "preemption=false"), bare_path).stdout == edited.stdout
    assert "config.yaml edited by --set alpha=0.7" in edited.stderr
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert load_config({}, str(path), env={}).alpha == 0.7  # what the scheduler will read
    same = run(set_args("alpha=0.8"), bare_path)  # the value the file already has: nothing changes, no roll
    assert same.stdout == plain.stdout


def test_with_python_any_setting_can_be_added_and_values_are_checked(bare_path):
    result = run(set_args("max-victims=3", "cpu-query=sum(rate(x{mode!=\"idle\"}[5m])) by (instance)",
                          "prometheus-url=", "protected-namespaces=kube-system,monitoring"), bare_path, sys.executable)
    config = config_of(result)
    assert config["max-victims"] == 3
    assert config["cpu-query"] == "sum(rate(x{mode!=\"idle\"}[5m])) by (instance)"
    assert config["prometheus-url"] == ""
    assert config["protected-namespaces"] == "kube-system,monitoring"
    assert "not checked" not in result.stderr


@pytest.mark.parametrize("item, message", [
    ("alpha=2", "deploy/30-configmap.yaml with --set: alpha 2: expected"),
    ("log-level=loud", "log-level 'loud': expected one of"),
    ("no-such-key=1", "unknown key 'no-such-key'"),
    ("metrics-port=http", "metrics-port 'http'"),
])
def test_with_python_a_bad_key_or_value_is_one_line_and_exit_2(bare_path, item, message):
    result = run(set_args(item), bare_path, sys.executable)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1 and result.stdout == ""


def test_without_python_only_keys_of_the_shipped_file_can_be_set(bare_path):
    result = run(set_args("alpha=0.6"), bare_path, "no-such-python")
    assert config_of(result)["alpha"] == 0.6
    assert "--set values not checked ('no-such-python' not found)" in result.stderr
    refused = run(set_args("max-victims=3"), bare_path, "no-such-python")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "deploy.sh: error: --set max-victims: not a key of deploy/30-configmap.yaml (scheduler-name," in refused.stderr


@pytest.mark.parametrize("args, message", [
    (["--set"], "--set needs KEY=VALUE"),
    (set_args("alpha"), "--set alpha: expected KEY=VALUE"),
    (set_args("Alpha=1"), "'Alpha' is not a setting name"),
    (set_args("a*=1"), "'a*' is not a setting name"),
    (set_args("alpha=0.5\nleader-elect: false"), "--set alpha: the value must be one line of text"),
])
def test_malformed_set_is_exit_2(bare_path, args, message):
    result = run(args, bare_path, sys.executable)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_help_mentions_set(bare_path):
    result = subprocess.run(["bash", str(DEPLOY_SH), "--help"], capture_output=True, text=True, timeout=30)
    assert "--set KEY=VALUE" in result.stdout
