"""The project's license: the LICENSE file, the packaging metadata that names it, the images."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from setuptools.config.pyprojecttoml import read_configuration

ROOT = Path(__file__).resolve().parents[2]
#: sha256 of the Apache License 2.0 text as the ASF publishes it (LICENSE-2.0.txt).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_license_file_is_the_unmodified_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256


def test_packaging_metadata_names_the_license_and_its_file() -> None:
    project = read_configuration(ROOT / "pyproject.toml")["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert all((ROOT / name).is_file() for name in project["license-files"])


def test_every_image_that_builds_the_package_copies_the_license() -> None:
    for dockerfile in sorted((ROOT / "docker").glob("Dockerfile*")):
        copies = re.findall(r"^COPY (?!--from)(.+) \./$", dockerfile.read_text(), re.MULTILINE)
        sources = {name for line in copies for name in line.split()}
        if "pyproject.toml" in sources:
            assert "LICENSE" in sources, dockerfile.name
