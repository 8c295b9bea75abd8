"""The peers' own clients against a real modelrt server: tritonclient gRPC, sync and asyncio.

They run in the peers venv (``make peers``: tritonclient needs protobuf<7) as subprocesses,
against the examples color-classifier (ONNX) and tiny-llm (Generate), as `make serve` serves
them. Skipped, saying why, when that venv or the onnx package is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import peers_python

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLIENTS = Path(__file__).resolve().parent / "peer_clients"


@pytest.fixture
def examples_server(start_server, tmp_path: Path):
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
    return start_server(store)


def _run(script: str, address: str) -> dict:
    python = peers_python("tritonclient.grpc", "tritonclient.grpc.aio")
    result = subprocess.run(
        [str(python), str(CLIENTS / script), address],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


def _check_description(report: dict) -> None:
    assert report["live"] is True
    assert report["ready"] is True
    assert report["model_ready"] is True
    metadata = report["metadata"]
    assert metadata["name"] == "color-classifier"
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [
        {"name": "image", "datatype": "UINT8", "shape": ["-1", "-1", "3"]}
    ]
    config = report["config"]["config"]
    assert config["name"] == "color-classifier"
    assert config["input"][0]["data_type"] == "TYPE_UINT8"
    assert config["input"][0]["dims"] == ["-1", "-1", "3"]


def test_tritonclient_sync_drives_the_examples(examples_server) -> None:
    report = _run("tritonclient_sync.py", examples_server.address)
    _check_description(report)
    assert report["missing_ready"] is False
    assert report["server"]["name"] == "modelrt"
    assert report["infer"]["id"] == "raw-1"
    assert report["infer"]["structured"]["label"] == "red"
    assert report["timeout_infer"] == "red"
    assert report["bad_infer"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "image" in report["bad_infer"]["message"]
    assert report["typed"] == {
        "id": "typed",
        "raw": 0,
        "structured": report["typed"]["structured"],
    }
    assert report["typed"]["structured"]["label"] == "blue"
    stream = report["stream"]
    assert [item.get("error") for item in stream] == [None] * len(stream)
    for rid in ("s1", "s2"):
        mine = [item for item in stream if item["id"] == rid]
        assert [item["final"] for item in mine] == [False, False, False, True]
        assert [item["structured"]["index"] for item in mine[:-1]] == [0, 1, 2]
    (stats,) = report["statistics"]["model_stats"]
    assert stats["name"] == "color-classifier"
    assert int(stats["inference_stats"]["success"]["count"]) >= 2
    names = {model["name"] for model in report["index"]["models"]}
    assert names == {"color-classifier", "tiny-llm"}


def test_tritonclient_asyncio_drives_the_examples(examples_server) -> None:
    report = _run("tritonclient_aio.py", examples_server.address)
    _check_description(report)
    assert report["infer"] == {"id": "aio-1", "structured": report["infer"]["structured"]}
    assert report["infer"]["structured"]["label"] == "green"
    finals = {
        rid: [i["final"] for i in report["stream"] if i.get("id") == rid] for rid in ("a1", "a2")
    }
    assert finals == {"a1": [False, False, True], "a2": [False, False, True]}


def _perf_analyzer() -> tuple[str, dict[str, str]]:
    """The perf_analyzer binary and the environment it runs in; skips when it cannot run.

    It ships in the perf-analyzer wheel (tritonclient[all]) and needs libb64 (Debian's
    libb64-0d) and the CUDA runtime library (the nvidia-cuda-runtime-cu12 wheel), no GPU.
    """
    python = peers_python("tritonclient.grpc")
    found = shutil.which("perf_analyzer", path=f"{python.parent}:{os.environ.get('PATH', '')}")
    if found is None:
        pytest.skip(
            "no perf_analyzer binary: the perf-analyzer wheel (tritonclient[all]) is not "
            "installable here (the package index offers only its 0.1.0 placeholder)"
        )
    env = dict(os.environ)
    libraries = sorted(python.parent.parent.glob("lib/python*/site-packages/nvidia/*/lib"))
    env["LD_LIBRARY_PATH"] = ":".join(
        [*map(str, libraries), env.get("LD_LIBRARY_PATH", "")]
    ).rstrip(":")
    probe = subprocess.run(
        [found, "--version"], capture_output=True, text=True, timeout=30, env=env
    )
    if probe.returncode != 0 and "error while loading shared libraries" in probe.stderr:
        pytest.skip(f"perf_analyzer cannot run here: {probe.stderr.strip()[:200]}")
    return found, env


def test_perf_analyzer_measures_the_onnx_example(examples_server) -> None:
    binary, env = _perf_analyzer()
    result = subprocess.run(
        [
            binary,
            "-m", "color-classifier",
            "-u", examples_server.address,
            "-i", "grpc",
            "--shape", "image:4,4,3",
            "--concurrency-range", "1:1",
            "--measurement-interval", "500",
            "--max-trials", "3",
            "--stability-percentage", "100",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Throughput" in result.stdout


def test_kserves_grpc_client_drives_the_onnx_example(examples_server) -> None:
    python = peers_python("kserve")  # installs without torch: `make peers` adds it
    result = subprocess.run(
        [str(python), str(CLIENTS / "kserve_grpc.py"), examples_server.address],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["live"], report["ready"], report["model_ready"]) == (True, True, True)
    assert report["infer"]["id"] == "kserve-1"
    assert report["infer"]["model"] == "color-classifier"
    assert report["infer"]["structured"]["label"] == "blue"
