"""Stream is bidirectional: each request reaches the model as it arrives; outputs flow back."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelrt import codec
from modelrt.v1 import runtime_pb2
from tests.bundle_factory import write_bundle

SYNC_ECHO = """
    from pathlib import Path
    from registry import ModelRunner, register

    @register("running-sum")
    class RunningSum(ModelRunner):
        def stream(self, requests):
            total = 0.0
            marker = ""
            try:
                for request in requests:
                    marker = request.param("marker", marker)
                    total += float(request["audio"].sum())
                    yield {"total": total}
            finally:
                if marker:
                    Path(marker).write_text("closed")
"""

ASYNC_ECHO = """
    from registry import ModelRunner, register

    @register("async-upper")
    class AsyncUpper(ModelRunner):
        async def stream(self, requests):
            async for request in requests:
                yield {"text": request["text"].upper()}
            yield {"text": "<end>"}
"""


@pytest.fixture
def server(start_server, tmp_path: Path):
    store = tmp_path / "store"
    write_bundle(
        store,
        "running-sum",
        SYNC_ECHO,
        config={"inputs": [{"name": "audio", "dtype": "float32", "shape": [-1]}]},
    )
    write_bundle(store, "async-upper", ASYNC_ECHO)
    return start_server(store)


def _message(model: str = "", **inputs) -> runtime_pb2.StreamRequest:
    values = {k: codec.python_to_value(v) for k, v in inputs.items()}
    return runtime_pb2.StreamRequest(model=model, inputs=values)


class _Conversation:
    """Sends a request only when the test says so, to prove the server does not wait for more."""

    def __init__(self) -> None:
        self.outbox: queue.Queue[runtime_pb2.StreamRequest | None] = queue.Queue()

    def requests(self) -> Iterator[runtime_pb2.StreamRequest]:
        while (message := self.outbox.get(timeout=20)) is not None:
            yield message


@pytest.mark.parametrize(
    ("model", "make_input", "read"),
    [
        ("running-sum", lambda k: {"audio": np.full(4, k, np.float32)}, lambda s: s["total"]),
        ("async-upper", lambda k: {"text": f"chunk {k}"}, lambda s: s["text"]),
    ],
)
def test_stream_answers_each_request_before_the_next_is_sent(
    server, model, make_input, read
) -> None:
    talk = _Conversation()
    responses = server.stub().Stream(talk.requests(), timeout=30)
    answers = []
    for k in range(1, 4):
        talk.outbox.put(_message(model if k == 1 else "", **make_input(k)))
        answers.append(read(codec.json_to_python(next(responses).structured)))
    talk.outbox.put(None)
    rest = [read(codec.json_to_python(r.structured)) for r in responses]
    if model == "running-sum":
        assert answers == [4, 12, 24]
        assert rest == []
    else:
        assert answers == ["CHUNK 1", "CHUNK 2", "CHUNK 3"]
        assert rest == ["<end>"]


def test_invalid_stream_item_gets_an_item_error_and_the_stream_goes_on(server) -> None:
    messages = [
        _message("running-sum", audio=np.ones(2, np.float32)),
        _message(audio=np.ones(2, np.int64)),  # wrong dtype: answered with an error item
        _message(audio=np.ones(3, np.float32)),
    ]
    replies = list(server.stub().Stream(iter(messages), timeout=20))
    assert len(replies) == 3
    errors = [r for r in replies if r.HasField("error")]
    assert len(errors) == 1
    assert errors[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "dtype float32" in errors[0].error.message
    totals = [
        codec.json_to_python(r.structured)["total"] for r in replies if not r.HasField("error")
    ]
    assert totals == [2, 5]
    assert [r.index for r in replies] == [0, 1, 2]


def test_client_cancel_stops_the_stream_model(server, tmp_path: Path) -> None:
    marker = tmp_path / "stream.closed"
    talk = _Conversation()
    call = server.stub().Stream(talk.requests(), timeout=30)
    first = runtime_pb2.StreamRequest(
        model="running-sum",
        inputs={"audio": codec.python_to_value(np.ones(2, np.float32))},
        parameters=codec.dict_to_struct({"marker": str(marker)}),
    )
    talk.outbox.put(first)
    next(call)
    call.cancel()
    talk.outbox.put(None)
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.read_text() == "closed"


def test_stream_without_a_model_name_is_invalid_argument(server) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        list(server.stub().Stream(iter([_message(text="hi")]), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "must name the model" in caught.value.details()


def test_stream_on_a_model_without_stream_is_unimplemented(server, tmp_path: Path) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        list(server.stub().Stream(iter([_message("nope", text="x")]), timeout=10))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
