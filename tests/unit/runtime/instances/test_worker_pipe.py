"""The worker pipe with both ends in this process: a WorkerServer's loop in a thread, a tiny model.

The test plays the server: it sends messages of the worker protocol's kinds down a channel
pair and reads what the worker answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import select
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loader.bundle import prepare_bundle
from loader.unpack import UnpackLimits
from modelrt.v1 import runtime_pb2, value_pb2
from registry.errors import ErrorCode
from runtime.instances.executor import InstanceSpec, LoadedModel
from runtime.instances.ipc import Channel, channel_pair
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.payload import WireRequest
from runtime.instances.wire import encode_request, read_answer
from runtime.instances.worker_main import WorkerServer
from runtime.instances.worker_protocol import ErrorEnvelope, Kind, Message, WorkerError, message
from tests.bundle_factory import write_bundle

MODEL = """
    import time
    from pathlib import Path
    from registry import ErrorCode, InvalidInputError, ModelRunner, ModelrtError, register

    class Refused(ModelrtError):  # the model's own error class: the server cannot import it
        code = ErrorCode.FAILED_PRECONDITION
        reason = "REFUSED"

        def __init__(self, what, why):
            super().__init__(f"{what} refused: {why}", metadata={"what": what})

    def fail(how):
        if how == "invalid":
            raise InvalidInputError("input 'x' is not welcome", metadata={"input": "x"})
        if how == "refused":
            raise Refused("x", "closed today")
        if how == "boom":
            raise RuntimeError("a secret the caller must not see")

    @register("pipe")
    class Pipe(ModelRunner):
        def predict(self, request):
            fail(request.param("fail", ""))
            return {"x": request.get("x")}

        def generate(self, request):
            try:
                for i in range(int(request.param("n", 0))):
                    yield {"i": i}
                if request.param("unjsonable", False):
                    yield {"value": object()}  # fails alone: the stream goes on
                    yield {"i": "after"}
                fail(request.param("fail", ""))
                while request.param("forever", False):
                    yield {"i": -1}
                    time.sleep(0.01)
            finally:
                if request.param("closed", ""):
                    Path(request.param("closed")).write_text("closed")

        def stream(self, requests):
            for request in requests:
                yield {"echo": request.get("x")}
"""


class Inbox:
    """The server's end: reads the worker's messages one at a time, with a time limit."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.waiting: deque[Message] = deque()

    def send(self, kind: Kind | int, call: int = 0, payload: Any = None) -> None:
        self.channel.send((int(kind), call, payload))

    def next(self, timeout: float = 10.0) -> Message:
        if not self.waiting:
            readable, _, _ = select.select([self.channel.fileno()], [], [], timeout)
            if not readable:
                raise TimeoutError(f"the worker sent nothing in {timeout}s")
            self.waiting.extend(self.channel.drain())
        return self.waiting.popleft()

    def until(self, kind: Kind, call: int) -> list[Message]:
        """Every message of ``call`` up to and including the first of ``kind``."""
        got: list[Message] = []
        for _ in range(10_000):
            received = self.next()
            if received[1] == call:
                got.append(received)
                if received[0] == kind:
                    return got
        raise AssertionError(f"no {kind.name} for call {call}")


class Worker:
    """A WorkerServer serving its end of the pipe on an event loop in a thread."""

    def __init__(self, spec: InstanceSpec) -> None:
        ours, theirs = channel_pair(multiprocessing.get_context("spawn"))
        self.inbox = Inbox(ours)
        self.channel = Channel(*theirs)
        self.server: WorkerServer | None = None
        self.thread = threading.Thread(target=self._serve, args=(spec,), daemon=True)
        self.thread.start()

    def _serve(self, spec: InstanceSpec) -> None:
        self.server = WorkerServer(self.channel, spec)
        asyncio.run(self.server.run())

    def close(self) -> None:
        if self.thread.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self.inbox.send(Kind.STOP)
            self.thread.join(10)
        self.inbox.channel.close()  # the worker's pipe reader sees EOF and ends
        self.channel.close()


@pytest.fixture
def spec(tmp_path: Path) -> InstanceSpec:
    bundle = write_bundle(tmp_path, "pipe", MODEL)
    return InstanceSpec(prepare_bundle(bundle, tmp_path / "work", UnpackLimits()))


@pytest.fixture
def worker(spec: InstanceSpec) -> Iterator[Worker]:
    started = Worker(spec)
    kind, call, loaded = started.inbox.next(30)
    assert (kind, call) == (Kind.READY, 0)
    assert isinstance(loaded, LoadedModel)
    assert set(loaded.capabilities) >= {"predict", "generate", "stream"}
    yield started
    started.close()


def _request(call: int, **params: Any) -> WireRequest:
    return encode_request({}, params, f"r{call}")


