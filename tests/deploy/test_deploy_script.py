"""deploy.sh: renders without docker/kubectl, validates input, is shellcheck-clean."""
import os
import shutil
import subprocess

import pytest
import yaml

from pathlib import Path

DEPLOY_SH = Path(__file__).resolve().parents[2] / "deploy.sh"
# Must match the values the `rendered` fixture in conftest.py passes.
TEST_REGISTRY = "registry.test.invalid/team"
TEST_NAMESPACE = "sched-test"
TEST_TAG = "v0-test"


def test_bash_syntax():
    subprocess.run(["bash", "-n", str(DEPLOY_SH)], check=True)


def test_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed in CI (Debian package `shellcheck`)")
        pytest.skip("shellcheck not installed (apt-get install shellcheck); required when CI=true")
    result = subprocess.run([shellcheck, str(DEPLOY_SH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dry_run_renders_image_and_namespace_without_docker_or_kubectl(rendered):
    image = f"{TEST_REGISTRY}/preemptive-scheduler:{TEST_TAG}"
    assert f"image: {image}" in rendered
    assert "PLACEHOLDER" not in rendered
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = [d["kind"] for d in docs]
    assert kinds[0] == "Namespace" and docs[0]["metadata"]["name"] == TEST_NAMESPACE
    for doc in docs:
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == TEST_NAMESPACE, doc["kind"]
    assert sorted(kinds) == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                    "Role", "RoleBinding", "ConfigMap", "Deployment"])


def test_kube_system_gets_no_namespace_object(deploy_sh, bare_path):
    result = deploy_sh(["myregistry", "--dry-run"], bare_path)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert "Namespace" not in [d["kind"] for d in docs]
    assert all(d["metadata"].get("namespace", "kube-system") == "kube-system" for d in docs)
    assert "image: myregistry/preemptive-scheduler:" in result.stdout


def test_kind_dry_run_needs_no_registry(deploy_sh, bare_path):
    result = deploy_sh(["--kind", "demo", "--dry-run", "--tag", "t1"], bare_path)
    assert result.returncode == 0, result.stderr
    assert "image: preemptive-scheduler:t1" in result.stdout


def test_rendering_is_deterministic(deploy_sh, bare_path, rendered):
    again = deploy_sh([TEST_REGISTRY, "--dry-run", "--namespace", TEST_NAMESPACE, "--tag", TEST_TAG], bare_path)
    assert again.stdout == rendered


def test_help(deploy_sh, bare_path):
    result = deploy_sh(["--help"], bare_path)
    assert result.returncode == 0
    for option in ("--namespace", "--tag", "--kind", "--minikube", "--no-build", "--dry-run", "--uninstall"):
        assert option in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option"),
    (["reg", "--namespace", "Not_Valid", "--dry-run"], "invalid namespace"),
    (["reg", "--kind", "a", "--minikube", "--dry-run"], "exclude each other"),
    ([], "a registry is required"),
    (["reg", "--tag", "bad tag!", "--dry-run"], "invalid image tag"),
    (["reg", "--namespace"], "--namespace needs a value"),
    (["reg", "other", "--dry-run"], "only one registry may be given"),
])
def test_bad_input_is_refused_clearly(deploy_sh, bare_path, args, message):
    result = deploy_sh(args, bare_path)
    assert result.returncode == 2  # bad arguments, as --set's; 1 is a step that failed
    assert message in result.stderr


def test_missing_kubectl_is_reported_up_front(deploy_sh, bare_path):
    result = deploy_sh(["reg", "--namespace", "x"], bare_path)
    assert result.returncode != 0
    assert "'kubectl' is required" in result.stderr
