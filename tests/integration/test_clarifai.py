"""Clarifai-style folders served by a real server: both API styles, over Predict/Generate/Stream.

Each folder is written as that platform lays it out: config.yaml (model id, user_id, app_id,
model_type_id, inference_compute_info, concepts, checkpoints), requirements.txt, 1/model.py.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from clients import Client, InvalidArgumentError
from tests.clarifai_factory import write_clarifai
from tests.integration.conftest import RunningServer

pytestmark = pytest.mark.timeout(90)

PROTO_TEXT = """
    from clarifai_grpc.grpc.api import resources_pb2, service_pb2
    from clarifai_grpc.grpc.api.status import status_code_pb2
    from clarifai.runners.models.model_runner import ModelRunner


    def _answer(text):
        output = resources_pb2.Output()
        output.data.text.raw = text
        output.status.code = status_code_pb2.SUCCESS
        return service_pb2.MultiOutputResponse(outputs=[output])


    class Shouter(ModelRunner):
        def load_model(self):
            self.suffix = "!"

        def predict(
            self, request: service_pb2.PostModelOutputsRequest
        ) -> service_pb2.MultiOutputResponse:
            params = request.model.model_version.output_info.params
            times = int(params["times"]) if "times" in params else 1
            return _answer((request.inputs[0].data.text.raw.upper() + self.suffix) * times)

        def generate(self, request: service_pb2.PostModelOutputsRequest):
            for word in request.inputs[0].data.text.raw.split():
                yield _answer(word)
"""

PROTO_CLASSIFIER = """
    from clarifai_grpc.grpc.api import service_pb2
    from clarifai_grpc.grpc.api.status import status_code_pb2
    from clarifai.runners.models.model_runner import ModelRunner

    PNG = b"\\x89PNG"


    class PetClassifier(ModelRunner):
        def predict(self, request):
            response = service_pb2.MultiOutputResponse()
            for item in request.inputs:
                output = response.outputs.add()
                is_png = item.data.image.base64.startswith(PNG)
                output.data.concepts.add(id="1", value=0.75 if is_png else 0.0)
                output.data.concepts.add(id="0", value=0.25)
                output.status.code = status_code_pb2.SUCCESS
            return response
"""

MODEL_CLASS = """
    from typing import Iterator

    from clarifai.runners.models.model_class import ModelClass
    from clarifai.runners.utils.data_types import Concept, Image
    from clarifai.runners.utils.data_utils import Param


    class Writer(ModelClass):
        def load_model(self):
            self.greeting = "hello"

        @ModelClass.method
        def predict(self, prompt: str, temperature: float = Param(default=0.7)) -> str:
            temperature = min(max(temperature, 0.0), 2.0)
            return f"{self.greeting} {prompt} at {temperature}"

        @ModelClass.method
        def generate(self, prompt: str, count: int = Param(default=3)) -> Iterator[str]:
            for index in range(count):
                yield f"{prompt}-{index}"

        @ModelClass.method
        def stream(self, input_iterator: Iterator[str]) -> Iterator[str]:
            for text in input_iterator:
                yield text[::-1]

        @ModelClass.method
        def describe(self, image: Image) -> list[Concept]:
            width, height = image.to_pil().size
            return [Concept("width", float(width)), Concept("height", float(height))]
"""

TOP_LEVEL = """
    from clarifai.runners.models.model_class import ModelClass


    class Counter(ModelClass):
        @ModelClass.method
        def count(self, words: list[str]) -> int:
            return len(words)
"""

CHECKPOINTED = """
    import json
    import os

    from clarifai.runners.models.model_builder import ModelBuilder
    from clarifai.runners.models.model_class import ModelClass


    class Biased(ModelClass):
        def load_model(self):
            folder = os.path.dirname(os.path.dirname(__file__))
            builder = ModelBuilder(folder, download_validation_only=True)
            checkpoints = builder.download_checkpoints(stage="runtime")
            with open(os.path.join(checkpoints, "weights.json")) as file:
                self.bias = json.load(file)["bias"]

        @ModelClass.method
        def predict(self, x: float) -> float:
            return x + self.bias
"""

UNUSED_CHECKPOINTS = """
    from clarifai.runners.models.model_class import ModelClass


    class NeedsWeights(ModelClass):
        @ModelClass.method
        def predict(self, x: float) -> float:
            return x
