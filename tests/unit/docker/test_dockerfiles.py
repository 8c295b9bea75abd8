"""The Dockerfiles and compose file: lint-clean, and in step with the packaging and settings.

No Docker engine here, so the checks read the files: hadolint, then what they install and run
against pyproject.toml and runtime.settings.ServerSettings.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from runtime.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "Dockerfile.gpu"]
HADOLINT = Path(sys.executable).with_name("hadolint")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
GRPC_PORT = ServerSettings.model_fields["port"].default
METRICS_PORT = ServerSettings.model_fields["metrics_port"].default
HTTP_PORT = ServerSettings.model_fields["http_port"].default
GRACE_PERIOD_S = ServerSettings.model_fields["grace_period_s"].default
# What the server may still need after the grace period: stopping workers, the metrics server.
SHUTDOWN_MARGIN_S = 5


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line.removesuffix("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
            pending = ""
    return found


def values(dockerfile: Path, keyword: str) -> list[str]:
    return [arguments for key, arguments in instructions(dockerfile) if key == keyword]


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    """The instructions of the last stage: the image that ships."""
    found = instructions(dockerfile)
    start = max(i for i, (key, _) in enumerate(found) if key == "FROM")
    return found[start:]


def build_arg(dockerfile: Path, name: str) -> str:
    for arguments in values(dockerfile, "ARG"):
        key, _, default = arguments.partition("=")
        if key == name:
            return default
    raise AssertionError(f"{dockerfile.name} declares no ARG {name}")


def requirement_pin(extra: str, package: str) -> str:
    for requirement in EXTRAS[extra]:
        match = re.fullmatch(rf"{re.escape(package)}==(\S+)", requirement)
        if match:
            return match.group(1)
    raise AssertionError(f"pyproject's {extra!r} extra pins no {package}")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_dockerfile_passes_hadolint_with_no_finding(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_dockerfile_is_multi_stage_on_pinned_base_images(dockerfile: Path) -> None:
    bases = [arguments.split()[0] for arguments in values(dockerfile, "FROM")]
    assert len(bases) >= 2
    for base in bases:
        name, _, tag = base.partition("@")[0].rpartition(":")
        assert name, f"{base} has no tag"
        assert tag != "latest"
        assert re.search(r"\d+\.\d+", tag), f"{base} is not pinned to a release"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_image_runs_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    users = [arguments for key, arguments in final_stage(dockerfile) if key == "USER"]
    assert users, "the shipped stage sets no USER"
    user, _, group = users[-1].partition(":")
    assert user.isdigit()
    assert int(user) != 0
    assert group == "" or int(group) != 0


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_image_exposes_the_settings_default_ports_and_binds_all_interfaces(
    dockerfile: Path,
) -> None:
    exposed = {
        int(port.split("/")[0]) for ports in values(dockerfile, "EXPOSE") for port in ports.split()
    }
    assert exposed == {GRPC_PORT, HTTP_PORT, METRICS_PORT}
    env = " ".join(values(dockerfile, "ENV"))
    assert f"MODELRT_PORT={GRPC_PORT}" in env
    assert f"MODELRT_METRICS_PORT={METRICS_PORT}" in env
    assert "MODELRT_HOST=0.0.0.0" in env
    assert "MODELRT_METRICS_HOST=0.0.0.0" in env
    assert f"MODELRT_HTTP_PORT={HTTP_PORT}" in env
    assert "MODELRT_HTTP_HOST=0.0.0.0" in env


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_image_keeps_the_model_store_in_a_volume(dockerfile: Path) -> None:
    env = " ".join(values(dockerfile, "ENV"))
    store = re.search(r"MODELRT_MODEL_STORE=(\S+)", env)
    assert store is not None
    assert values(dockerfile, "VOLUME") == [f'["{store.group(1)}"]']


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_image_installs_only_extras_that_pyproject_defines(dockerfile: Path) -> None:
    extras = build_arg(dockerfile, "MODELRT_EXTRAS").split(",")
    assert set(extras) <= set(EXTRAS), set(extras) - set(EXTRAS)
    assert "dev" not in extras
    assert '"/src[${MODELRT_EXTRAS}]"' in " ".join(values(dockerfile, "RUN"))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_image_installs_the_torch_version_pyproject_pins(dockerfile: Path) -> None:
    assert build_arg(dockerfile, "TORCH_VERSION") == requirement_pin("torch", "torch")
    assert "--index-url" in " ".join(values(dockerfile, "RUN"))


def test_cpu_image_takes_torch_from_the_cpu_index() -> None:
    runs = " ".join(values(DOCKER / "Dockerfile", "RUN"))
    assert "--index-url https://download.pytorch.org/whl/cpu " in runs


def test_gpu_image_has_cuda_torch_and_onnxruntime_gpu_without_cpu_onnxruntime() -> None:
    gpu = DOCKER / "Dockerfile.gpu"
    extras = build_arg(gpu, "MODELRT_EXTRAS").split(",")
    assert "gpu" in extras
    assert any(r.startswith("onnxruntime-gpu") for r in EXTRAS["gpu"])
    # The onnx extra brings the CPU onnxruntime, which would overwrite onnxruntime-gpu.
    for extra in extras:
        assert not any(re.match(r"onnxruntime\b(?!-)", r) for r in EXTRAS[extra]), extra
    assert build_arg(gpu, "TORCH_CUDA").startswith("cu")
    runs = " ".join(values(gpu, "RUN"))
    assert "https://download.pytorch.org/whl/${TORCH_CUDA}" in runs
    assert "pip show --quiet onnxruntime" in runs
    assert values(gpu, "FROM")[0].startswith("nvidia/cuda:")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_image_runs_the_console_script_pyproject_declares(dockerfile: Path) -> None:
    assert PYPROJECT["project"]["scripts"]["modelrt"] == "clients.cli:main"
    assert values(dockerfile, "ENTRYPOINT") == ['["modelrt"]']
    assert values(dockerfile, "CMD")[-1] == '["serve"]'
    assert "serve" in PYPROJECT["project"]["entry-points"]["modelrt.cli"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_healthcheck_asks_the_grpc_health_service_for_readiness(dockerfile: Path) -> None:
    (healthcheck,) = values(dockerfile, "HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--start-period=" in options
    script = yaml.safe_load(command)[-1]  # the JSON form's `sh -c` script
    words = shlex.split(script)
    assert words[:3] == ["modelrt", "--address", "127.0.0.1:${MODELRT_PORT}"]
    # `modelrt health` with no service checks "" (ready) and exits 0 only when SERVING.
    assert words[words.index("health") + 1 :] == ["||", "exit", "1"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_sigterm_reaches_the_server_for_a_graceful_drain(dockerfile: Path) -> None:
    assert values(dockerfile, "STOPSIGNAL") in ([], ["SIGTERM"])
    assert values(dockerfile, "ENTRYPOINT")[0].startswith("[")  # exec form: no shell in between


def test_compose_serves_the_examples_with_the_cpu_image() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    server = services["modelrt"]
    for service in services.values():
        build = service["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKERFILES[0]
    seeding = services["examples"]
    assert "../examples:/examples:ro" in seeding["volumes"]
    assert "examples/build.py" in seeding["command"][0]
    store = next(v for v in seeding["volumes"] if v.endswith(":/models"))
    assert store in server["volumes"]
    assert server["depends_on"]["examples"]["condition"] == "service_completed_successfully"
    published = {int(port.rsplit(":", 1)[1]) for port in server["ports"]}
    assert published == {GRPC_PORT, HTTP_PORT, METRICS_PORT}
    assert "MODELRT_ADMIN_TOKEN" in server["environment"]


def test_compose_stop_timeout_outlasts_the_grace_period() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    server = compose["services"]["modelrt"]
    grace = dict(item.split("=", 1) for item in server["environment"] if "=" in item)
    stop = int(server["stop_grace_period"].removesuffix("s"))
    assert stop >= float(grace.get("MODELRT_GRACE_PERIOD_S", GRACE_PERIOD_S)) + SHUTDOWN_MARGIN_S