def test_a_predict_trip_is_answered_with_its_result(worker: Worker) -> None:
    requests = [encode_request({"x": n}, {}, f"r{n}") for n in range(3)]
    worker.inbox.send(Kind.BATCH, 1, requests)
    kind, call, answers = worker.inbox.next()
    assert (kind, call) == (Kind.RESULT, 1)
    assert [read_answer(answer).structured for answer in answers] == [{"x": 0}, {"x": 1}, {"x": 2}]


def test_an_unbatched_trip_answers_each_request_as_a_part(worker: Worker) -> None:
    worker.inbox.send(Kind.EACH, 2, [encode_request({"x": n}, {}, f"r{n}") for n in range(2)])
    parts = [worker.inbox.next() for _ in range(2)]
    assert [(kind, call) for kind, call, _ in parts] == [(Kind.PART, 2)] * 2
    assert [(index, last) for _, _, (index, _, last) in parts] == [(0, False), (1, True)]


@pytest.mark.parametrize(
    ("fail", "code", "reason", "metadata"),
    [
        ("invalid", ErrorCode.INVALID_ARGUMENT, "INVALID_INPUT", {"input": "x"}),
        ("refused", ErrorCode.FAILED_PRECONDITION, "REFUSED", {"what": "x"}),
        ("boom", ErrorCode.INTERNAL, "MODEL_ERROR", {"model": "pipe"}),
    ],
)
def test_a_requests_failure_crosses_in_the_envelope(
    worker: Worker, fail: str, code: ErrorCode, reason: str, metadata: dict[str, str]
) -> None:
    worker.inbox.send(Kind.BATCH, 3, [encode_request({}, {"fail": fail}, "r3")])
    kind, _, answers = worker.inbox.next()
    assert kind == Kind.RESULT, answers
    (answer,) = answers
    assert isinstance(answer, ItemFailure)
    error = answer.error
    assert type(error) is WorkerError  # never the model's own class: the server can't import it
    assert (error.code, error.reason) == (code, reason)
    assert metadata.items() <= error.metadata.items()
    if fail == "boom":
        assert error.error_id
        assert error.metadata["error_id"] == error.error_id
        assert error.error_id in error.message
        assert "secret" not in error.message
    else:
        assert error.error_id == ""
        assert "refused: closed today" in error.message or "not welcome" in error.message


def test_ping_is_answered_with_pong(worker: Worker) -> None:
    worker.inbox.send(Kind.PING)
    assert worker.inbox.next() == (Kind.PONG, 0, None)


def test_a_generate_call_sends_its_items_then_its_end(worker: Worker) -> None:
    worker.inbox.send(Kind.GENERATE, 4, _request(4, n=3))
    got = worker.inbox.until(Kind.END, 4)
    assert [kind for kind, _, _ in got] == [Kind.ITEM] * 3 + [Kind.END]
    assert [item.structured for _, _, item in got[:3]] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert all(isinstance(item, ModelOutput) for _, _, item in got[:3])


def test_a_failed_generate_item_crosses_in_the_envelope_and_the_call_goes_on(
    worker: Worker,
) -> None:
    worker.inbox.send(Kind.GENERATE, 9, _request(9, unjsonable=True))
    got = worker.inbox.until(Kind.END, 9)
    assert [kind for kind, _, _ in got] == [Kind.ITEM, Kind.ITEM, Kind.END]
    failed, after = got[0][2], got[1][2]
    assert isinstance(failed, ItemFailure)
    assert type(failed.error) is WorkerError
    assert (failed.error.code, failed.error.reason) == (ErrorCode.INTERNAL, "MODEL_ERROR")
    assert failed.error.error_id
    assert "not JSON-compatible" in failed.error.message
    assert after.structured == {"i": "after"}


@pytest.mark.parametrize(
    ("fail", "code", "reason", "metadata"),
    [
        ("invalid", "INVALID_ARGUMENT", "INVALID_INPUT", {"input": "x"}),
        ("boom", "INTERNAL", "MODEL_ERROR", {"model": "pipe"}),
    ],
)
def test_a_generate_call_that_raises_ends_with_the_error_envelope(
    worker: Worker, fail: str, code: str, reason: str, metadata: dict[str, str]
) -> None:
    worker.inbox.send(Kind.GENERATE, 5, _request(5, n=1, fail=fail))
    got = worker.inbox.until(Kind.ERROR, 5)
    assert [kind for kind, _, _ in got] == [Kind.ITEM, Kind.ERROR]
    sent = got[-1][2]
    assert isinstance(sent, ErrorEnvelope)
    assert (sent.code, sent.reason) == (code, reason)
    assert metadata.items() <= sent.metadata.items()
    assert sent.error_id == sent.metadata.get("error_id", "")


