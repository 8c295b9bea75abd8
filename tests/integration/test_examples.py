"""The example bundles, served by a real `modelrt serve` exactly as `make serve` serves them.

One server (one process, a worker per example) serves every test of this module: TensorFlow,
torch and scikit-learn load once.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import grpc
import numpy as np
import pytest
from PIL import Image

from clients import Client
from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2, runtime_pb2_grpc
from tests.example_store import EXAMPLES, build_example_store
from tests.serve_process import start_serve, stop


def _load_tones() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tones", EXAMPLES / "speech-stream" / "tones.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of examples/ with its weights built by build.py, as `make serve` prepares it."""
    return build_example_store(tmp_path_factory.mktemp("examples") / "store")


class ServedExamples:
    """The address of the examples' server, with stubs and clients that are closed at the end."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._closing: list[grpc.Channel | Client] = []

    def stub(self) -> runtime_pb2_grpc.ModelRuntimeStub:
        channel = grpc.insecure_channel(self.address)
        self._closing.append(channel)
        return runtime_pb2_grpc.ModelRuntimeStub(channel)

    def client(self) -> Client:
        client = Client(self.address, timeout=30)
        self._closing.append(client)
        return client

    def close(self) -> None:
        for item in self._closing:
            item.close()


@pytest.fixture(scope="module")
def server(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedExamples]:
    process, address = start_serve(store, tmp_path_factory.mktemp("serve"))
    served = ServedExamples(address)
    try:
        yield served
    finally:
        served.close()
        stop(process)


def test_every_example_loads_ready(server) -> None:
    reply = server.stub().ListModels(runtime_pb2.ListModelsRequest(), timeout=10)
    states = {m.name: m.state for m in reply.models}
    assert states == dict.fromkeys(
        [
            "block-detector",
            "bright-segmenter",
            "color-classifier",
            "language-id",
            "sentiment",
            "speech-stream",
            "tiny-llm",
        ],
        model_pb2.MODEL_STATE_READY,
    )


def test_examples_cover_every_model_type_layout_and_framework(server) -> None:
    client = server.client()
    models = [client.get_model(m.name) for m in client.list_models()]
    assert {m.model_type for m in models} >= {
        "classification",
        "object_detection",
        "segmentation",
        "text_generation",
        "speech_recognition",
    }
    assert {m.format for m in models} == {"native", "gesund", "clarifai"}
    # language-id is scikit-learn, but a Clarifai config has no framework key ("other").
    assert {m.framework for m in models} >= {"onnx", "pytorch", "keras"}
    # Clarifai-style bundles cannot declare an output schema; every other example publishes one.
    assert [m.name for m in models if m.format != "clarifai" and not m.output_schema] == []


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


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _blocks_image() -> np.ndarray:
    """A dark 48x64 image with a red and a blue block, and two specks too small to be blocks."""
    image = np.full((48, 64, 3), 20, np.uint8)
    image[8:20, 6:30] = [230, 30, 30]  # red: x 6..30, y 8..20
    image[28:44, 40:60] = [20, 40, 220]  # blue: x 40..60, y 28..44
    image[2, 50] = image[40, 10] = [0, 255, 0]  # one green pixel each: noise
    return image


def test_block_detector_example_finds_the_blocks_in_a_png(server) -> None:
    result = server.client().predict("block-detector", {"image": _png(_blocks_image())})
    found = sorted(zip(result.structured["labels"], result.structured["boxes"], strict=True))
    assert found == [("blue", [40, 28, 60, 44]), ("red", [6, 8, 30, 20])]
    scores = result.structured["scores"]
    assert scores == sorted(scores, reverse=True)
    assert all(0.9 < score <= 1.0 for score in scores)


def test_block_detector_example_answers_its_loss_for_ground_truth(server) -> None:
    client = server.client()
    image = _png(_blocks_image())
    truth = [{"box": [6, 8, 30, 20], "label": "red"}, {"box": [40, 28, 60, 44], "label": "blue"}]
    right = client.predict("block-detector", {"image": image}, parameters={"ground_truth": truth})
    wrong = client.predict("block-detector", {"image": image}, parameters={"ground_truth": []})
    assert right.structured["boxes"] == wrong.structured["boxes"]
    assert 0 < right.structured["loss"] < 0.5 < wrong.structured["loss"]


def test_bright_segmenter_example_masks_the_bright_regions(server) -> None:
    image = np.full((30, 40, 3), 10, np.uint8)
    image[4:14, 6:20] = 230  # a white rectangle
    image[20:27, 25:38] = [200, 210, 190]  # a light grey one
    image[2, 35] = image[28, 2] = 255  # lone bright pixels: specks, not regions
    expected = np.zeros((30, 40), np.uint8)
    expected[4:14, 6:20] = expected[20:27, 25:38] = 1

    result = server.client().predict("bright-segmenter", {"image": image})
    mask = result.outputs["mask"]
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, expected)
    assert result.structured == {
        "labels": ["background", "bright"],
        "pixels": {"background": 30 * 40 - 140 - 91, "bright": 140 + 91},
    }


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Where is the library? I would like to borrow a book.", "en"),
        ("Où est la bibliothèque ? Je voudrais emprunter un livre.", "fr"),
        ("Wo ist die Bibliothek? Ich möchte ein Buch ausleihen.", "de"),
        ("¿Dónde está la biblioteca? Quiero pedir prestado un libro.", "es"),
    ],
)
def test_language_id_example_names_the_language(server, text: str, language: str) -> None:
    concepts = server.client().predict("language-id", {"text": text}).structured
    assert concepts[0]["id"] == language
    assert {c["name"] for c in concepts} == {"English", "French", "German", "Spanish"}
    assert sum(c["value"] for c in concepts) == pytest.approx(1.0, abs=1e-3)


def test_language_id_example_takes_top_k_as_a_parameter(server) -> None:
    concepts = (
        server.client()
        .predict("language-id", {"text": "Muchas gracias, hasta mañana."}, parameters={"top_k": 1})
        .structured
    )
    assert [(c["id"], c["name"]) for c in concepts] == [("es", "Spanish")]
