"""Clarifai folders written as published ones are, served unchanged by a real server.

SDK 10.9-11.0 proto-style models that read the model version id first, later proto-style
classes that define the platform's RPC methods, folders with runtime checkpoints they do not
ship, and JSON sent to a Text argument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clients import Client, InvalidArgumentError
from clients.errors import FailedPreconditionError
from tests.clarifai_factory import LEGACY_PROTO_MODEL, RPC_METHOD_MODEL, write_clarifai
from tests.integration.conftest import RunningServer

pytestmark = pytest.mark.timeout(90)

HUB = {"type": "huggingface", "repo_id": "acme/tiny-model"}

#: Runtime checkpoints, asked for through the SDK's helper only when predict needs them.
LAZY_CHECKPOINTS = """
    import os

    from clarifai.runners.models.model_builder import ModelBuilder
    from clarifai.runners.models.model_class import ModelClass


    class Lazy(ModelClass):
        @ModelClass.method
        def predict(self, x: float) -> float:
            return x * 2

        @ModelClass.method
        def weights(self, name: str) -> str:
            folder = os.path.dirname(os.path.dirname(__file__))
            path = ModelBuilder(folder, download_validation_only=True).download_checkpoints(
                stage="runtime"
            )
            return sorted(os.listdir(path))[0]

        @ModelClass.method
        def tokenizer(self, name: str) -> str:
            path = os.path.join(os.path.dirname(__file__), "checkpoints", "tokenizer.json")
            with open(path) as file:
                return file.read()
"""

#: Runtime checkpoints opened by path in load_model, as many published LLM folders do.
EAGER_CHECKPOINTS = """
    import os

    from clarifai.runners.models.model_class import ModelClass


    class Eager(ModelClass):
        def load_model(self):
            folder = os.path.join(os.path.dirname(__file__), "checkpoints")
            with open(os.path.join(folder, "config.json")) as file:
                self.config = file.read()

        @ModelClass.method
        def predict(self, x: float) -> float:
            return x
"""

TEXT_ARGUMENT = """
    from clarifai.runners.models.model_class import ModelClass
    from clarifai.runners.utils.data_types import Text


    class Upper(ModelClass):
        @ModelClass.method
        def predict(self, prompt: Text) -> Text:
            return Text(prompt.text.upper())
"""

#: The 11.x typed API's streamed type, and the concept id rule published models call.
STREAMING_TYPED = """
    from clarifai.runners.models.model_class import ModelClass
    from clarifai.runners.utils.data_types import Concept, Stream, Text

    LABELS = ("Hot dog", "Not hot dog!")


    class Labeller(ModelClass):
        def load_model(self):
            self.names = {Concept._concept_name_to_id(name): name for name in LABELS}

        @ModelClass.method
        def predict(self, text: Text) -> list[Concept]:
            return [
                Concept(name, 1.0 if concept_id in text.text else 0.0, id=concept_id)
                for concept_id, name in self.names.items()
            ]

        @ModelClass.method
        def generate(self, text: Text) -> Stream[Text]:
            for word in text.text.split():
                yield Text(word)

        @ModelClass.method
        def stream(self, input_stream: Stream[Text]) -> Stream[Text]:
            for item in input_stream:
                yield Text(item.text.upper())
