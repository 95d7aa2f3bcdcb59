"""The manifests in deploy/: schema-valid, least privilege, hardened, and the config is read."""
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from scheduler.k8s import permissions

kv_utils = pytest.importorskip("kubernetes_validate.utils", reason="pip install kubernetes-validate (test extra)")

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "sched-test"  # as rendered by the `rendered` fixture
CONFIG_PATH = "/etc/preemptive-scheduler/config.yaml"


def _schema_versions() -> List[str]:
    """Kubernetes 1.20 (our oldest target) when the installed kubernetes-validate ships it,
    else the oldest it ships; and the newest it ships."""
    shipped = sorted(set(kv_utils.all_versions()), key=lambda v: tuple(int(x) for x in v.split(".")))
    oldest = "1.20.0" if "1.20.0" in shipped else shipped[0]
    return sorted({oldest, kv_utils.latest_version()})


SCHEMA_VERSIONS = _schema_versions()

# apiVersion/kind pairs served by Kubernetes 1.20; the newest kubernetes-validate no
# longer ships 1.20 schemas, so this keeps the oldest target honest regardless.
SERVED_IN_1_20 = {
    ("v1", "Namespace"), ("v1", "ServiceAccount"), ("v1", "ConfigMap"), ("v1", "Pod"),
    ("apps/v1", "Deployment"), ("batch/v1", "Job"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
}


def _all_docs(docs: List[Dict], examples: List[Dict]) -> List[Dict]:
    return docs + examples


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_every_manifest_validates(version, docs, examples):
    for doc in _all_docs(docs, examples):
        kv_utils.validate(doc, version, strict=True)  # raises ValidationError with the path


def test_only_apis_served_by_kubernetes_1_20(docs, examples):
    for doc in _all_docs(docs, examples):
        assert (doc["apiVersion"], doc["kind"]) in SERVED_IN_1_20, (doc["apiVersion"], doc["kind"])


def test_kind_cluster_has_one_control_plane_three_workers():
    cfg = yaml.safe_load((REPO / "deploy" / "kind-cluster.yaml").read_text())
    assert cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane", "worker", "worker", "worker"]


# ---- RBAC: exactly the table in scheduler/k8s/permissions.py ------------------

def _normal(rules: List[Dict]) -> List[tuple]:
    out = []
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected rule fields: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.append((group, resource, verb))
    return sorted(out)


def test_cluster_role_is_exactly_the_permission_table(docs, find_doc):
    role = find_doc(docs, "ClusterRole", "preemptive-scheduler")
    assert _normal(role["rules"]) == _normal(permissions.cluster_role_rules())
    assert not any("*" in t for t in _normal(role["rules"]))


def test_lease_role_is_exactly_the_permission_table(docs, find_doc):
    role = find_doc(docs, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert _normal(role["rules"]) == _normal(permissions.lease_role_rules())
    assert _normal(role["rules"]) == [("coordination.k8s.io", "leases", v) for v in ("create", "get", "update")]


def test_permission_table_covers_the_scheduler_calls():
    table = {(p.group, p.resource): set(p.verbs) for p in permissions.PERMISSIONS}
    assert {"list", "watch", "get"} <= table[("", "pods")]
    assert table[("", "pods/binding")] == {"create"}
    assert table[("", "pods/eviction")] == {"create"}
    assert table[("", "pods/status")] == {"patch"}
    assert {"create", "patch"} <= table[("events.k8s.io", "events")]
    assert ("", "events") not in table  # the core v1 events API is never called: not granted
    assert [p for p in permissions.PERMISSIONS if p.namespaced_to_self] == [permissions.LEASES]


def test_bindings_name_the_service_account(docs, find_doc):
    sa = find_doc(docs, "ServiceAccount", "preemptive-scheduler")
    subject = {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}
    crb = find_doc(docs, "ClusterRoleBinding")
    assert crb["subjects"] == [subject]
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "preemptive-scheduler"}
    rb = find_doc(docs, "RoleBinding")
    assert rb["subjects"] == [subject]
    assert rb["roleRef"]["kind"] == "Role"
    assert rb["roleRef"]["name"] == find_doc(docs, "Role")["metadata"]["name"]


# ---- Deployment --------------------------------------------------------------

@pytest.fixture()
def deployment(docs, find_doc) -> Dict:
    return find_doc(docs, "Deployment", "preemptive-scheduler")


@pytest.fixture()
def container(deployment) -> Dict:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def test_labels_selector_replicas(deployment):
    assert deployment["metadata"]["labels"]["app"] == "preemptive-scheduler"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "preemptive-scheduler"}
    assert deployment["spec"]["template"]["metadata"]["labels"]["app"] == "preemptive-scheduler"
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "preemptive-scheduler"


def test_probes_on_the_metrics_port(container):
    (port,) = container["ports"]
    assert port["containerPort"] == 10260
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in (10260, port["name"])


def test_hardened_security_context(deployment, container):
    pod_sc = deployment["spec"]["template"]["spec"]["securityContext"]
    sc = container["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
    assert sc.get("privileged", False) is False
    assert sc["seccompProfile"]["type"] == "RuntimeDefault" or pod_sc["seccompProfile"]["type"] == "RuntimeDefault"


def test_resources_requests_and_limits(container):
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}


def test_image_and_pull_policy(container):
    assert container["image"].endswith("/preemptive-scheduler:v0-test")
    assert container["imagePullPolicy"] == "IfNotPresent"  # images loaded into kind/minikube


