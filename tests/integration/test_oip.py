"""inference.GRPCInferenceService on the modelrt port, through the generated OIP stubs."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2

from modelrt.oip import grpc_service_pb2 as oip
from modelrt.oip import grpc_service_pb2_grpc as oip_grpc
from modelrt.oip import model_config_pb2 as mc
from tests.bundle_factory import write_bundle
from tests.integration.status_details import error_info
from tests.oip_bundles import ECHO, SCORED

TOKENS = """
    import time

    import numpy as np
    from registry import ModelRunner, register

    @register("tokens")
    class Tokens(ModelRunner):  # generate only
        def generate(self, request):
            for i in range(int(request.param("n", 3))):
                time.sleep(request.param("pause_ms", 0) / 1000)
                if i == request.param("bad_at", -1):
                    yield {"token": object()}  # this item fails alone
                else:
                    yield {"token": f"t{i}", "index": np.array([i], dtype=np.int64)}
"""


def _store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    write_bundle(store, "free", ECHO.format(name="free"))  # no declared inputs: takes anything
    write_bundle(
        store,
        "echo",
        ECHO.format(name="echo"),
        config={
            "inputs": [
                {"name": "x", "dtype": "float32", "shape": [-1, 3], "optional": True},
                {"name": "s", "dtype": "string", "optional": True},
                {"name": "note", "kind": "text", "optional": True},
            ],
            "batching": {"max_batch_size": 4, "max_queue_delay_ms": 2},
        },
    )
    write_bundle(store, "scored", SCORED, config={"inputs": [{"name": "text", "kind": "text"}]})
    write_bundle(store, "tokens", TOKENS)
    return store


@pytest.fixture
def served(start_server, tmp_path: Path):
    return start_server(_store(tmp_path))


def _stub(server) -> oip_grpc.GRPCInferenceServiceStub:
    return oip_grpc.GRPCInferenceServiceStub(server.channel())


def _raw_bytes(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def test_liveness_and_readiness_share_the_health_services_truth(served) -> None:
    stub = _stub(served)
    assert stub.ServerLive(oip.ServerLiveRequest(), timeout=5).live
    assert stub.ServerReady(oip.ServerReadyRequest(), timeout=5).ready
    assert stub.ModelReady(oip.ModelReadyRequest(name="echo"), timeout=5).ready
    assert stub.ModelReady(oip.ModelReadyRequest(name="echo", version="1"), timeout=5).ready
    assert not stub.ModelReady(oip.ModelReadyRequest(name="nope"), timeout=5).ready
    statuses = served.health().List(health_pb2.HealthListRequest(), timeout=5).statuses
    assert (
        statuses["inference.GRPCInferenceService"].status == health_pb2.HealthCheckResponse.SERVING
    )
    assert statuses["modelrt.v1.ModelRuntime"].status == health_pb2.HealthCheckResponse.SERVING


def test_server_and_model_metadata_describe_declared_inputs(served) -> None:
    stub = _stub(served)
    server = stub.ServerMetadata(oip.ServerMetadataRequest(), timeout=5)
    assert server.name == "modelrt"
    assert "model_repository" in server.extensions
    meta = stub.ModelMetadata(oip.ModelMetadataRequest(name="echo"), timeout=5)
    assert meta.name == "echo"
    assert list(meta.versions) == ["1"]
    inputs = {t.name: (t.datatype, list(t.shape)) for t in meta.inputs}
    assert inputs == {"x": ("FP32", [-1, 3]), "s": ("BYTES", [-1]), "note": ("BYTES", [1])}


def test_metadata_learns_the_outputs_a_model_answers_with(served) -> None:
    stub = _stub(served)
    before = stub.ModelMetadata(oip.ModelMetadataRequest(name="echo"), timeout=5)
    assert list(before.outputs) == []
    _infer_x(stub, np.ones((1, 3), np.float32))
    after = stub.ModelMetadata(oip.ModelMetadataRequest(name="echo"), timeout=5)
    outputs = {t.name: (t.datatype, list(t.shape)) for t in after.outputs}
    assert outputs == {"x": ("FP32", [-1, -1]), "doubled": ("FP32", [-1, -1])}
    scored = stub.ModelMetadata(oip.ModelMetadataRequest(name="scored"), timeout=5)
    assert [(t.name, t.datatype) for t in scored.outputs] == [("structured", "BYTES")]


def test_model_config_is_tritons_model_config(served) -> None:
    config = _stub(served).ModelConfig(oip.ModelConfigRequest(name="echo"), timeout=5).config
    assert config.name == "echo"
    assert config.backend == "modelrt"
    assert config.max_batch_size == 0  # modelrt never adds a batch dimension
    assert config.parameters["modelrt_max_batch_size"].string_value == "4"
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    first = config.input[0]
    assert (first.name, first.data_type, list(first.dims)) == ("x", mc.TYPE_FP32, [-1, 3])
    assert [(g.count, g.kind) for g in config.instance_group] == [
        (1, mc.ModelInstanceGroup.KIND_AUTO)
    ]


def _infer_x(stub, array: np.ndarray, **fields) -> oip.ModelInferResponse:
    request = oip.ModelInferRequest(model_name="echo", **fields)
    request.inputs.add(name="x", datatype="FP32", shape=list(array.shape))
    request.raw_input_contents.append(array.astype("<f4").tobytes())
    return stub.ModelInfer(request, timeout=10)


def test_infer_with_raw_contents_answers_raw_contents_and_echoes_the_id(served) -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    reply = _infer_x(_stub(served), array, id="req-7")
    assert (reply.model_name, reply.model_version, reply.id) == ("echo", "1", "req-7")
    names = [output.name for output in reply.outputs]
    doubled = reply.raw_output_contents[names.index("doubled")]
    assert reply.outputs[names.index("doubled")].datatype == "FP32"
    assert list(reply.outputs[names.index("doubled")].shape) == [2, 3]
    np.testing.assert_array_equal(np.frombuffer(doubled, "<f4").reshape(2, 3), array * 2)


def test_infer_with_typed_contents_answers_typed_contents(served) -> None:
    request = oip.ModelInferRequest(model_name="echo")
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 3])
    tensor.contents.fp32_contents.extend([1.0, 2.0, 3.0])
    request.outputs.add(name="doubled")
    reply = _stub(served).ModelInfer(request, timeout=10)
    assert not reply.raw_output_contents
    assert [o.name for o in reply.outputs] == ["doubled"]
    assert list(reply.outputs[0].contents.fp32_contents) == [2.0, 4.0, 6.0]


@pytest.mark.parametrize(
    ("datatype", "field", "values", "dtype"),
    [
        ("BOOL", "bool_contents", [True, False], "bool"),
        ("INT8", "int_contents", [-3, 4], "<i1"),
        ("INT16", "int_contents", [-300, 4], "<i2"),
        ("INT32", "int_contents", [-3, 70000], "<i4"),
        ("INT64", "int64_contents", [-(2**40), 4], "<i8"),
        ("UINT8", "uint_contents", [3, 250], "<u1"),
        ("UINT16", "uint_contents", [3, 60000], "<u2"),
        ("UINT32", "uint_contents", [3, 2**31], "<u4"),
        ("UINT64", "uint64_contents", [3, 2**63], "<u8"),
        ("FP64", "fp64_contents", [0.25, -1.5], "<f8"),
    ],
)
def test_every_typed_datatype_round_trips(served, datatype, field, values, dtype) -> None:
    request = oip.ModelInferRequest(model_name="free")
    tensor = request.inputs.add(name="y", datatype=datatype, shape=[2])
    getattr(tensor.contents, field).extend(values)
    typed = _stub(served).ModelInfer(request, timeout=10)
    assert typed.outputs[0].datatype == datatype
    assert list(getattr(typed.outputs[0].contents, field)) == values
    raw_request = oip.ModelInferRequest(model_name="free")
    raw_request.inputs.add(name="y", datatype=datatype, shape=[2])
    raw_request.raw_input_contents.append(np.array(values, dtype=dtype).tobytes())
    raw = _stub(served).ModelInfer(raw_request, timeout=10)
    assert np.frombuffer(raw.raw_output_contents[0], dtype).tolist() == values


def test_sixteen_bit_floats_travel_raw(served) -> None:
    halves = np.array([1, 2.5, -3], dtype="<f2")
    request = oip.ModelInferRequest(model_name="free")
    request.inputs.add(name="y", datatype="FP16", shape=[3])
    request.raw_input_contents.append(halves.tobytes())
    reply = _stub(served).ModelInfer(request, timeout=10)
    assert reply.outputs[0].datatype == "FP16"
    assert reply.raw_output_contents[0] == halves.tobytes()
    # BF16 reaches the model as float32 (as it does through modelrt.v1) and comes back FP32.
    brain = (np.array([1, 2.5, -3], dtype="<f4").view("<u4") >> 16).astype("<u2")
    request = oip.ModelInferRequest(model_name="free")
    request.inputs.add(name="y", datatype="BF16", shape=[3])
    request.raw_input_contents.append(brain.tobytes())
    reply = _stub(served).ModelInfer(request, timeout=10)
    assert reply.outputs[0].datatype == "FP32"
    assert np.frombuffer(reply.raw_output_contents[0], "<f4").tolist() == [1, 2.5, -3]


def test_bytes_tensors_raw_and_typed_and_a_declared_string_input(served) -> None:
    stub = _stub(served)
    request = oip.ModelInferRequest(model_name="free")
    request.inputs.add(name="b", datatype="BYTES", shape=[2])
    request.raw_input_contents.append(_raw_bytes(b"\x00\xff", b""))
    reply = stub.ModelInfer(request, timeout=10)
    assert reply.raw_output_contents[0] == _raw_bytes(b"\x00\xff", b"")
    typed = oip.ModelInferRequest(model_name="free")
    typed.inputs.add(name="b", datatype="BYTES", shape=[1]).contents.bytes_contents.append(b"z")
    answer = stub.ModelInfer(typed, timeout=10)
    assert list(answer.outputs[0].contents.bytes_contents) == [b"z"]
    text = oip.ModelInferRequest(model_name="echo")  # "s" is declared string: decoded as UTF-8
    text.inputs.add(name="s", datatype="BYTES", shape=[1])
    text.raw_input_contents.append(_raw_bytes("héllo".encode()))
    assert stub.ModelInfer(text, timeout=10).raw_output_contents[0] == _raw_bytes("héllo".encode())
    bad = oip.ModelInferRequest(model_name="echo")
    bad.inputs.add(name="s", datatype="BYTES", shape=[1])
    bad.raw_input_contents.append(_raw_bytes(b"\xff"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(bad, timeout=10)
    assert error_info(caught.value).reason == "INVALID_INPUT"


def test_text_input_and_json_outputs_travel_as_bytes(served) -> None:
    stub = _stub(served)
    request = oip.ModelInferRequest(model_name="scored")
    request.inputs.add(name="text", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(_raw_bytes(b"cat"))
    reply = stub.ModelInfer(request, timeout=10)
    (output,) = reply.outputs
    assert (output.name, output.datatype, list(output.shape)) == ("structured", "BYTES", [1])
    assert json.loads(reply.raw_output_contents[0][4:]) == {"label": "CAT", "score": 0.5}


def test_parameters_reach_the_model_and_tritons_own_stay_behind(served) -> None:
    request = oip.ModelInferRequest(model_name="echo")
    request.parameters["threshold"].int64_param = 3
    request.parameters["mode"].string_param = "fast"
    request.parameters["triton_enable_empty_final_response"].bool_param = True
    request.inputs.add(name="note", datatype="BYTES", shape=[1]).contents.bytes_contents.append(
        b"hi"
    )
    reply = _stub(served).ModelInfer(request, timeout=10)
    (structured,) = reply.outputs  # a str and a dict: the model's structured output
    assert structured.name == "structured"
    assert json.loads(structured.contents.bytes_contents[0]) == {
        "note": "hi",
        "params": {"threshold": 3, "mode": "fast"},
    }


@pytest.mark.parametrize(
    ("build", "reason", "words"),
    [
        (lambda r: r.inputs.add(name="x", datatype="FP8", shape=[1]), "INVALID_INPUT", "FP8"),
        (
            lambda r: r.inputs.add(
                name="x", datatype="FP32", shape=[1, 3]
            ).contents.fp32_contents.append(1),
            "INVALID_INPUT",
            "needs 3 elements",
        ),
        (
            lambda r: r.inputs.add(
                name="y", datatype="INT8", shape=[1]
            ).contents.int_contents.append(999),
            "INVALID_INPUT",
            "INT8",
        ),
        (
            lambda r: r.inputs.add(name="y", datatype="FP16", shape=[1]),
            "INVALID_INPUT",
            "raw_input_contents",
        ),
    ],
)
def test_bad_inputs_are_invalid_argument_naming_the_problem(served, build, reason, words) -> None:
    request = oip.ModelInferRequest(model_name="free")
    build(request)
    with pytest.raises(grpc.RpcError) as caught:
        _stub(served).ModelInfer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).reason == reason
    assert words in caught.value.details()


def test_raw_contents_that_do_not_match_the_inputs_are_refused(served) -> None:
    request = oip.ModelInferRequest(model_name="echo")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 3])
    request.raw_input_contents.extend([b"\0" * 12, b"\0" * 12])
    with pytest.raises(grpc.RpcError) as caught:
        _stub(served).ModelInfer(request, timeout=10)
    assert error_info(caught.value).reason == "INVALID_REQUEST"
    short = oip.ModelInferRequest(model_name="echo")
    short.inputs.add(name="x", datatype="FP32", shape=[1, 3])
    short.raw_input_contents.append(b"\0" * 8)
    with pytest.raises(grpc.RpcError) as caught:
        _stub(served).ModelInfer(short, timeout=10)
    assert error_info(caught.value).reason == "INVALID_INPUT"


def test_a_requested_output_the_model_lacks_is_refused(served) -> None:
    request = oip.ModelInferRequest(model_name="free")
    request.inputs.add(name="y", datatype="INT32", shape=[1]).contents.int_contents.append(1)
    request.outputs.add(name="missing")
    with pytest.raises(grpc.RpcError) as caught:
        _stub(served).ModelInfer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "missing" in caught.value.details()


def test_unknown_model_is_not_found(served) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _stub(served).ModelInfer(oip.ModelInferRequest(model_name="nope"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def _stream(stub, *requests: oip.ModelInferRequest) -> list[oip.ModelStreamInferResponse]:
    return list(stub.ModelStreamInfer(iter(requests), timeout=20))


def _token_request(rid: str, **params: int) -> oip.ModelInferRequest:
    request = oip.ModelInferRequest(model_name="tokens", id=rid)
    for key, value in params.items():
        request.parameters[key].int64_param = value
    return request


def _by_id(replies: list[oip.ModelStreamInferResponse]) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for reply in replies:
        grouped.setdefault(reply.infer_response.id, []).append(reply)
    return grouped


def _finals(replies: list) -> list[bool]:
    return [r.infer_response.parameters["triton_final_response"].bool_param for r in replies]


def test_stream_infer_answers_a_generate_model_with_several_responses_then_final(served) -> None:
    replies = _by_id(_stream(_stub(served), _token_request("a", n=3), _token_request("b", n=1)))
    assert {rid: _finals(mine) for rid, mine in replies.items()} == {
        "a": [False, False, False, True],
        "b": [False, True],
    }
    assert all(not r.error_message for mine in replies.values() for r in mine)
    second = replies["a"][1].infer_response
    outputs = {o.name: i for i, o in enumerate(second.outputs)}
    assert np.frombuffer(second.raw_output_contents[outputs["index"]], "<i8").tolist() == [1]
    assert second.raw_output_contents[outputs["structured"]] == _raw_bytes(b'{"token": "t1"}')
    assert not replies["a"][3].infer_response.outputs


def test_infer_on_a_generate_only_model_is_unimplemented(served) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _stub(served).ModelInfer(_token_request("x", n=1), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error_info(caught.value).reason == "HOOK_NOT_IMPLEMENTED"


def test_stream_infer_runs_the_requests_of_one_stream_concurrently(served) -> None:
    quick = oip.ModelInferRequest(model_name="free", id="quick")
    quick.inputs.add(name="y", datatype="INT32", shape=[1]).contents.int_contents.append(1)
    replies = _stream(_stub(served), _token_request("slow", n=3, pause_ms=300), quick)
    order = [r.infer_response.id for r in replies]
    assert order.index("quick") < len(order) - 1  # answered while "slow" still generated
    assert _finals(_by_id(replies)["slow"]) == [False, False, False, True]


def test_stream_infer_reports_errors_per_response_and_goes_on(served) -> None:
    replies = _by_id(
        _stream(
            _stub(served),
            _token_request("bad-item", n=2, bad_at=0),
            oip.ModelInferRequest(model_name="nope", id="unknown"),
            _token_request("after", n=1),
        )
    )
    bad_item = [r.error_message for r in replies["bad-item"]]
    assert "[MODEL_ERROR]" in bad_item[0]
    assert bad_item[1:] == ["", ""]
    (unknown,) = replies["unknown"]
    assert "[MODEL_NOT_FOUND]" in unknown.error_message
    assert [r.error_message for r in replies["after"]] == ["", ""]


def test_a_stream_message_that_does_not_parse_ends_the_stream(served) -> None:
    call = served.channel().stream_stream(
        "/inference.GRPCInferenceService/ModelStreamInfer",
        request_serializer=lambda raw: raw,
        response_deserializer=oip.ModelStreamInferResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as caught:
        list(call(iter([b"\xff\xff\xff"]), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_stream_infer_of_a_predict_model_answers_once_marked_final(served) -> None:
    request = oip.ModelInferRequest(model_name="free", id="p")
    request.inputs.add(name="y", datatype="INT32", shape=[1]).contents.int_contents.append(5)
    (reply,) = _stream(_stub(served), request)
    assert reply.infer_response.parameters["triton_final_response"].bool_param
    assert list(reply.infer_response.outputs[0].contents.int_contents) == [5]


def test_statistics_count_inferences_from_the_metrics_tallies(served) -> None:
    stub = _stub(served)
    for _ in range(3):
        _infer_x(stub, np.ones((1, 3), np.float32))
    stats = stub.ModelStatistics(oip.ModelStatisticsRequest(name="echo"), timeout=5)
    (model,) = stats.model_stats
    assert model.name == "echo"
    assert model.inference_stats.success.count == 3
    assert model.inference_count == 3
    assert model.inference_stats.queue.count == 3
    everyone = stub.ModelStatistics(oip.ModelStatisticsRequest(), timeout=5)
    assert {m.name for m in everyone.model_stats} == {"echo", "free", "scored", "tokens"}


def test_repository_index_unload_and_load(served) -> None:
    stub = _stub(served)
    index = stub.RepositoryIndex(oip.RepositoryIndexRequest(), timeout=5)
    assert {(m.name, m.state) for m in index.models} == {
        ("echo", "READY"),
        ("free", "READY"),
        ("scored", "READY"),
        ("tokens", "READY"),
    }
    stub.RepositoryModelUnload(oip.RepositoryModelUnloadRequest(model_name="tokens"), timeout=30)
    assert not stub.ModelReady(oip.ModelReadyRequest(name="tokens"), timeout=5).ready
    ready = stub.RepositoryIndex(oip.RepositoryIndexRequest(ready=True), timeout=5)
    assert "tokens" not in {m.name for m in ready.models}
    stub.RepositoryModelLoad(oip.RepositoryModelLoadRequest(model_name="tokens"), timeout=60)
    assert stub.ModelReady(oip.ModelReadyRequest(name="tokens"), timeout=5).ready


def test_triton_extensions_not_served_are_unimplemented(served) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _stub(served).TraceSetting(oip.TraceSettingRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_tokens_guard_inference_and_management_but_not_liveness(start_server, tmp_path) -> None:
    server = start_server(_store(tmp_path), inference_token="infer", admin_token="admin")
    stub = _stub(server)
    assert stub.ServerLive(oip.ServerLiveRequest(), timeout=5).live
    assert stub.ModelReady(oip.ModelReadyRequest(name="echo"), timeout=5).ready
    with pytest.raises(grpc.RpcError) as caught:
        _infer_x(stub, np.ones((1, 3), np.float32))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    infer = (("authorization", "Bearer infer"),)
    request = oip.RepositoryModelUnloadRequest(model_name="echo")
    with pytest.raises(grpc.RpcError) as caught:
        stub.RepositoryModelUnload(request, timeout=5, metadata=infer)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED  # known, may not manage
    config = stub.ModelConfig(oip.ModelConfigRequest(name="echo"), timeout=5, metadata=infer)
    assert config.config.name == "echo"


def test_rpc_metrics_count_oip_calls_without_a_series_per_name_sent(served) -> None:
    stub = _stub(served)
    _infer_x(stub, np.ones((1, 3), np.float32))
    assert not stub.ModelReady(oip.ModelReadyRequest(name="ghost-ready"), timeout=5).ready
    (reply,) = _stream(stub, oip.ModelInferRequest(model_name="ghost-stream", id="g"))
    assert "[MODEL_NOT_FOUND]" in reply.error_message
    exposition = served.server.metrics.exposition().decode()
    assert 'modelrt_requests_total{code="OK",model="echo",rpc="ModelInfer"} 1.0' in exposition
    assert 'model="",rpc="ModelStreamInfer"' in exposition
    assert "ghost" not in exposition


def test_grpcurl_sends_a_typed_json_tensor_through_reflection(served) -> None:
    grpcurl = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    if grpcurl is None:
        pytest.skip("grpcurl is installed by the dev extra")
    body = {
        "model_name": "free",
        "id": "from-grpcurl",
        "inputs": [
            {
                "name": "y",
                "datatype": "FP32",
                "shape": [3],
                "contents": {"fp32_contents": [1, 2, 3]},
            }
        ],
    }
    result = subprocess.run(
        [grpcurl, "-plaintext", "-d", json.dumps(body), served.address,
         "inference.GRPCInferenceService/ModelInfer"],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["id"] == "from-grpcurl"
    assert reply["outputs"][0]["contents"] == {"fp32_contents": [1, 2, 3]}
