"""What the Open Inference Protocol learns of a model's outputs from its answers."""

from __future__ import annotations

from modelrt.v1 import value_pb2
from runtime.api.oip_models import OutputsSeen


def _tensor(dtype: int, rank: int) -> value_pb2.Value:
    return value_pb2.Value(tensor=value_pb2.Tensor(dtype=dtype, shape=[1] * rank))


def test_outputs_seen_keep_name_datatype_and_rank_with_every_dimension_variable() -> None:
    seen = OutputsSeen()
    seen.note("m", "1", {"y": _tensor(value_pb2.DATA_TYPE_FLOAT32, 2)})
    seen.note("m", "1", {"label": value_pb2.Value(text="cat")})
    assert seen.known("m", "1") == [("label", "BYTES", (-1,)), ("y", "FP32", (-1, -1))]
    assert seen.known("m", "2") == []


def test_outputs_seen_stop_growing_and_are_forgotten_with_the_model() -> None:
    seen = OutputsSeen()
    for index in range(300):
        seen.note("m", "1", {f"out{index}": value_pb2.Value(data=b"")})
    seen.note("m", "1", {f"more{index}": value_pb2.Value(data=b"") for index in range(300)})
    assert len(seen.known("m", "1")) == 256
    seen.forget("m")
    assert seen.known("m", "1") == []