def test_policy_lives_in_the_config_map_only(container):
    """Flags and env beat the file, so the Deployment sets none of the policy: editing the ConfigMap works."""
    env = {e["name"]: e for e in container["env"]}
    assert "PROMETHEUS_URL" not in env
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert container["args"] == [f"--config={CONFIG_PATH}", "--leader-elect-namespace=$(POD_NAMESPACE)"]


def test_config_map_is_mounted_and_passed(deployment, container, docs, find_doc):
    cm = find_doc(docs, "ConfigMap", "preemptive-scheduler-config")
    assert "config.yaml" in cm["data"]
    assert f"--config={CONFIG_PATH}" in container["args"]
    (mount,) = [m for m in container["volumeMounts"] if CONFIG_PATH.startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == cm["metadata"]["name"]
    assert CONFIG_PATH.rsplit("/", 1)[1] in cm["data"]


def _allowed_config_keys() -> set:
    try:
        from scheduler.config import known_keys
    except ImportError:  # config module not there: the documented `run` flags
        return {"kubeconfig", "scheduler-name", "leader-elect", "leader-elect-lease-name",
                "leader-elect-namespace", "metrics-port", "log-format", "log-level", "preemption",
                "alpha", "cpu", "mem", "priority", "prometheus-url"}
    return set(known_keys())


def test_config_uses_only_known_keys(docs, find_doc):
    config = yaml.safe_load(find_doc(docs, "ConfigMap")["data"]["config.yaml"])
    assert isinstance(config, dict) and config
    unknown = set(config) - _allowed_config_keys()
    assert not unknown, f"config keys the scheduler does not know: {sorted(unknown)}"


def test_args_and_config_load_as_the_scheduler_would(tmp_path, monkeypatch, docs, find_doc, container):
    """Parse the Deployment's args with the real CLI and read the ConfigMap's file."""
    cli = pytest.importorskip("scheduler.cli")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(find_doc(docs, "ConfigMap")["data"]["config.yaml"])
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    args = [a.replace(CONFIG_PATH, str(config_file)).replace("$(POD_NAMESPACE)", NAMESPACE)
            for a in container["args"]]
    config = cli.make_config(cli.build_parser().parse_args(["run", *args]))
    assert config.preemption is True
    assert config.alpha == 0.8
    assert config.scheduler_name == "preemptive-scheduler"
    assert config.leader_elect is True
    assert config.leader_elect_namespace == NAMESPACE
    assert config.metrics_port == 10260
    assert config.prometheus_url == "http://prometheus-server.monitoring.svc:9090"
    assert config.log_format == "json"  # only set in the file: proves the file is read


# ---- examples ----------------------------------------------------------------

def _pod_templates(examples: List[Dict]) -> List[Dict]:
    out = []
    for doc in examples:
        if doc["kind"] == "Pod":
            out.append(doc)
        elif doc["kind"] in ("Deployment", "Job"):
            out.append(doc["spec"]["template"])
    return out


def test_example_pods_use_the_scheduler(examples):
    pods = _pod_templates(examples)
    assert pods
    for pod in pods:
        assert pod["spec"]["schedulerName"] == "preemptive-scheduler"
        annotations = pod["metadata"].get("annotations", {})
        assert "scheduler.alpha.kubernetes.io/priority" in annotations or "priorityClassName" in pod["spec"]
        value = annotations.get("scheduler.alpha.kubernetes.io/priority")
        assert value is None or (isinstance(value, str) and value.lstrip("-").isdigit())
    assert any(p["metadata"].get("annotations", {}).get("scheduler.alpha.kubernetes.io/priority") == "100"
               for p in pods)


def test_example_priority_classes_exist_for_referenced_names(examples):
    classes = {d["metadata"]["name"] for d in examples if d["kind"] == "PriorityClass"}
    assert classes
    for pod in _pod_templates(examples):
        if "priorityClassName" in pod["spec"]:
            assert pod["spec"]["priorityClassName"] in classes


def test_example_gang_job(examples, find_doc):
    job = find_doc(examples, "Job", "train")
    template = job["spec"]["template"]
    assert job["spec"]["parallelism"] == 4
    assert template["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] == "train"
    assert template["metadata"]["annotations"]["scheduling.x-k8s.io/min-available"] == "4"


def test_example_preemption_demo_has_a_high_and_a_low_priority(examples):
    demo = yaml.safe_load_all((REPO / "deploy" / "examples" / "preemption-demo.yaml").read_text())
    priorities = set()
    for doc in demo:
        pod = doc["spec"]["template"] if doc["kind"] == "Deployment" else doc
        priorities.add(int(pod["metadata"]["annotations"]["scheduler.alpha.kubernetes.io/priority"]))
    assert len(priorities) == 2 and max(priorities) > min(priorities)


def test_editing_the_config_map_changes_the_policy(tmp_path, monkeypatch, docs, find_doc, container):
    """The README's example: set alpha: 0.7 in the ConfigMap; the scheduler started from the manifests uses it."""
    cli = pytest.importorskip("scheduler.cli")
    edited = yaml.safe_load(find_doc(docs, "ConfigMap")["data"]["config.yaml"])
    edited.update({"alpha": 0.7, "preemption": False, "prometheus-url": "http://prom.example:9090"})
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(edited))
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    args = [a.replace(CONFIG_PATH, str(config_file)).replace("$(POD_NAMESPACE)", NAMESPACE) for a in container["args"]]
    config = cli.make_config(cli.build_parser().parse_args(["run", *args]))
    assert (config.alpha, config.preemption, config.prometheus_url) == (0.7, False, "http://prom.example:9090")
