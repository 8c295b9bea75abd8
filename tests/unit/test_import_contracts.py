"""The import contracts in pyproject.toml bite: lint-imports on a copy of the tree fails when one
import breaks the rooms' order or lets the engine reach protobuf, even through another module."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("modelrt", "registry", "loader", "runtime", "clients")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
ROOMS = "Rooms inside runtime import downward only"
TRANSPORT_FREE = "The engine, placement, store, metrics, loader and registry are transport-free"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and pyproject.toml that a test may add imports to."""
    root = tmp_path_factory.mktemp("tree")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def broken(output: str) -> set[str]:
    return {line.removesuffix(" BROKEN") for line in output.splitlines() if line.endswith("BROKEN")}


def add_import(root: Path, module: str, line: str) -> str:
    """Append ``line`` to ``module``'s file; returns the original text to put back."""
    path = root / (module.replace(".", "/") + ".py")
    original = path.read_text()
    path.write_text(original + f"\n{line}\n")
    return original


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # A room importing a room above it: the store reaching the engine.
        ("runtime.store.store", "import runtime.engine.models", ROOMS),
        # Rooms side by side stay apart: the engine and run-local.
        ("runtime.engine.reconcile", "import runtime.local.samples", ROOMS),
        # The engine reaching protobuf directly, and indirectly through the wire decoding.
        ("runtime.engine.scheduler", "import google.protobuf.message", TRANSPORT_FREE),
        ("runtime.engine.scheduler", "import runtime.instances.wire", TRANSPORT_FREE),
        ("runtime.placement.planning", "import grpc", TRANSPORT_FREE),
        ("runtime.store.mirror", "import modelrt.v1.runtime_pb2", TRANSPORT_FREE),
    ],
)
def test_contract_breaks_when_one_import_crosses_it(
    tree: Path, module: str, line: str, contract: str
) -> None:
    original = add_import(tree, module, line)
    try:
        done = lint_imports(tree)
    finally:
        (tree / (module.replace(".", "/") + ".py")).write_text(original)
    assert done.returncode != 0, done.stdout
    assert broken(done.stdout) == {contract}, done.stdout


def test_the_tree_as_committed_keeps_every_contract(tree: Path) -> None:
    done = lint_imports(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert broken(done.stdout) == set()
