"""Opt-in end-to-end tests against a real cluster (`pytest -m e2e tests/e2e`).

Choose a cluster one of two ways:

* ``E2E_KIND=1``: create a kind cluster from deploy/kind-cluster.yaml (named
  ``E2E_KIND_NAME``, default ``preemptive-scheduler-e2e``; an existing one is
  reused and kept), deploy with ``deploy.sh --kind NAME``, delete it afterwards
  (unless ``E2E_KEEP=1``). Needs docker (with a running daemon), kind, kubectl.
* ``E2E_KUBECONFIG=/path``: use that cluster; ``E2E_DEPLOY_ARGS`` are passed to
  deploy.sh (for example ``"myregistry"`` or ``"--minikube"``); the scheduler is
  uninstalled afterwards unless ``E2E_KEEP=1``.

``E2E_SCHEDULER_NAMESPACE`` (default kube-system) is where it is deployed. Each
test works in its own namespace, deleted afterwards. Without either variable
every test here is skipped with the reason.
"""
import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEDULER = "preemptive-scheduler"


class Kube:
    """kubectl against one cluster, returning parsed JSON where asked."""

    def __init__(self, kubeconfig: str, scheduler_namespace: str, deploy_args: List[str]) -> None:
        self.kubeconfig = kubeconfig
        self.env = dict(os.environ, KUBECONFIG=kubeconfig)
        self.scheduler_namespace = scheduler_namespace
        self.deploy_args = deploy_args

    def redeploy_without_build(self) -> None:
        _deploy(self.kubeconfig, [*self.deploy_args, "--no-build"], self.scheduler_namespace)

    def run(self, *args: str, stdin: Optional[str] = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(["kubectl", *args], input=stdin, env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def json(self, *args: str) -> Dict[str, Any]:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: Dict[str, Any]) -> None:
        self.run("apply", "-f", "-", stdin=json.dumps(manifest))

    def create(self, manifest: Dict[str, Any]) -> None:
        self.run("create", "-f", "-", stdin=json.dumps(manifest))

    def pods(self, namespace: str, selector: str = "") -> List[Dict[str, Any]]:
        args = ["get", "pods", "-n", namespace] + (["-l", selector] if selector else [])
        return self.json(*args)["items"]

    def pod(self, namespace: str, name: str) -> Optional[Dict[str, Any]]:
        result = self.run("get", "pod", name, "-n", namespace, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def schedulable_workers(self) -> List[Dict[str, Any]]:
        nodes = []
        for node in self.json("get", "nodes")["items"]:
            taints = node["spec"].get("taints", [])
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
            if ready and not node["spec"].get("unschedulable") and not any(t["effect"] == "NoSchedule" for t in taints):
                nodes.append(node)
        return nodes

    def free_millicpu(self, node_name: str) -> int:
        node = self.json("get", "node", node_name)
        allocatable = _millicpu(node["status"]["allocatable"]["cpu"])
        pods = self.json("get", "pods", "-A", "--field-selector", f"spec.nodeName={node_name}")["items"]
        used = 0
        for pod in pods:
            if pod["status"].get("phase") in ("Succeeded", "Failed"):
                continue
            for container in pod["spec"]["containers"]:
                used += _millicpu(container.get("resources", {}).get("requests", {}).get("cpu", "0"))
        return allocatable - used


def _millicpu(quantity: str) -> int:
    quantity = str(quantity)
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return int(float(quantity) * 1000)


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 120, interval: float = 2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"e2e needs {', '.join(missing)} on PATH")


def _deploy(kubeconfig: str, args: List[str], namespace: str) -> None:
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    cmd = ["bash", str(REPO / "deploy.sh"), *args, "--namespace", namespace]
    result = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")


def _uninstall(kubeconfig: str, args: List[str], namespace: str) -> None:
    keep = [a for a in args if a in ("--minikube",)]
    if "--kind" in args:
        keep += args[args.index("--kind"):args.index("--kind") + 2]
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    subprocess.run(["bash", str(REPO / "deploy.sh"), "--uninstall", *keep, "--namespace", namespace],
                   cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def kube(tmp_path_factory) -> Kube:
    scheduler_ns = os.environ.get("E2E_SCHEDULER_NAMESPACE", "kube-system")
    keep = os.environ.get("E2E_KEEP") == "1"
    if os.environ.get("E2E_KUBECONFIG"):
        kubeconfig = os.environ["E2E_KUBECONFIG"]
        if not os.path.exists(kubeconfig):
            pytest.skip(f"E2E_KUBECONFIG={kubeconfig} does not exist")
        _need("kubectl")
        deploy_args = shlex.split(os.environ.get("E2E_DEPLOY_ARGS", ""))
        if not deploy_args:
            pytest.skip("E2E_KUBECONFIG is set but E2E_DEPLOY_ARGS is not (e.g. 'myregistry' or '--minikube')")
        _deploy(kubeconfig, deploy_args, scheduler_ns)
        yield Kube(kubeconfig, scheduler_ns, deploy_args)
        if not keep:
            _uninstall(kubeconfig, deploy_args, scheduler_ns)
        return
    if os.environ.get("E2E_KIND") != "1":
        pytest.skip("no cluster: set E2E_KIND=1 (creates a kind cluster) or E2E_KUBECONFIG + E2E_DEPLOY_ARGS")
    _need("docker", "kind", "kubectl")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("E2E_KIND=1 but the docker daemon is not reachable")
    name = os.environ.get("E2E_KIND_NAME", "preemptive-scheduler-e2e")
    existing = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True).stdout.split()
    created = name not in existing
    if created:
        subprocess.run(["kind", "create", "cluster", "--name", name, "--config",
                        str(REPO / "deploy" / "kind-cluster.yaml"), "--wait", "180s"], check=True, timeout=900)
    kubeconfig = str(tmp_path_factory.mktemp("kind") / "kubeconfig")
    Path(kubeconfig).write_text(subprocess.run(["kind", "get", "kubeconfig", "--name", name],
                                               capture_output=True, text=True, check=True).stdout)
    deploy_args = ["--kind", name]
    try:
        _deploy(kubeconfig, deploy_args, scheduler_ns)
        yield Kube(kubeconfig, scheduler_ns, deploy_args)
    finally:
        if not keep:
            if created:
                subprocess.run(["kind", "delete", "cluster", "--name", name], timeout=600)
            else:
                _uninstall(kubeconfig, deploy_args, scheduler_ns)


@pytest.fixture()
def namespace(kube: Kube):
    name = f"pse2e-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


def make_pod(name: str, priority: int, millicpu: int, node: Optional[str] = None,
             labels: Optional[Dict[str, str]] = None, annotations: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    spec: Dict[str, Any] = {
        "schedulerName": SCHEDULER,
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9",
                        "resources": {"requests": {"cpu": f"{millicpu}m", "memory": "16Mi"}}}],
    }
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {},
                     "annotations": {"scheduler.alpha.kubernetes.io/priority": str(priority), **(annotations or {})}},
        "spec": spec,
    }


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    return SimpleNamespace(make_pod=make_pod, wait_for=wait_for)
