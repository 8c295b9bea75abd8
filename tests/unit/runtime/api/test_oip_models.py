"""What the Open Inference Protocol learns of a model's outputs from its answers."""

from __future__ import annotations

from pathlib import Path

from modelrt.v1 import value_pb2
from runtime.api import oip_models
from runtime.api.oip_models import OutputsSeen
from runtime.engine.models import ModelRecord
from runtime.metrics.metrics import Metrics


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


def test_statistics_split_time_between_successes_and_failures() -> None:
    metrics = Metrics()
    metrics.observe_request("echo", "ModelInfer", "OK", 0.25)
    metrics.observe_request("echo", "Predict", "OK", 0.5)
    metrics.observe_request("echo", "ModelInfer", "INVALID_ARGUMENT", 2.0)
    metrics.observe_request("other", "ModelInfer", "INTERNAL", 7.0)  # another model's
    metrics.observe_request("echo", "GetModel", "INTERNAL", 9.0)  # not an inference
    stats = oip_models.statistics(ModelRecord("echo", "1", Path("echo")), metrics).inference_stats
    assert (stats.success.count, stats.success.ns) == (2, 750_000_000)
    assert (stats.fail.count, stats.fail.ns) == (1, 2_000_000_000)
    metrics.forget_model("echo")
    assert metrics.failed_seconds("echo", "ModelInfer") == 0.0
    assert metrics.failed_seconds("other", "ModelInfer") == 7.0
