"""The client SDK (Client and AsyncClient) against a real server: values, streams, typed errors."""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from clients import (
    AsyncClient,
    Client,
    InternalError,
    InvalidArgumentError,
    ModelrtClientError,
    NotFoundError,
    Prediction,
    StreamItem,
    UnavailableError,
    UnimplementedError,
)
from tests.bundle_factory import write_bundle

ECHO = """
    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            fail = request.param("fail", "")
            if fail == "crash":
                raise ZeroDivisionError("secret internal detail")
            if fail == "missing":
                request["no-such-input"]
            out = dict(request.inputs)
            out["params"] = dict(request.parameters)
            out["request_id"] = request.id
            return out
"""

TOKENS = """
    import time
    from pathlib import Path
    from registry import ModelRunner, register

    @register("tokens")
    class Tokens(ModelRunner):
        def generate(self, request):
            marker = request.param("marker", "")
            try:
                for i in range(int(request.param("n", 3))):
                    time.sleep(float(request.param("pause", 0.0)))
                    if i == request.param("bad_at", -1):
                        yield {"token": object()}   # not JSON: this item fails, the rest go on
                    else:
                        yield {"token": f"t{i} "}
            finally:
                if marker:
                    Path(marker).write_text("closed")
"""

CHAT = """
    from registry import ModelRunner, register

    @register("chat")
    class Chat(ModelRunner):
        def stream(self, requests):
            for n, request in enumerate(requests):
                audio = request.get("audio")
                if audio is not None:
                    yield {"n": n, "sum": float(audio.sum())}
                else:
                    yield {"n": n, "echo": request["text"]}
"""

SCORED = """
    import pydantic
    from registry import ModelRunner, register, outschema

    @outschema("scored")
    class Scored(pydantic.BaseModel):
        label: str
        score: float

    @register("scored")
    class Model(ModelRunner):
        def predict(self, request):
            if request.get("bad"):
                return {"label": "cat"}     # no score: violates the schema
            return {"label": "cat", "score": 0.9}
"""

BROKEN = """
    raise RuntimeError("this bundle cannot be imported")
"""


def write_store(store: Path) -> Path:
    """A model store with every fixture bundle: echo, tokens, chat, scored and a broken one."""
    write_bundle(store, "echo", ECHO, config={"description": "echoes its inputs"})
    write_bundle(
        store,
        "tokens",
        TOKENS,
        config={
            "model_type": "text_generation",
            "inputs": [{"name": "prompt", "kind": "text", "optional": True}],
        },
    )
    write_bundle(store, "chat", CHAT)
    write_bundle(store, "scored", SCORED, config={"labels": ["cat", "dog"]})
    write_bundle(store, "broken", BROKEN)
    return store


@pytest.fixture
def server(start_server, tmp_path: Path):
    return start_server(write_store(tmp_path / "store"))


@pytest.fixture
def client(server) -> Iterator[Client]:
    with Client(server.address, timeout=30) as made:
        yield made


