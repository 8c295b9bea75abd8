"""Tests for the loader's import-linter contracts: they hold, and a hidden cycle breaks them.

Each test lints a copy of loader/ with the contracts pyproject.toml declares for it, so an
import added to the copy shows what ``lint-imports`` (run by ``make check``) would say.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[3]
LINT = (
    "import sys; from importlinter.cli import lint_imports;"
    " sys.exit(lint_imports(config_filename='contracts.toml', no_cache=True, no_logo=True))"
)


def _loader_contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return [c for c in contracts if str(c.get("id", "")).startswith("loader-")]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lint_copy(tmp_path: Path, added: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Copy loader/, append ``added`` source to its modules, lint it with the loader contracts."""
    shutil.copytree(
        ROOT / "loader", tmp_path / "loader", ignore=shutil.ignore_patterns("__pycache__")
    )
    for module, source in added.items():
        with (tmp_path / "loader" / module).open("a", encoding="utf-8") as file:
            file.write(source)
    lines = [
        "[tool.importlinter]",
        'root_packages = ["loader"]',
        "include_external_packages = true",
    ]
    for contract in _loader_contracts():
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in contract.items()]
    (tmp_path / "contracts.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", LINT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


HIDDEN_CYCLE = """
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loader.bundle import PreparedBundle
"""


def test_loader_declares_a_layers_and_an_acyclic_contract() -> None:
    assert {c["type"] for c in _loader_contracts()} == {"layers", "acyclic_siblings"}


def test_loader_as_it_is_keeps_its_contracts(tmp_path: Path) -> None:
    result = _lint_copy(tmp_path, {})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_import_of_the_pipeline_behind_type_checking_breaks_both_contracts(
    tmp_path: Path,
) -> None:
    result = _lint_copy(tmp_path, {"formats.py": HIDDEN_CYCLE})

    assert result.returncode == 1
    assert "loader.formats -> loader.bundle" in result.stdout
    assert "0 kept, 2 broken" in result.stdout


def test_a_format_that_imports_another_format_breaks_the_layers(tmp_path: Path) -> None:
    result = _lint_copy(tmp_path, {"gesund/detect.py": "\nimport loader.clarifai.layout\n"})

    assert result.returncode == 1
    assert "loader.gesund is not allowed to import loader.clarifai" in result.stdout
