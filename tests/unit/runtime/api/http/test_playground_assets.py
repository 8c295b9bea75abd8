"""The playground's files hang together: every module a script imports and every file the page
names exists, and the asset lookup refuses paths that leave the page's folder."""

from __future__ import annotations

import re

import pytest
from starlette.exceptions import HTTPException

from runtime.api.http.routes_playground import ASSETS, asset_path, content_type

IMPORT = re.compile(r"""^\s*(?:import|export)\b[^"']*?from\s+["'](\.[^"']+)["']""", re.MULTILINE)
PAGE_FILE = re.compile(r"""["'](/playground/[^"'?#]+)""")


def test_every_relative_import_of_every_script_exists() -> None:
    scripts = sorted((ASSETS / "js").glob("*.js"))
    assert scripts
    for script in scripts:
        for target in IMPORT.findall(script.read_text(encoding="utf-8")):
            assert (script.parent / target).resolve().is_file(), f"{script.name} imports {target}"


def test_every_file_the_page_and_scripts_name_exists() -> None:
    sources = [ASSETS / "index.html", *sorted((ASSETS / "js").glob("*.js"))]
    named = {m for source in sources for m in PAGE_FILE.findall(source.read_text("utf-8"))}
    assert "/playground/js/main.js" in named
    for url in named:
        assert asset_path(url.removeprefix("/playground/")).is_file(), url


def test_the_vendored_swagger_ui_is_there_with_its_license() -> None:
    vendor = ASSETS / "vendor" / "swagger-ui"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "VERSION"):
        assert (vendor / name).is_file(), name


@pytest.mark.parametrize(
    "path", ["", "..", "../app.py", "js/../../app.py", "/etc/passwd", "js", "a\\..\\b"]
)
def test_asset_path_refuses_what_is_not_a_file_of_the_page(path: str) -> None:
    with pytest.raises(HTTPException) as caught:
        asset_path(path)
    assert caught.value.status_code == 404


def test_content_types_by_suffix() -> None:
    assert content_type(ASSETS / "js" / "main.js").startswith("text/javascript")
    assert content_type(ASSETS / "index.html").startswith("text/html")
    assert content_type(ASSETS / "x.unknownsuffix") == "application/octet-stream"


def test_every_file_of_the_page_is_package_data() -> None:
    """An installed wheel serves the same page: pyproject's package-data globs take every file."""
    from setuptools.config.pyprojecttoml import read_configuration

    root = ASSETS.parent
    pyproject = root.parents[2] / "pyproject.toml"
    patterns = read_configuration(pyproject)["tool"]["setuptools"]["package-data"]
    globbed = {p for pattern in patterns["runtime.api.http"] for p in root.glob(pattern)}
    files = {p for p in ASSETS.rglob("*") if p.is_file()}
    assert files
    assert files - globbed == set()
