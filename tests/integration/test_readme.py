"""The README's snippets, run as written against a real `modelrt serve` of the examples.

The tour assumes the server `make serve` starts (the examples in a store, on 127.0.0.1:50051)
and a shell in the repository root with `.venv` activated. Here the server listens on a free
port instead, so the address is the one thing the test changes: `MODELRT_ADDRESS` for the CLI
and the literal address in the Python and grpcurl snippets. Deployment snippets (docker,
kubectl, TLS) need an engine, a cluster or certificates and are checked by tests/unit/docker.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients import Client
from tests.example_store import build_example_store
from tests.serve_process import http_port_file, start_serve, stop

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VENV = Path(sys.executable).parent.parent
MAKE_SERVE_ADDRESS = "127.0.0.1:50051"


def blocks(language: str | None = None) -> list[str]:
    """The README's fenced code blocks (of ``language`` when given), in order."""
    found = re.findall(r"```([a-z]*)\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    return [body for lang, body in found if language is None or lang == language]


def block(marker: str) -> str:
    """The fenced code block of the README whose first line starts with ``marker``."""
    for body in blocks():
        if body.startswith(marker):
            return body
    raise AssertionError(f"README has no code block starting with {marker!r}")


def run_shell(script: str, cwd: Path, address: str, timeout: float = 180) -> str:
    """Run ``script`` with bash -e in ``cwd`` against ``address``; return its stdout."""
    env = {**os.environ, "MODELRT_ADDRESS": address}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done.stdout


class Tour:
    """A working folder laid out like the repository root, and the examples' server."""

    def __init__(self, root: Path, address: str, http_address: str = "") -> None:
        self.root = root
        self.address = address
        self.http_address = http_address

    def shell(self, script: str) -> str:
        """Run a README bash block after the tour's `source .venv/bin/activate`."""
        return run_shell(f"{block('source .venv/bin/activate')}\n{script}", self.root, self.address)


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tour]:
    store = build_example_store(tmp_path_factory.mktemp("readme") / "model-store")
    root = tmp_path_factory.mktemp("checkout")
    (root / ".venv").symlink_to(VENV, target_is_directory=True)
    bundle = root / "my-bundle"
    bundle.mkdir()
    (bundle / "model.py").write_text(block("# my-bundle/model.py"))
    (bundle / "modelrt.yaml").write_text(block("# my-bundle/modelrt.yaml"))
    workdir = tmp_path_factory.mktemp("serve")
    process, address = start_serve(store, workdir)
    try:
        http = f"127.0.0.1:{http_port_file(workdir).read_text().strip()}"
        yield Tour(root, address, http)
    finally:
        stop(process)


def test_readme_first_calls_after_make_serve_run(tour: Tour) -> None:
    calls = next(body for body in blocks("bash") if body.startswith(".venv/bin/modelrt models"))
    out = run_shell(calls, tour.root, tour.address)
    assert "sentiment" in out
    assert "positive" in out


def test_readme_first_http_call_after_make_serve_answers(tour: Tour) -> None:
    call = block("curl -s localhost:8000/api/v1/models/sentiment/predict")
    out = run_shell(call.replace("localhost:8000", tour.http_address), tour.root, tour.address)
    assert "positive" in out


@pytest.fixture(scope="module")
def uploaded(tour: Tour) -> str:
    """The output of the tour's upload block (run once: the later steps call what it uploads)."""
    return tour.shell(block("modelrt upload my-bundle"))


def test_readme_tour_uploads_calls_and_deletes_the_bundle(tour: Tour, uploaded: str) -> None:
    assert "shout 1 READY" in uploaded
    assert "shout 2 READY" in uploaded
    with Client(tour.address, timeout=10) as client:
        assert [m.version for m in client.list_models() if m.name == "shout"] == ["2"]
        assert client.predict("shout", {"text": "hello"}).structured == {
            "text": "HELLO!!",
            "length": 7,
        }
        items = [item.structured for item in client.generate("shout", {"text": "a bc"})]
        assert items == [{"text": "A", "length": 1}, {"text": "BC", "length": 2}]


def test_readme_cli_tour_runs_every_command(tour: Tour, uploaded: str) -> None:
    out = tour.shell(block("modelrt models"))
    assert "HELLO!!" in out
    assert '"label": "red"' in out  # the .npy tensor and the literal one
    assert '"labels": []' in out  # block-detector finds no block on a dark PNG
    assert (tour.root / "dark.png").is_file()
    assert (tour.root / "red.npy").is_file()


def test_readme_python_tour_runs_as_written(tour: Tour, uploaded: str) -> None:
    code = next(body for body in blocks("python") if "with Client(" in body)
    script = tour.root / "tour.py"
    script.write_text(code.replace(MAKE_SERVE_ADDRESS, tour.address))
    out = tour.shell("python tour.py")
    assert "'text': 'HELLO!!'" in out
    assert "\nred [" in out  # the label, then the probabilities tensor
    last = out.splitlines()[-2]  # the stream's final transcript: the two tones, heard
    assert "'text': 'jp'" in last
    assert "'final': True" in last
    assert out.rstrip().endswith("MODEL_NOT_FOUND")


def test_readme_grpcurl_calls_answer(tour: Tour) -> None:
    calls = block("grpcurl -plaintext 127.0.0.1:50051 list")
    out = tour.shell(calls.replace(MAKE_SERVE_ADDRESS, tour.address))
    assert "modelrt.v1.ModelRuntime" in out
    assert "SERVING" in out
    assert "positive" in out


def test_readme_authoring_commands_make_a_bundle_that_passes_run_local(tour: Tour) -> None:
    out = tour.shell(block("modelrt init my-detector"))
    assert "FAIL" not in out
    assert "PASS  predict" in out


def test_readme_clarifai_folder_serves_each_method(start_server, tmp_path: Path) -> None:
    folder = tmp_path / "store" / "my-llm"
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.py").write_text(block("# my-llm/1/model.py"))
    (folder / "config.yaml").write_text(
        "model:\n  id: my-llm\n  user_id: me\n  app_id: demo\n  model_type_id: text-to-text\n"
    )
    server = start_server(tmp_path / "store")
    with Client(server.address, timeout=10) as client:
        reply = client.predict("my-llm", {"prompt": "you"}, parameters={"temperature": 0.5})
        assert reply.structured == "hello you at 0.5"
        assert [i.structured for i in client.generate("my-llm", {"prompt": "a b"})] == ["a", "b"]
        answers = client.stream("my-llm", iter([{"text": "x"}, {"text": "y"}]))
        assert [i.structured for i in answers] == ["X", "Y"]
