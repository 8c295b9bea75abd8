"""The peers' messages as the load generator encodes them: field numbers on the wire."""

import numpy as np
import peer_protos
from load import peer_call


def test_predictions_request_puts_model_and_input_map_on_fields_1_and_3() -> None:
    classes = peer_protos.message_classes()
    request = classes["org.pytorch.serve.grpc.inference.PredictionsRequest"](
        model_name="mlp", input={"data": b"abc"}
    )
    # field 1 (string "mlp"), field 3 (map entry: key field 1 "data", value field 2 b"abc")
    assert request.SerializeToString() == b"\n\x03mlp\x1a\x0b\n\x04data\x12\x03abc"


def test_model_infer_response_reads_output_shapes_and_raw_contents() -> None:
    classes = peer_protos.message_classes()
    reply_type = classes["inference.ModelInferResponse"]
    # outputs (field 5) holding name (1) "y" and shape (3, packed) [1, 10]; raw contents field 6
    wire = b"\x2a\x07\n\x01y\x1a\x02\x01\x0a" + b"\x32\x02ab"
    reply = reply_type.FromString(wire)
    assert [list(out.shape) for out in reply.outputs] == [[1, 10]]
    assert reply.outputs[0].name == "y"
    assert list(reply.raw_output_contents) == [b"ab"]


def test_oip_call_sends_the_row_as_raw_input_contents_of_a_fp32_input() -> None:
    method, request, reply_type = peer_call("oip", "mlp")
    assert method == "/inference.GRPCInferenceService/ModelInfer"
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == ("x", "FP32", [1, 256])
    row = np.frombuffer(request.raw_input_contents[0], np.float32)
    assert row.shape == (256,)
    # raw_input_contents is field 7 (tag 0x3a) followed by the 1024-byte length as a varint
    assert b"\x3a\x80\x08" + row.tobytes() in request.SerializeToString()
    assert reply_type.DESCRIPTOR.full_name == "inference.ModelInferResponse"


def test_torchserve_call_sends_the_row_bytes_under_data() -> None:
    method, request, _ = peer_call("torchserve", "mlp")
    assert method.endswith("InferenceAPIsService/Predictions")
    assert request.model_name == "mlp"
    assert len(request.input["data"]) == 256 * 4
