"""tritonclient's HTTP client, unchanged, and the README's OIP REST snippets, against the
examples color-classifier (ONNX) and tiny-llm as `make serve` serves them.

tritonclient runs in the peers venv (``make peers``: it needs protobuf<7) as a subprocess.
Skipped, saying why, when that venv or the onnx package is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import peers_python

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CLIENT = Path(__file__).resolve().parent / "peer_clients" / "tritonclient_http.py"
MAKE_SERVE_HTTP = "127.0.0.1:8000"


def _readme_block(language: str, marker: str) -> str:
    """The README's ``language`` code block that holds ``marker``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(rf"```{language}\n(.*?)```", readme, flags=re.S)
    return next(body for body in found if marker in body)


@pytest.fixture
def examples_http(start_server, tmp_path: Path) -> str:
    """host:port of the HTTP front door of a server with the two examples."""
    pytest.importorskip("onnx", reason="the color-classifier example needs onnx to build")
    store = tmp_path / "store"
    for name in ("color-classifier", "tiny-llm"):
        shutil.copytree(EXAMPLES / name, store / name, ignore=shutil.ignore_patterns("*.onnx"))
    built = subprocess.run(
        [sys.executable, str(store / "color-classifier" / "build_weights.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return f"127.0.0.1:{start_server(store).server.http_port}"


def test_tritonclient_http_infers_on_the_onnx_example(examples_http: str) -> None:
    python = peers_python("tritonclient.http", "tritonclient.http.aio")
    result = subprocess.run(
        [str(python), str(CLIENT), examples_http], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout)
    assert (report["live"], report["ready"], report["model_ready"]) == (True, True, True)
    assert report["missing_ready"] is False
    assert report["server"]["name"] == "modelrt"
    assert "binary_tensor_data" in report["server"]["extensions"]
    for metadata in (report["metadata"], report["versioned"]):
        assert metadata["platform"] == "onnxruntime_onnx"
        assert metadata["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [-1, -1, 3]}]
    assert {entry["name"] for entry in report["index"]} == {"color-classifier", "tiny-llm"}
    config = report["config"]
    assert (config["name"], config["max_batch_size"]) == ("color-classifier", 0)
    assert config["input"][0]["dims"] == [-1, -1, 3]
    (stats,) = report["statistics"]["model_stats"]
    assert stats["name"] == "color-classifier"
    json_infer = report["json_infer"]
    assert (json_infer["id"], json_infer["structured"]["label"]) == ("json-1", "red")
    assert json_infer["binary_outputs"] == [False, False]
    assert json_infer["probabilities_shape"] == [3]
    binary_infer = report["binary_infer"]
    assert (binary_infer["id"], binary_infer["structured"]["label"]) == ("bin-1", "blue")
    assert binary_infer["binary_outputs"] == [True, True]
    assert report["all_binary"]["structured"]["label"] == "green"
    assert report["all_binary"]["timeout_label"] == "green"
    assert report["bytes_json"] == report["bytes_binary"]
    assert report["bytes_json"]["tokens"] == 3
    assert report["bad_infer"]["status"] == "400"
    assert "image" in report["bad_infer"]["message"]
    assert report["missing_infer"]["status"] == "404"
    assert "no-such-model" in report["missing_infer"]["message"]
    assert report["aio"] == {
        "ready": True,
        "id": "aio-1",
        "structured": report["aio"]["structured"],
    }
    assert report["aio"]["structured"]["label"] == "red"
    assert (report["unloaded_ready"], report["reloaded_ready"]) == (False, True)


def test_readme_oip_curl_calls_answer(examples_http: str) -> None:
    script = _readme_block("bash", "/v2/health/ready").replace(MAKE_SERVE_HTTP, examples_http)
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "200"
    metadata = json.loads(lines[1])
    assert metadata["name"] == "color-classifier"
    answer = json.loads(lines[2])
    (structured,) = answer["outputs"]
    assert json.loads(structured["data"][0])["label"] == "blue"
    events = [json.loads(line[5:]) for line in lines[3:] if line.startswith("data:")]
    assert [event["structured"]["index"] for event in events] == [0, 1, 2, 3]


def test_readme_tritonclient_http_snippet_runs(examples_http: str) -> None:
    python = peers_python("tritonclient.http")
    code = _readme_block("python", "tritonclient.http").replace(MAKE_SERVE_HTTP, examples_http)
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("True ")
    assert "red" in done.stdout
