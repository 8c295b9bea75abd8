"""The example bundles, served by a real server exactly as `make serve` serves them."""

from __future__ import annotations

import importlib.util
import itertools
import queue
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load_tones() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tones", EXAMPLES / "speech-stream" / "tones.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("examples") / "store"
    shutil.copytree(EXAMPLES, store, ignore=shutil.ignore_patterns("*.onnx", "__pycache__"))
    subprocess.run(
        [sys.executable, str(store / "color-classifier" / "build_weights.py")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return store


@pytest.fixture
def server(start_server, store: Path):
    return start_server(store)


def test_every_example_loads_ready(server) -> None:
    reply = server.stub().ListModels(runtime_pb2.ListModelsRequest(), timeout=10)
    states = {m.name: m.state for m in reply.models}
    assert states == dict.fromkeys(
        ["color-classifier", "sentiment", "speech-stream", "tiny-llm"], model_pb2.MODEL_STATE_READY
    )


def test_sentiment_example_classifies_text(server) -> None:
    request = runtime_pb2.PredictRequest(
        model="sentiment", inputs={"text": codec.python_to_value("what a great, lovely day")}
    )
    result = codec.json_to_python(server.stub().Predict(request, timeout=10).structured)
    assert result["label"] == "positive"
    assert result["score"] > 0.55


@pytest.mark.parametrize(("rgb", "label"), [((250, 10, 10), "red"), ((5, 200, 30), "green")])
def test_color_classifier_example_runs_its_onnx_model(server, rgb, label) -> None:
    image = np.full((16, 16, 3), rgb, np.uint8)
    request = runtime_pb2.PredictRequest(
        model="color-classifier", inputs={"image": codec.python_to_value(image)}
    )
    reply = server.stub().Predict(request, timeout=10)
    assert codec.json_to_python(reply.structured)["label"] == label
    probabilities = codec.value_to_python(reply.outputs["probabilities"])
    assert probabilities.shape == (3,)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_tiny_llm_example_streams_tokens(server) -> None:
    request = runtime_pb2.GenerateRequest(
        model="tiny-llm",
        inputs={"prompt": codec.python_to_value("the river")},
        parameters=codec.dict_to_struct({"max_tokens": 12, "delay_ms": 50}),
    )
    start = time.monotonic()
    arrivals, tokens = [], []
    for item in server.stub().Generate(request, timeout=30):
        arrivals.append(time.monotonic() - start)
        tokens.append(codec.json_to_python(item.structured)["token"])
    assert len(tokens) == 12
    assert all(isinstance(token, str) and token.strip() for token in tokens)
    assert arrivals[0] < arrivals[-1] - 0.3


def test_speech_stream_example_transcribes_live_audio(server) -> None:
    audio = _load_tones().synthesize("hi there")
    chunks = [audio[i : i + 4000] for i in range(0, len(audio), 4000)]
    outbox: queue.Queue[runtime_pb2.StreamRequest | None] = queue.Queue()

    def requests() -> Iterator[runtime_pb2.StreamRequest]:
        while (message := outbox.get(timeout=20)) is not None:
            yield message

    replies = server.stub().Stream(requests(), timeout=60)
    partials = []
    for k, chunk in enumerate(chunks):
        outbox.put(
            runtime_pb2.StreamRequest(
                model="speech-stream" if k == 0 else "",
                inputs={"audio": codec.python_to_value(chunk.astype(np.float32))},
            )
        )
        partials.append(codec.json_to_python(next(replies).structured))
    outbox.put(None)
    final = [codec.json_to_python(r.structured) for r in replies]
    texts = [p["text"] for p in partials]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))
    assert final == [{"text": "hi there", "final": True}]
