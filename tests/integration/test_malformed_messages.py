"""Request messages that are not valid protobuf: INVALID_ARGUMENT and one short log line.

Bytes go through a channel without serializers, so the server sees them as they are: garbage,
a truncated message, a string field that is not UTF-8. Every method of modelrt.v1.ModelRuntime,
unary or streaming, must answer INVALID_ARGUMENT naming the message type, log it briefly
(no traceback), and keep serving.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.message import DecodeError

from modelrt import codec
from modelrt.v1 import runtime_pb2
from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.timeout(120)

SERVICE = runtime_pb2.DESCRIPTOR.services_by_name["ModelRuntime"]

ECHO = """
    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            return {"x": request["x"]}

        def stream(self, requests):
            for request in requests:
                yield {"x": request["x"]}
"""

PAYLOADS = {
    "garbage": b"\xff\xff\xff\xff",
    "bad UTF-8 in field 1": b"\x0a\x02\xff\xfe",
    "truncated": b"\x0a\x05ab",
}


def _call(channel: grpc.Channel, method, payloads: list[bytes]) -> None:
    """Call ``method`` with raw request bytes; raises the RpcError when the call fails."""
    path = f"/{SERVICE.full_name}/{method.name}"
    kinds = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }
    stub = kinds[(method.client_streaming, method.server_streaming)](
        path, request_serializer=None, response_deserializer=None
    )
    request = iter(payloads) if method.client_streaming else payloads[0]
    result = stub(request, timeout=10)
    if method.server_streaming:
        list(result)


def _assert_logged_briefly(caplog: pytest.LogCaptureFixture) -> None:
    assert "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.exc_info]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    brief = [r for r in caplog.records if "could not be decoded" in r.getMessage()]
    assert brief
    assert all("\n" not in record.getMessage() for record in brief)


@pytest.fixture
def server(start_server, tmp_path: Path):
    store = tmp_path / "store"
    write_bundle(store, "echo", ECHO)
    return start_server(store)


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
def test_an_undecodable_message_is_invalid_argument_logged_in_one_line(
    server, caplog, method, payload
) -> None:
    data = PAYLOADS[payload]
    request_type = message_factory.GetMessageClass(method.input_type)
    with pytest.raises(DecodeError):  # the payload really is not a valid message
        request_type.FromString(data)
    caplog.set_level(logging.INFO)

    with pytest.raises(grpc.RpcError) as caught:
        _call(server.channel(), method, [data])

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert method.input_type.full_name in caught.value.details()
    _assert_logged_briefly(caplog)
    stub = server.stub()
    request = runtime_pb2.PredictRequest(model="echo", inputs={"x": codec.python_to_value("hi")})
    assert codec.json_to_python(stub.Predict(request, timeout=10).structured) == {"x": "hi"}


@pytest.mark.parametrize("method", ["Stream", "Upload"])
def test_an_undecodable_message_later_in_a_client_stream_ends_it_with_invalid_argument(
    server, caplog, method
) -> None:
    caplog.set_level(logging.INFO)
    if method == "Stream":
        first = runtime_pb2.StreamRequest(model="echo", inputs={"x": codec.python_to_value("a")})
    else:
        header = runtime_pb2.UploadHeader(namespace="late", total_size=100, sha256="0" * 64)
        first = runtime_pb2.UploadRequest(header=header)
    payloads = [first.SerializeToString(), PAYLOADS["garbage"]]

    with pytest.raises(grpc.RpcError) as caught:
        _call(server.channel(), SERVICE.methods_by_name[method], payloads)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    _assert_logged_briefly(caplog)
    listed = server.stub().ListModels(runtime_pb2.ListModelsRequest(), timeout=10)
    assert [model.name for model in listed.models] == ["echo"]  # no half upload
