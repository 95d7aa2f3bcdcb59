"""Fixtures for the deployment tests: render deploy/ the way deploy.sh does."""
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DEPLOY_SH = REPO / "deploy.sh"
TEST_REGISTRY = "registry.test.invalid/team"
TEST_NAMESPACE = "sched-test"
TEST_TAG = "v0-test"

# What deploy.sh needs for --dry-run; docker, kubectl, kind, minikube are left out.
DRY_RUN_TOOLS = ("bash", "dirname", "cut", "sha256sum", "cksum", "cat", "git")


@pytest.fixture(scope="session")
def bare_path(tmp_path_factory) -> str:
    """A PATH holding only the coreutils deploy.sh --dry-run needs (no docker/kubectl)."""
    bindir = tmp_path_factory.mktemp("bare-bin")
    for tool in DRY_RUN_TOOLS:
        found = shutil.which(tool)
        if found:
            os.symlink(found, bindir / tool)
    for forbidden in ("docker", "kubectl", "kind", "minikube"):
        assert shutil.which(forbidden, path=str(bindir)) is None
    return str(bindir)


def run_deploy_sh(args: List[str], path: str) -> subprocess.CompletedProcess:
    bash = shutil.which("bash")
    assert bash, "bash is needed to run deploy.sh"
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp"), "LC_ALL": "C"}
    return subprocess.run([bash, str(DEPLOY_SH), *args], cwd=str(REPO), env=env,
                          capture_output=True, text=True, timeout=60)


def load_docs(text: str) -> List[Dict]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture(scope="session")
def rendered(bare_path) -> str:
    """deploy.sh --dry-run output for a non-default namespace (so the Namespace is included)."""
    result = run_deploy_sh([TEST_REGISTRY, "--dry-run", "--namespace", TEST_NAMESPACE, "--tag", TEST_TAG], bare_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def docs(rendered) -> List[Dict]:
    return load_docs(rendered)


def find(docs: List[Dict], kind: str, name: str = "") -> Dict:
    matches = [d for d in docs if d.get("kind") == kind and (not name or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name!r}, found {len(matches)}"
    return matches[0]


def example_docs() -> List[Dict]:
    out: List[Dict] = []
    for path in sorted((DEPLOY / "examples").glob("*.yaml")):
        out.extend(load_docs(path.read_text(encoding="utf-8")))
    return out


@pytest.fixture(scope="session")
def deploy_sh():
    """run_deploy_sh(args, path) -> CompletedProcess."""
    return run_deploy_sh


@pytest.fixture(scope="session")
def find_doc():
    """find_doc(docs, kind, name='') -> the one matching document."""
    return find


@pytest.fixture(scope="session")
def examples() -> List[Dict]:
    return example_docs()