def test_a_stream_call_answers_each_request_then_ends(worker: Worker) -> None:
    worker.inbox.send(Kind.STREAM_OPEN, 6)
    for x in ("a", "b"):
        worker.inbox.send(Kind.STREAM_ITEM, 6, encode_request({"x": x}, {}, "r6"))
    worker.inbox.send(Kind.STREAM_END, 6)
    got = worker.inbox.until(Kind.END, 6)
    assert [item.structured for kind, _, item in got if kind == Kind.ITEM] == [
        {"echo": "a"},
        {"echo": "b"},
    ]


def _undecodable(call: int) -> WireRequest:
    """A request whose tensor says 4 float32 values but carries 3: the worker must refuse it."""
    raw = np.zeros(3, np.float32).tobytes()
    tensor = value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_FLOAT32, shape=[4], raw_data=raw)
    message = runtime_pb2.GenerateRequest(inputs={"x": value_pb2.Value(tensor=tensor)})
    return message.SerializeToString(), f"r{call}"


def test_the_worker_decodes_a_generate_request_and_refuses_a_bad_one(worker: Worker) -> None:
    worker.inbox.send(Kind.GENERATE, 11, _undecodable(11))
    sent = worker.inbox.until(Kind.ERROR, 11)[-1][2]
    assert isinstance(sent, ErrorEnvelope)
    assert (sent.code, sent.reason) == ("INVALID_ARGUMENT", "INVALID_INPUT")
    assert sent.metadata["input"] == "x"
    worker.inbox.send(Kind.GENERATE, 12, _request(12, n=1))  # the worker goes on
    assert [kind for kind, _, _ in worker.inbox.until(Kind.END, 12)] == [Kind.ITEM, Kind.END]


def test_a_bad_stream_request_is_answered_in_its_place_and_the_stream_goes_on(
    worker: Worker,
) -> None:
    worker.inbox.send(Kind.STREAM_OPEN, 13)
    worker.inbox.send(Kind.STREAM_ITEM, 13, encode_request({"x": "a"}, {}, "r13"))
    worker.inbox.send(Kind.STREAM_ITEM, 13, _undecodable(13))
    worker.inbox.send(Kind.STREAM_ITEM, 13, encode_request({"x": "b"}, {}, "r13"))
    worker.inbox.send(Kind.STREAM_END, 13)
    items = [item for kind, _, item in worker.inbox.until(Kind.END, 13) if kind == Kind.ITEM]
    failures = [item for item in items if isinstance(item, ItemFailure)]
    assert [item.structured for item in items if isinstance(item, ModelOutput)] == [
        {"echo": "a"},
        {"echo": "b"},
    ]
    assert len(failures) == 1
    assert failures[0].error.reason == "INVALID_INPUT"
    assert "input 'x'" in failures[0].error.message


def test_cancel_ends_a_generate_call_and_closes_the_models_generator(
    worker: Worker, tmp_path: Path
) -> None:
    closed = tmp_path / "closed"
    worker.inbox.send(Kind.GENERATE, 7, _request(7, forever=True, closed=str(closed)))
    assert worker.inbox.next()[:2] == (Kind.ITEM, 7)
    worker.inbox.send(Kind.CANCEL, 7)
    deadline = time.monotonic() + 10
    # Until the whole word is there: the file exists a moment before it is written.
    while not (closed.exists() and closed.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed.read_text() == "closed"
    worker.inbox.send(Kind.PING)  # the loop still serves, and a cancelled call has no end
    kinds = []
    while (received := worker.inbox.next())[0] != Kind.PONG:
        kinds.append(received[:2])
    assert set(kinds) <= {(Kind.ITEM, 7)}


def test_an_unknown_kind_is_refused_with_an_error_naming_it(worker: Worker) -> None:
    worker.inbox.send(99, 8, "what is this")
    kind, call, sent = worker.inbox.next()
    assert (kind, call) == (Kind.ERROR, 8)
    assert sent.reason == "UNKNOWN_MESSAGE_KIND"
    assert "unknown kind 99" in sent.message
    worker.inbox.send(Kind.PING)  # and the worker goes on serving
    assert worker.inbox.next() == (Kind.PONG, 0, None)


def test_stop_ends_the_worker_as_asked(spec: InstanceSpec) -> None:
    worker = Worker(spec)
    try:
        assert worker.inbox.next(30)[0] == Kind.READY
        worker.inbox.send(Kind.STOP)
        worker.thread.join(10)
        assert not worker.thread.is_alive()
        assert worker.server is not None
        assert not worker.server.run_ended_by_server_loss()
    finally:
        worker.close()


def test_messages_carry_the_kind_as_a_plain_int() -> None:
    sent = message(Kind.GENERATE, 3, "payload")
    assert sent == (Kind.GENERATE, 3, "payload")
    assert type(sent[0]) is int  # an enum member would pickle a reference to its class
    assert len({kind.value for kind in Kind}) == len(Kind)