def _wait_for(path: Path, seconds: float = 10.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written: the model's generator was not closed")


# --- Predict ---------------------------------------------------------------------------------


def test_predict_round_trips_tensor_bytes_text_and_json(client: Client) -> None:
    tensor = np.arange(6, dtype=np.float32).reshape(2, 3)
    inputs = {"tensor": tensor, "blob": b"\x89PNG\x00", "text": "héllo", "json": {"a": [1, 2]}}

    prediction = client.predict("echo", inputs)

    assert isinstance(prediction, Prediction)
    assert (prediction.model, prediction.version) == ("echo", "1")
    np.testing.assert_array_equal(prediction.outputs["tensor"], tensor)
    assert prediction.outputs["tensor"].dtype == np.float32
    assert prediction.outputs["blob"] == b"\x89PNG\x00"
    assert prediction.structured["text"] == "héllo"
    assert prediction.structured["json"] == {"a": [1, 2]}


def test_predict_sends_parameters_and_request_id(client: Client) -> None:
    prediction = client.predict(
        "echo", {"text": "x"}, parameters={"temperature": 0.5, "stop": ["."]}, request_id="r-42"
    )
    assert prediction.request_id == "r-42"
    assert prediction.structured["request_id"] == "r-42"
    assert prediction.structured["params"] == {"temperature": 0.5, "stop": ["."]}


def test_predict_without_request_id_gets_one_from_the_server(client: Client) -> None:
    assert client.predict("echo", {"text": "x"}).request_id


def test_predict_validates_output_schema(client: Client) -> None:
    assert client.predict("scored").structured == {"label": "cat", "score": 0.9}


# --- Generate --------------------------------------------------------------------------------


def test_generate_yields_each_item_as_the_model_produces_it(client: Client) -> None:
    start = time.monotonic()
    arrivals: list[float] = []
    tokens: list[str] = []
    for item in client.generate("tokens", parameters={"n": 4, "pause": 0.3}):
        arrivals.append(time.monotonic() - start)
        tokens.append(item.structured["token"])
    assert tokens == ["t0 ", "t1 ", "t2 ", "t3 "]
    # The first token arrives while the model still sleeps 0.9 s before the last one.
    assert arrivals[0] < arrivals[-1] - 0.6


def test_generate_items_carry_index_model_version_and_request_id(client: Client) -> None:
    items = list(client.generate("tokens", parameters={"n": 3}, request_id="g-1"))
    assert all(isinstance(item, StreamItem) and item.ok for item in items)
    assert [item.index for item in items] == [0, 1, 2]
    assert {(i.model, i.version, i.request_id) for i in items} == {("tokens", "1", "g-1")}


def test_closing_a_generate_iterator_early_cancels_the_model(client: Client, tmp_path) -> None:
    marker = tmp_path / "closed"
    items = client.generate("tokens", parameters={"n": 1000, "pause": 0.05, "marker": str(marker)})
    first = next(items)
    items.close()
    assert first.structured == {"token": "t0 "}
    assert _wait_for(marker) == "closed"
    assert list(items) == []


def test_leaving_a_generate_with_block_cancels_the_model(client: Client, tmp_path) -> None:
    marker = tmp_path / "closed"
    params = {"n": 1000, "pause": 0.05, "marker": str(marker)}
    with client.generate("tokens", parameters=params) as items:
        next(items)
    assert _wait_for(marker) == "closed"


def test_generate_reports_a_failed_item_and_goes_on(client: Client) -> None:
    items = list(client.generate("tokens", parameters={"n": 3, "bad_at": 1}))
    assert [item.ok for item in items] == [True, False, True]
    error = items[1].error
    assert error is not None
    assert error.code is grpc.StatusCode.INTERNAL
    assert error.error_id
    assert str(error).startswith("INTERNAL: ")


def test_generate_deadline_is_a_typed_error(client: Client) -> None:
    with pytest.raises(ModelrtClientError) as caught:
        list(client.generate("tokens", parameters={"n": 100, "pause": 0.05}, timeout=0.3))
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED


# --- Stream ----------------------------------------------------------------------------------


def test_stream_sends_request_k_plus_1_only_after_response_k(client: Client) -> None:
    answered: queue.Queue[StreamItem] = queue.Queue()
    sent: list[int] = []

    def requests() -> Iterator[dict[str, Any]]:
        for k in range(3):
            if k:
                # Wait for the answer to the previous request before producing the next one.
                assert answered.get(timeout=10).structured["echo"] == f"hello {k - 1}"
            sent.append(k)
            yield {"text": f"hello {k}"}

    replies = []
    for item in client.stream("chat", requests()):
        replies.append(item.structured)
        assert len(sent) == item.index + 1  # request k+1 is not produced before reply k
        answered.put(item)
    assert replies == [{"n": k, "echo": f"hello {k}"} for k in range(3)]


def test_stream_sends_tensors(client: Client) -> None:
    chunks = [{"audio": np.full(4, k, dtype=np.float32)} for k in range(1, 4)]
    sums = [item.structured["sum"] for item in client.stream("chat", chunks)]
    assert sums == [4.0, 8.0, 12.0]


def test_stream_reraises_the_error_of_the_request_iterable(client: Client) -> None:
    def requests() -> Iterator[dict[str, Any]]:
        yield {"text": "one"}
        raise LookupError("the microphone went away")

    with pytest.raises(LookupError, match="microphone"):
        list(client.stream("chat", requests()))


# --- Typed errors ----------------------------------------------------------------------------


def test_unknown_model_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.predict("nope", {"text": "x"})
    error = caught.value
    assert error.code is grpc.StatusCode.NOT_FOUND
    assert error.reason == "MODEL_NOT_FOUND"
    assert "nope" in error.message
    assert str(error) == f"NOT_FOUND: {error.message} [MODEL_NOT_FOUND]"


def test_generate_on_a_predict_only_model_is_unimplemented(client: Client) -> None:
    with pytest.raises(UnimplementedError) as caught:
        list(client.generate("echo", {"text": "x"}))
    assert caught.value.reason == "HOOK_NOT_IMPLEMENTED"


def test_missing_input_is_invalid_argument(client: Client) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.predict("echo", {"text": "x"}, parameters={"fail": "missing"})
    assert caught.value.reason == "INVALID_INPUT"
    assert "no-such-input" in caught.value.message


def test_raising_model_is_internal_with_an_error_id(client: Client) -> None:
    with pytest.raises(InternalError) as caught:
        client.predict("echo", {"text": "x"}, parameters={"fail": "crash"})
    error = caught.value
    assert error.reason == "MODEL_ERROR"
    assert error.error_id
    assert error.metadata["model"] == "echo"
    assert "ZeroDivisionError" in error.message
    assert "Traceback" not in error.message
    assert str(error).count(error.error_id) == 1


def test_output_that_breaks_the_schema_is_internal(client: Client) -> None:
    with pytest.raises(InternalError) as caught:
        client.predict("scored", {"bad": "yes"})
    assert caught.value.reason == "OUTPUT_SCHEMA_MISMATCH"
    assert caught.value.error_id


def test_failed_model_is_unavailable(client: Client) -> None:
    with pytest.raises(UnavailableError) as caught:
        client.predict("broken", {"text": "x"})
    assert caught.value.reason == "MODEL_NOT_READY"


def test_unreachable_server_is_unavailable_naming_the_address() -> None:
    with Client("127.0.0.1:1", timeout=5) as offline, pytest.raises(UnavailableError) as caught:
        offline.predict("echo")
    assert "cannot reach the server at 127.0.0.1:1" in str(caught.value)


# --- Models and health -----------------------------------------------------------------------


def test_list_models_shows_states_and_capabilities(client: Client) -> None:
    models = {info.name: info for info in client.list_models()}
    assert set(models) == {"broken", "chat", "echo", "scored", "tokens"}
    assert models["broken"].state == "FAILED"
    assert "cannot be imported" in models["broken"].reason
    assert models["echo"].state == "READY"
    assert models["echo"].capabilities == ("predict",)
    assert models["tokens"].capabilities == ("generate",)
    assert models["chat"].capabilities == ("stream",)
    assert [info.name for info in client.list_models("echo")] == ["echo"]


def test_get_model_describes_card_inputs_and_output_schema(client: Client) -> None:
    scored = client.get_model("scored")
    assert scored.ready
    assert scored.labels == ("cat", "dog")
    assert scored.output_schema is not None
    assert set(scored.output_schema["properties"]) == {"label", "score"}
    tokens = client.get_model("tokens", "1")
    assert [(i.name, i.kind, i.optional) for i in tokens.inputs] == [("prompt", "text", True)]
    assert tokens.model_type == "text_generation"
    echo = client.get_model("echo")
    assert echo.description == "echoes its inputs"
    assert echo.output_schema is None
    assert echo.inputs == ()


def test_get_unknown_model_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.get_model("nope")


def test_unload_load_and_delete_change_the_model_state(client: Client) -> None:
    assert [(m.name, m.state) for m in client.unload_model("echo")] == [("echo", "UNLOADED")]
    assert client.health("echo") == "NOT_SERVING"
    assert client.load_model("echo").state == "READY"
    assert client.health("echo") == "SERVING"
    assert client.delete_model("echo") == ["1"]
    with pytest.raises(NotFoundError):
        client.get_model("echo")


def test_health_reports_server_and_models(client: Client) -> None:
    assert client.health() == "SERVING"
    assert client.health("liveness") == "SERVING"
    assert client.health("echo") == "SERVING"
    assert client.health("no-such-model") == "SERVICE_UNKNOWN"


# --- AsyncClient -----------------------------------------------------------------------------


def test_async_predict_round_trips_values(server) -> None:
    async def scenario() -> Prediction:
        async with AsyncClient(server.address, timeout=30) as aclient:
            return await aclient.predict(
                "echo", {"x": np.arange(3, dtype=np.int64), "blob": b"ab", "text": "hi"}
            )

    prediction = asyncio.run(scenario())
    np.testing.assert_array_equal(prediction.outputs["x"], [0, 1, 2])
    assert prediction.outputs["blob"] == b"ab"
    assert prediction.structured["text"] == "hi"


def test_async_generate_yields_items_as_they_come(server) -> None:
    async def scenario() -> tuple[list[str], list[float]]:
        async with AsyncClient(server.address, timeout=30) as aclient:
            start = time.monotonic()
            tokens, arrivals = [], []
            async for item in aclient.generate("tokens", parameters={"n": 4, "pause": 0.3}):
                arrivals.append(time.monotonic() - start)
                tokens.append(item.structured["token"])
            return tokens, arrivals

    tokens, arrivals = asyncio.run(scenario())
    assert tokens == ["t0 ", "t1 ", "t2 ", "t3 "]
    assert arrivals[0] < arrivals[-1] - 0.6


def test_async_generate_closed_early_cancels_the_model(server, tmp_path: Path) -> None:
    marker = tmp_path / "closed"

    async def scenario() -> StreamItem:
        async with AsyncClient(server.address, timeout=30) as aclient:
            params = {"n": 1000, "pause": 0.05, "marker": str(marker)}
            async with aclient.generate("tokens", parameters=params) as items:
                return await anext(items)

    assert asyncio.run(scenario()).index == 0
    assert _wait_for(marker) == "closed"


def test_cancelling_the_reading_task_cancels_the_model(server, tmp_path: Path) -> None:
    marker = tmp_path / "closed"

    async def scenario() -> None:
        async with AsyncClient(server.address, timeout=30) as aclient:
            params = {"n": 1000, "pause": 0.05, "marker": str(marker)}
            items = aclient.generate("tokens", parameters=params)

            async def consume() -> None:
                async for _ in items:
                    pass

            with pytest.raises(TimeoutError):
                await asyncio.wait_for(consume(), 0.5)
            assert _wait_for(marker) == "closed"  # while the channel is still open

    asyncio.run(scenario())


def test_async_stream_ping_pong_with_an_async_iterable(server) -> None:
    async def scenario() -> list[Any]:
        answered: asyncio.Queue[StreamItem] = asyncio.Queue()

        async def requests() -> AsyncIterator[dict[str, Any]]:
            for k in range(3):
                if k:
                    reply = await asyncio.wait_for(answered.get(), 10)
                    assert reply.structured["echo"] == f"hi {k - 1}"
                yield {"text": f"hi {k}"}

        async with AsyncClient(server.address, timeout=30) as aclient:
            replies = []
            async for item in aclient.stream("chat", requests()):
                replies.append(item.structured)
                await answered.put(item)
            return replies

    assert asyncio.run(scenario()) == [{"n": k, "echo": f"hi {k}"} for k in range(3)]


def test_async_stream_accepts_a_plain_iterable(server) -> None:
    async def scenario() -> list[Any]:
        async with AsyncClient(server.address, timeout=30) as aclient:
            stream = aclient.stream("chat", [{"text": "a"}, {"text": "b"}])
            return [item.structured["echo"] async for item in stream]

    assert asyncio.run(scenario()) == ["a", "b"]


def test_async_stream_reraises_the_error_of_the_request_iterable(server) -> None:
    async def requests() -> AsyncIterator[dict[str, Any]]:
        yield {"text": "one"}
        await asyncio.sleep(0.1)
        raise LookupError("the camera went away")

    async def scenario() -> None:
        async with AsyncClient(server.address, timeout=30) as aclient:
            async for _ in aclient.stream("chat", requests()):
                pass

    with pytest.raises(LookupError, match="camera"):
        asyncio.run(scenario())


def test_async_errors_are_typed(server) -> None:
    async def scenario() -> list[ModelrtClientError]:
        caught: list[ModelrtClientError] = []
        async with AsyncClient(server.address, timeout=30) as aclient:
            for call in (
                aclient.predict("nope"),
                aclient.predict("echo", parameters={"fail": "crash"}),
                aclient.get_model("nope"),
            ):
                try:
                    await call
                except ModelrtClientError as exc:
                    caught.append(exc)
            try:
                async for _ in aclient.generate("echo"):
                    pass
            except ModelrtClientError as exc:
                caught.append(exc)
        return caught

    errors = asyncio.run(scenario())
    assert [type(e) for e in errors] == [
        NotFoundError,
        InternalError,
        NotFoundError,
        UnimplementedError,
    ]
    assert errors[1].error_id


def test_async_models_lifecycle_and_health(server) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncClient(server.address, timeout=30) as aclient:
            return {
                "names": [m.name for m in await aclient.list_models()],
                "echo": (await aclient.get_model("echo")).state,
                "unloaded": [m.state for m in await aclient.unload_model("tokens")],
                "loaded": (await aclient.load_model("tokens")).state,
                "deleted": await aclient.delete_model("scored"),
                "health": await aclient.health(),
                "unknown": await aclient.health("nope"),
            }

    seen = asyncio.run(scenario())
    assert seen == {
        "names": ["broken", "chat", "echo", "scored", "tokens"],
        "echo": "READY",
        "unloaded": ["UNLOADED"],
        "loaded": "READY",
        "deleted": ["1"],
        "health": "SERVING",
        "unknown": "SERVICE_UNKNOWN",
    }