"""

CHECKPOINTS = {"type": "huggingface", "repo_id": "acme/tiny-model", "when": "runtime"}
CONCEPTS = [{"id": "0", "name": "cat"}, {"id": "1", "name": "dog"}]


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def served(start_server: Callable[..., RunningServer], tmp_path: Path) -> Iterator[Client]:
    """One server whose store holds every working folder; a client to it."""
    store = tmp_path / "store"
    write_clarifai(store, "shouter", PROTO_TEXT)
    write_clarifai(
        store, "pets", PROTO_CLASSIFIER, model_type_id="visual-classifier",
        config={"concepts": CONCEPTS},
    )  # fmt: skip
    write_clarifai(store, "writer", MODEL_CLASS, model_type_id="multimodal-to-text")
    write_clarifai(store, "counter", TOP_LEVEL, top_level=True)
    write_clarifai(
        store, "biased", CHECKPOINTED, config={"checkpoints": CHECKPOINTS},
        files={"1/checkpoints/weights.json": '{"bias": 40}'},
    )  # fmt: skip
    server = start_server(store)
    with Client(server.address, timeout=20) as client:
        yield client


def test_proto_style_text_model_answers_predict_with_parameters(served: Client) -> None:
    info = served.get_model("shouter")
    assert (info.state, info.format, info.model_type) == ("READY", "clarifai", "text_generation")
    assert info.capabilities == ("predict", "generate")
    reply = served.predict("shouter", {"text": "hi"}, parameters={"times": 2})
    assert reply.structured == {"text": "HI!HI!"}


def test_proto_style_generate_relays_each_response(served: Client) -> None:
    items = list(served.generate("shouter", {"text": "one two three"}))
    assert [item.error for item in items] == [None] * 3
    assert [item.structured for item in items] == [
        {"text": "one"},
        {"text": "two"},
        {"text": "three"},
    ]


def test_proto_style_classifier_returns_concepts_named_by_the_config(served: Client) -> None:
    info = served.get_model("pets")
    assert (info.model_type, info.labels) == ("classification", ("cat", "dog"))
    reply = served.predict("pets", {"image": _png(4, 4)})
    assert reply.structured == {
        "concepts": [
            {"id": "1", "name": "dog", "value": 0.75},
            {"id": "0", "name": "cat", "value": 0.25},
        ]
    }


def test_model_class_predict_uses_param_default_unless_the_request_sets_it(
    served: Client,
) -> None:
    assert served.predict("writer", {"prompt": "world"}).structured == "hello world at 0.7"
    reply = served.predict("writer", {"prompt": "world"}, parameters={"temperature": 0.2})
    assert reply.structured == "hello world at 0.2"


def test_model_class_iterator_method_serves_generate(served: Client) -> None:
    items = list(served.generate("writer", {"prompt": "tok"}, parameters={"count": 2}))
    assert [item.structured for item in items] == ["tok-0", "tok-1"]


def test_model_class_iterator_input_serves_stream(served: Client) -> None:
    requests = ({"input_iterator": text} for text in ("abc", "xy"))
    assert [item.structured for item in served.stream("writer", requests)] == ["cba", "yx"]


def test_model_class_image_argument_gets_png_bytes_as_an_image(served: Client) -> None:
    reply = served.predict("writer", {"image": _png(5, 3)}, parameters={"method": "describe"})
    assert reply.structured == [
        {"id": "width", "name": "width", "value": 5.0},
        {"id": "height", "name": "height", "value": 3.0},
    ]


def test_unknown_method_is_invalid_argument_listing_the_callable_ones(served: Client) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        served.predict("writer", {"prompt": "x"}, parameters={"method": "summarise"})
    assert "predict(prompt, temperature)" in str(caught.value)
    assert "describe(image)" in str(caught.value)


def test_model_py_at_the_top_is_served(served: Client) -> None:
    assert served.predict("counter", {"words": ["a", "b", "c"]}).structured == 3


@pytest.mark.skipif(
    importlib.util.find_spec("clarifai") is not None,
    reason="the real SDK's ModelBuilder checks the Hugging Face repo over the network",
)
def test_checkpoints_are_served_from_the_bundle(served: Client) -> None:
    assert served.predict("biased", {"x": 2.0}).structured == 42.0


def test_missing_upload_time_checkpoints_fail_the_load_saying_nothing_is_downloaded(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    upload_time = {**CHECKPOINTS, "when": "upload"}
    write_clarifai(store, "needs-weights", UNUSED_CHECKPOINTS, config={"checkpoints": upload_time})
    server = start_server(store)
    with Client(server.address, timeout=20) as client:
        info = client.get_model("needs-weights")
    assert info.state == "FAILED"
    assert "never downloads checkpoints" in info.reason
    assert "1/checkpoints/" in info.reason
