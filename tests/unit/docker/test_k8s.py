"""The Kubernetes and KServe manifests: schema-valid offline for a pinned Kubernetes version, and
in step with the server's settings, health services and ports."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from runtime.api.health import LIVENESS, READINESS
from runtime.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "docker" / "k8s"
# The oldest release the manifests target (native gRPC probes GA in 1.27, preStop sleep 1.30);
# the Makefile's docker-check pins the same.
KUBERNETES_VERSION = "1.33.0"
GRPC_PORT = ServerSettings.model_fields["port"].default
METRICS_PORT = ServerSettings.model_fields["metrics_port"].default
HTTP_PORT = ServerSettings.model_fields["http_port"].default
GRACE_PERIOD_S = ServerSettings.model_fields["grace_period_s"].default
SHUTDOWN_MARGIN_S = 5


def load(path: Path) -> dict[str, Any]:
    (document,) = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert isinstance(document, dict)
    return document


def kustomize_resources(folder: Path) -> list[Path]:
    return [folder / name for name in load(folder / "kustomization.yaml")["resources"]]


def strategic_merge(base: Any, patch: Any) -> Any:
    """Enough of kubectl's strategic merge for the GPU patch: maps merge, named lists by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and all("name" in i for i in patch):
        by_name = {item["name"]: item for item in base}
        return [strategic_merge(by_name.get(item["name"], {}), item) for item in patch] + [
            item for item in base if item["name"] not in {p["name"] for p in patch}
        ]
    return copy.deepcopy(patch)


def deployment() -> dict[str, Any]:
    return load(K8S / "deployment.yaml")


