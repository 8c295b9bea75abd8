"""Generate: items reach the client as the model yields them; cancel and deadlines stop it."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from modelrt import codec
from modelrt.v1 import runtime_pb2
from tests.bundle_factory import write_bundle
from tests.integration.status_details import error_info

TOKENS = """
    import asyncio
    import time
    from pathlib import Path
    from registry import ModelRunner, register

    @register("tokens")
    class Tokens(ModelRunner):
        def generate(self, request):
            marker = request.param("marker", "")
            try:
                for i in range(int(request.param("n", 5))):
                    time.sleep(float(request.param("pause", 0.0)))
                    if i == request.param("bad_at", -1):
                        yield {"token": object()}      # not JSON: this item fails, the rest go on
                    else:
                        yield {"token": f"t{i}"}
                    if i == request.param("crash_at", -1):
                        raise RuntimeError("generator broke")
            finally:
                if marker:
                    Path(marker).write_text("closed")
"""

ASYNC_TOKENS = """
    import asyncio
    from pathlib import Path
    from registry import ModelRunner, register

    @register("async-tokens")
    class AsyncTokens(ModelRunner):
        async def generate(self, request):
            try:
                for i in range(int(request.param("n", 3))):
                    await asyncio.sleep(float(request.param("pause", 0.0)))
                    yield {"token": f"a{i}"}
            finally:
                marker = request.param("marker", "")
                if marker:
                    Path(marker).write_text("closed")
"""


@pytest.fixture
def server(start_server, tmp_path: Path):
    store = tmp_path / "store"
    write_bundle(store, "tokens", TOKENS)
    write_bundle(store, "async-tokens", ASYNC_TOKENS)
    return start_server(store)


def _generate(server, model: str, timeout: float = 20, **params):
    request = runtime_pb2.GenerateRequest(model=model, parameters=codec.dict_to_struct(params))
    return server.stub().Generate(request, timeout=timeout)


def _wait_for(path: Path, seconds: float = 10.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written: the model's finally block did not run")


@pytest.mark.parametrize("model", ["tokens", "async-tokens"])
def test_generate_sends_each_item_as_the_model_yields_it(server, model: str) -> None:
    start = time.monotonic()
    arrivals = []
    tokens = []
    for item in _generate(server, model, n=4, pause=0.3):
        arrivals.append(time.monotonic() - start)
        tokens.append(codec.json_to_python(item.structured)["token"])
    assert len(tokens) == 4
    assert len(arrivals) == 4
    # The first item arrives while the model is still producing the other three (0.9 s more).
    assert arrivals[0] < arrivals[-1] - 0.6


def test_generate_items_carry_index_model_and_request_id(server) -> None:
    request = runtime_pb2.GenerateRequest(
        model="tokens", request_id="r1", parameters=codec.dict_to_struct({"n": 3})
    )
    items = list(server.stub().Generate(request, timeout=10))
    assert [i.index for i in items] == [0, 1, 2]
    assert {(i.model, i.version, i.request_id) for i in items} == {("tokens", "1", "r1")}


@pytest.mark.parametrize("model", ["tokens", "async-tokens"])
def test_client_cancel_stops_the_model_generator(server, tmp_path: Path, model: str) -> None:
    marker = tmp_path / f"{model}.closed"
    call = _generate(server, model, n=1000, pause=0.05, marker=str(marker))
    next(call)
    call.cancel()
    assert _wait_for(marker) == "closed"


def test_deadline_stops_the_model_generator(server, tmp_path: Path) -> None:
    marker = tmp_path / "deadline.closed"
    with pytest.raises(grpc.RpcError) as caught:
        list(_generate(server, "tokens", timeout=0.5, n=1000, pause=0.05, marker=str(marker)))
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert _wait_for(marker) == "closed"


def test_one_bad_item_is_an_item_error_and_the_stream_goes_on(server) -> None:
    items = list(_generate(server, "tokens", n=4, bad_at=1))
    assert len(items) == 4
    assert items[1].HasField("error")
    assert items[1].error.code == grpc.StatusCode.INTERNAL.value[0]
    assert items[1].error.error_id
    assert "not JSON-compatible" in items[1].error.message
    assert [codec.json_to_python(items[i].structured)["token"] for i in (0, 2, 3)] == [
        "t0",
        "t2",
        "t3",
    ]


def test_generator_crash_ends_the_call_with_internal_after_earlier_items(server) -> None:
    received = []

    def consume() -> None:
        for item in _generate(server, "tokens", n=5, crash_at=1):
            received.append(codec.json_to_python(item.structured)["token"])

    with pytest.raises(grpc.RpcError) as caught:
        consume()
    assert received == ["t0", "t1"]
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert error_info(caught.value).reason == "MODEL_ERROR"
    assert "RuntimeError" in caught.value.details()
