"""The Node, Go and Java examples in clients/ against a real server.

Each example calls health Check, Predict, Generate (items printed as they arrive), a lock-step
Stream and a failing Predict whose ErrorInfo it decodes; the test reads what it printed. A test is
skipped, with the command that installs what is missing, where the toolchain is absent: Node's
packages come from `make node-client`, Go's and Java's from Debian (`make langs-toolchain`). The
Go and Java code for protos/ is made by `buf generate` with local plugins, as the guide shows.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.bundle_factory import write_bundle

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "langs.sh"
MISSING = 3  # scripts/langs.sh's exit status when a tool or package is not installed

GUIDE = ROOT / "clients" / "README.md"


def _guide_model() -> str:
    """The model the guide shows: the first python block after "## The model the examples call"."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## The model the examples call") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "clients/README.md lost its model block"
    return found[1]


@pytest.fixture
def address(start_server, tmp_path: Path) -> str:
    store = tmp_path / "store"
    write_bundle(store, "echo", _guide_model())
    return start_server(store).address


def _build(lang: str, out: Path) -> None:
    done = subprocess.run(
        [str(BUILD), lang, str(out)], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode == MISSING:
        pytest.skip(f"{lang} toolchain absent: {done.stderr.strip()}")
    assert done.returncode == 0, done.stdout + done.stderr


def _run(command: list[str]) -> list[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def _check_transcript(lines: list[str], language: str, not_found: str) -> None:
    """What both examples print, line by line (clients/README.md shows it).

    ``not_found`` is how the language spells the status code: Go's codes.NotFound, grpc-js's
    status.NOT_FOUND.
    """
    assert lines[:3] == [
        'health "": SERVING',
        'health "echo": SERVING',
        f"predict: HELLO FROM {language.upper()}",
    ], lines
    items = [re.fullmatch(r"generate\[(\d)\] at (\d+)ms: (.*)", line) for line in lines[3:6]]
    assert all(items), lines
    assert [(m[1], m[3]) for m in items if m] == [(str(i), f"{language}-{i}") for i in range(3)]
    times = [int(m[2]) for m in items if m]
    assert times[2] - times[0] >= 450, f"items did not arrive one by one: {times}"
    assert lines[6:] == [
        "stream[0]: one -> eno",
        "stream[1]: two -> owt",
        "stream[2]: three -> eerht",
        f"error: {not_found} MODEL_NOT_FOUND modelrt.dev model=no-such-model",
    ], lines


def test_node_example(address: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (Debian: apt-get install nodejs npm)")
    if not (ROOT / "clients" / "node" / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("the Node packages are not installed: run `make node-client`")
    lines = _run([node, str(ROOT / "clients" / "node" / "example.js"), address, "echo"])
    _check_transcript(lines, "node", "NOT_FOUND")


def test_go_example(address: str, tmp_path: Path) -> None:
    binary = tmp_path / "modelrt-go-example"
    _build("go", binary)
    lines = _run([str(binary), "-addr", address, "-model", "echo"])
    _check_transcript(lines, "go", "NotFound")


def test_java_example(address: str, tmp_path: Path) -> None:
    classes = tmp_path / "classes"
    _build("java", classes)
    names = {path.name for path in (classes / "dev" / "modelrt" / "v1").glob("*.class")}
    # java_multiple_files: one class per message; the outer classes do not shadow java.lang.Runtime.
    assert {"ModelRuntimeGrpc.class", "PredictRequest.class", "RuntimeProto.class"} <= names
    assert "Runtime.class" not in names
    java = shutil.which("java")
    assert java, "javac is installed but java is not"
    classpath = (classes / "classpath").read_text(encoding="utf-8").strip()
    lines = _run([java, "-cp", classpath, "Example", address, "echo"])
    _check_transcript(lines, "java", "NOT_FOUND")