def gpu_deployment() -> dict[str, Any]:
    (patch,) = load(K8S / "gpu" / "kustomization.yaml")["patches"]
    merged = strategic_merge(deployment(), load(K8S / "gpu" / patch["path"]))
    assert isinstance(merged, dict)
    return merged


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    (only,) = manifest["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def env_names(spec: dict[str, Any]) -> set[str]:
    return {entry["name"] for entry in spec.get("env", [])}


# KServe's CRDs (ServingRuntime, InferenceService) have no schema in kubernetes-validate and
# kustomization.yaml is no resource: they are checked structurally below instead.
MANIFESTS = sorted(K8S.glob("*.yaml"))
RESOURCES = [path for path in MANIFESTS if path.name != "kustomization.yaml"]


@pytest.mark.parametrize("path", RESOURCES, ids=lambda path: path.name)
def test_manifest_validates_strictly_against_the_pinned_kubernetes(path: Path) -> None:
    kubernetes_validate.validate(load(path), KUBERNETES_VERSION, strict=True)


def test_gpu_variant_validates_strictly_and_requests_a_gpu() -> None:
    manifest = gpu_deployment()
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    resources = container(manifest)["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "1"
    assert container(manifest)["image"].startswith("modelrt-gpu:")
    # Everything but the image, resources and scheduling stays the CPU Deployment's.
    cpu, gpu = container(deployment()), container(manifest)
    for key in ("ports", "env", "envFrom", "startupProbe", "livenessProbe", "readinessProbe"):
        assert gpu[key] == cpu[key]


def test_strict_validation_rejects_an_unknown_field() -> None:
    manifest = deployment()
    container(manifest)["livenessProbe"]["grpcc"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_kustomizations_list_every_resource_but_the_example_secret() -> None:
    listed = {path.name for path in kustomize_resources(K8S)}
    assert listed == {path.name for path in RESOURCES} - {"secret.example.yaml"}
    assert load(K8S / "gpu" / "kustomization.yaml")["resources"] == [".."]
    assert all(path.is_file() for path in kustomize_resources(K8S / "kserve"))


def test_probes_use_native_grpc_on_the_health_services() -> None:
    spec = container(deployment())
    assert spec["livenessProbe"]["grpc"] == {"port": GRPC_PORT, "service": LIVENESS}
    assert spec["readinessProbe"]["grpc"] == {"port": GRPC_PORT, "service": READINESS}
    startup = spec["startupProbe"]
    assert startup["grpc"]["port"] == GRPC_PORT
    assert startup["grpc"]["service"] in (READINESS, LIVENESS)
    # Long enough for slow model loads: at least the default load timeout.
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert budget >= ServerSettings.model_fields["load_timeout_s"].default


def test_container_ports_match_the_settings_and_the_service() -> None:
    ports = {p["name"]: p["containerPort"] for p in container(deployment())["ports"]}
    assert ports == {"grpc": GRPC_PORT, "metrics": METRICS_PORT, "http": HTTP_PORT}
    service = load(K8S / "service.yaml")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    selector = service["spec"]["selector"]
    assert deployment()["spec"]["template"]["metadata"]["labels"].items() >= selector.items()


def test_configmap_keys_are_server_settings_in_step_with_the_ports() -> None:
    data = load(K8S / "configmap.yaml")["data"]
    fields = {f"MODELRT_{name.upper()}" for name in ServerSettings.model_fields}
    assert set(data) <= fields, set(data) - fields
    assert not {"MODELRT_ADMIN_TOKEN", "MODELRT_INFERENCE_TOKEN"} & set(data)
    settings = {key.removeprefix("MODELRT_").lower(): value for key, value in data.items()}
    parsed = ServerSettings(**settings)  # every value is one the server accepts
    assert (parsed.port, parsed.metrics_port, parsed.host) == (GRPC_PORT, METRICS_PORT, "0.0.0.0")
    assert (parsed.http_port, parsed.http_host) == (HTTP_PORT, "0.0.0.0")
    assert container(deployment())["envFrom"] == [{"configMapRef": {"name": "modelrt-config"}}]


def test_admin_token_comes_from_the_secret() -> None:
    (token,) = [e for e in container(deployment())["env"] if e["name"] == "MODELRT_ADMIN_TOKEN"]
    reference = token["valueFrom"]["secretKeyRef"]
    secret = load(K8S / "secret.example.yaml")
    assert reference["name"] == secret["metadata"]["name"]
    assert reference["key"] in secret["stringData"]


def test_termination_grace_covers_the_drain() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    data = load(K8S / "configmap.yaml")["data"]
    grace = float(data.get("MODELRT_GRACE_PERIOD_S", GRACE_PERIOD_S))
    pre_stop = container(deployment())["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + grace + SHUTDOWN_MARGIN_S


def test_pod_runs_as_the_image_user_with_the_store_mounted() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    mounts = {m["name"]: m["mountPath"] for m in container(deployment())["volumeMounts"]}
    assert mounts["model-store"] == "/models"
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert (
        claims[0]["persistentVolumeClaim"]["claimName"]
        == load(K8S / "pvc.yaml")["metadata"]["name"]
    )


def test_hpa_and_pdb_target_the_deployment() -> None:
    hpa = load(K8S / "hpa.yaml")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment()["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = load(K8S / "pdb.yaml")
    assert pdb["spec"]["selector"] == deployment()["spec"]["selector"]


def test_kserve_serving_runtime_runs_modelrt_over_grpc() -> None:
    runtime = load(K8S / "kserve" / "servingruntime.yaml")
    assert (runtime["apiVersion"], runtime["kind"]) == (
        "serving.kserve.io/v1alpha1",
        "ServingRuntime",
    )
    spec = runtime["spec"]
    assert {"name": "modelrt", "version": "1", "autoSelect": True} in spec["supportedModelFormats"]
    # KServe's data plane talks the Open Inference Protocol (grpc-v2) to it; no HTTP yet.
    assert spec["protocolVersions"] == ["grpc-v2"]
    (server,) = spec["containers"]
    assert server["name"] == "kserve-container"
    assert server["args"][:3] == ["serve", "--model-store", "/mnt/models"]
    # KServe routes gRPC to the container port named h2c.
    assert server["ports"] == [{"name": "h2c", "containerPort": GRPC_PORT, "protocol": "TCP"}]
    env = {e["name"]: e["value"] for e in server["env"]}
    fields = {f"MODELRT_{name.upper()}" for name in ServerSettings.model_fields}
    assert set(env) <= fields
    assert env["MODELRT_HOST"] == "0.0.0.0"
    assert server["livenessProbe"]["grpc"]["service"] == LIVENESS
    assert server["readinessProbe"]["grpc"]["service"] == READINESS
    # The runtime's container is a core/v1 Container: validate it inside a Pod.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [server]},
    }
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def test_kserve_inference_service_selects_the_runtime() -> None:
    service = load(K8S / "kserve" / "inferenceservice.yaml")
    runtime = load(K8S / "kserve" / "servingruntime.yaml")
    assert (service["apiVersion"], service["kind"]) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    )
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in {
        f["name"] for f in runtime["spec"]["supportedModelFormats"]
    }
    assert model["protocolVersion"] == "grpc-v2"
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    assert model["storageUri"]
