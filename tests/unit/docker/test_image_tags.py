"""Every place that names a modelrt image uses one tag: `modelrt:<version>` (CPU) and
`modelrt-gpu:<version>` (GPU), the version being pyproject's."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
EXPECTED = {"modelrt": f"modelrt:{VERSION}", "modelrt-gpu": f"modelrt-gpu:{VERSION}"}
# An image reference: `modelrt` or `modelrt-gpu`, a colon, then a tag; not `modelrt:modelrt`
# (a chown), a placeholder `<tag>`, or a registry-qualified name.
REFERENCE = re.compile(r"(?<![\w/<.-])(modelrt(?:-gpu)?):([\w.$<>{}-]+)")
FILES = [
    ROOT / "README.md",
    ROOT / "docker" / "Dockerfile",
    ROOT / "docker" / "Dockerfile.gpu",
    ROOT / "docker" / "compose.yaml",
    *sorted((ROOT / "docker" / "k8s").rglob("*.yaml")),
]


def image_references(path: Path) -> list[str]:
    """The `name:tag` image references in ``path`` (users and groups like modelrt:modelrt aside)."""
    found = []
    for name, tag in REFERENCE.findall(path.read_text(encoding="utf-8")):
        if tag in {"modelrt", "<tag>"} or tag.startswith("<"):
            continue
        found.append(f"{name}:{tag}")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_image_reference_uses_the_package_version_tag(path: Path) -> None:
    for reference in image_references(path):
        name = reference.split(":", 1)[0]
        assert reference == EXPECTED[name], f"{path.name}: {reference} (expected {EXPECTED[name]})"


def test_the_cpu_image_tag_is_named_by_the_dockerfile_compose_manifests_and_readme() -> None:
    named_in = {path.name for path in FILES if EXPECTED["modelrt"] in image_references(path)}
    assert {"README.md", "Dockerfile", "compose.yaml", "deployment.yaml"} <= named_in
    gpu_image = EXPECTED["modelrt-gpu"]
    gpu_named_in = {path.name for path in FILES if gpu_image in image_references(path)}
    assert {"README.md", "Dockerfile.gpu", "deployment-gpu.yaml"} <= gpu_named_in