"""


@pytest.fixture
def served(start_server: Callable[..., RunningServer], tmp_path: Path) -> Iterator[Client]:
    store = tmp_path / "store"
    write_clarifai(store, "legacy", LEGACY_PROTO_MODEL)
    write_clarifai(store, "relay", RPC_METHOD_MODEL)
    write_clarifai(store, "lazy", LAZY_CHECKPOINTS, config={"checkpoints": HUB})
    write_clarifai(
        store, "eager", EAGER_CHECKPOINTS, config={"checkpoints": {**HUB, "when": "runtime"}}
    )
    write_clarifai(store, "upper", TEXT_ARGUMENT)
    write_clarifai(store, "labeller", STREAMING_TYPED)
    server = start_server(store)
    with Client(server.address, timeout=20) as client:
        yield client


def test_sdk_10_proto_model_gets_a_model_version_id_and_its_params(served: Client) -> None:
    assert served.predict("legacy", {"text": "hi"}).structured == {"text": ">hi @1"}
    reply = served.predict("legacy", {"text": "hi"}, parameters={"prefix": "#"})
    assert reply.structured == {"text": "#hi @1"}
    items = list(served.generate("legacy", {"text": "t"}, parameters={"count": 3}))
    assert [item.structured for item in items] == [{"text": "t0"}, {"text": "t1"}, {"text": "t2"}]


def test_class_defining_the_platform_rpc_methods_serves_all_three(served: Client) -> None:
    info = served.get_model("relay")
    assert (info.state, info.capabilities) == ("READY", ("predict", "generate", "stream"))
    assert served.predict("relay", {"text": "go"}).structured == {"text": "*go"}
    items = list(served.generate("relay", {"text": "ab"}))
    assert [item.structured for item in items] == [{"text": "a"}, {"text": "b"}]
    replies = served.stream("relay", ({"text": text} for text in ("abc", "de")))
    assert [item.structured for item in replies] == [{"text": "cba"}, {"text": "ed"}]


def test_runtime_checkpoints_not_shipped_load_and_fail_only_when_asked(served: Client) -> None:
    assert served.get_model("lazy").state == "READY"
    assert served.predict("lazy", {"x": 2.0}).structured == 4.0
    with pytest.raises(FailedPreconditionError) as caught:
        served.predict("lazy", {"name": "w"}, parameters={"method": "weights"})
    message = str(caught.value)
    assert "huggingface repo acme/tiny-model" in message
    assert "modelrt never downloads checkpoints" in message
    assert "1/checkpoints/" in message
    with pytest.raises(FailedPreconditionError) as caught:
        served.predict("lazy", {"name": "t"}, parameters={"method": "tokenizer"})
    assert "model code opened 1/checkpoints/:" in str(caught.value)
    assert served.predict("lazy", {"x": 1.0}).structured == 2.0  # the model still serves


def test_load_model_opening_missing_checkpoints_fails_naming_them(served: Client) -> None:
    info = served.get_model("eager")
    assert info.state == "FAILED"
    assert "model code opened 1/checkpoints/:" in info.reason
    assert "huggingface repo acme/tiny-model" in info.reason
    assert "modelrt never downloads checkpoints" in info.reason


def test_build_time_checkpoints_not_shipped_are_refused_at_load(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    build_time = {**HUB, "when": "build"}
    write_clarifai(store, "built", LAZY_CHECKPOINTS, config={"checkpoints": build_time})
    server = start_server(store)
    with Client(server.address, timeout=20) as client:
        info = client.get_model("built")
    assert info.state == "FAILED"
    assert "when: build" in info.reason
    assert "modelrt never downloads checkpoints" in info.reason


def test_json_object_for_a_text_argument_is_refused_naming_the_input(served: Client) -> None:
    assert served.predict("upper", {"prompt": {"text": "ok"}}).structured == "OK"
    with pytest.raises(InvalidArgumentError) as caught:
        served.predict("upper", {"prompt": {"question": "why?"}})
    assert "input 'prompt'" in str(caught.value)
    assert "'question'" in str(caught.value)


def test_typed_model_with_stream_hints_and_concept_ids_serves_all_three(served: Client) -> None:
    info = served.get_model("labeller")
    assert (info.state, info.capabilities) == ("READY", ("predict", "generate", "stream"))
    assert served.predict("labeller", {"text": "Hot-dog or Not-hot-dog"}).structured == [
        {"id": "Hot-dog", "name": "Hot dog", "value": 1.0},
        {"id": "Not-hot-dog", "name": "Not hot dog!", "value": 1.0},
    ]
    items = list(served.generate("labeller", {"text": "one two"}))
    assert [item.structured for item in items] == ["one", "two"]
    replies = served.stream("labeller", ({"text": text} for text in ("ab", "c")))
    assert [item.structured for item in replies] == ["AB", "C"]
