"""Rendering for people and for --json: outputs, predictions, stream items and models."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import grpc
import numpy as np

from clients.cli.output import (
    inline_text,
    item_error_line,
    item_json,
    item_line,
    model_json,
    output_json,
    prediction_json,
    render_model,
    render_models,
    render_prediction,
    render_table,
)
from clients.errors import ItemError
from clients.types import InputSpec, ModelInfo, Prediction, StreamItem


def _item(structured: object = None, outputs: dict | None = None, **kw: object) -> StreamItem:
    return StreamItem(0, "m", "1", "r", outputs or {}, structured, **kw)  # type: ignore[arg-type]


def test_output_json_for_every_kind() -> None:
    assert output_json(np.array([[1.5, 2]], dtype=np.float32)) == {
        "kind": "tensor",
        "dtype": "float32",
        "shape": [1, 2],
        "data": [[1.5, 2.0]],
    }
    assert output_json(b"\x00\xff") == {"kind": "bytes", "size": 2, "base64": "AP8="}
    assert output_json("hi") == {"kind": "text", "text": "hi"}
    assert output_json({"a": 1}) == {"kind": "json", "json": {"a": 1}}


def test_output_json_for_string_and_bytes_tensors() -> None:
    strings = output_json(np.array(["a", "b"]))
    assert (strings["dtype"], strings["data"]) == ("string", ["a", "b"])
    blobs = np.empty(2, dtype=object)
    blobs[:] = [b"x", b"yz"]
    data = output_json(blobs)
    assert data["dtype"] == "bytes"
    assert [base64.b64decode(item) for item in data["data"]] == [b"x", b"yz"]


def test_prediction_json_is_serialisable() -> None:
    prediction = Prediction("echo", "1", "r1", {"y": np.arange(2)}, {"label": "cat"})
    data = json.loads(json.dumps(prediction_json(prediction)))
    assert data["model"] == "echo"
    assert data["structured"] == {"label": "cat"}
    assert data["outputs"]["y"]["data"] == [0, 1]


def test_render_prediction_pretty_prints_structured_and_tables_outputs() -> None:
    text = render_prediction(
        Prediction("m", "1", "r", {"img": b"\x89PNG", "x": np.zeros((2, 3), np.float32)}, {"a": 1})
    )
    lines = text.splitlines()
    assert lines[:3] == ["{", '  "a": 1', "}"]
    assert lines[3].split() == ["OUTPUT", "KIND", "DTYPE", "SHAPE/SIZE", "VALUE"]
    assert lines[4].split()[:5] == ["img", "bytes", "-", "4", "bytes"]
    assert lines[5].split()[:4] == ["x", "tensor", "float32", "2x3"]


def test_render_prediction_with_nothing_prints_null() -> None:
    assert render_prediction(Prediction("m", "1", "r")) == "null"


def test_render_table_aligns_columns() -> None:
    assert render_table(["A", "LONG"], [["xyz", "1"], ["q", ""]]) == "A    LONG\nxyz  1\nq"


def test_inline_text_for_token_like_items_only() -> None:
    assert inline_text(_item({"token": "Hel"})) == "Hel"
    assert inline_text(_item({"text": "lo"})) == "lo"
    assert inline_text(_item("bare")) == "bare"
    assert inline_text(_item({"token": "a", "index": 3})) == "a"  # extra fields aside
    assert inline_text(_item({"text": "a", "final": False})) is None
    assert inline_text(_item({"n": 1})) is None
    assert inline_text(_item({"token": "a"}, {"x": b"1"})) is None


def test_item_line_and_item_json() -> None:
    item = _item({"n": 1}, {"x": np.zeros(3, np.int8)})
    assert item_line(item) == '{"n":1}  x=<tensor int8 3>'
    assert item_line(_item(None, {"b": b"abc"})) == "b=<bytes 3 bytes>"
    data = item_json(item)
    assert (data["index"], data["error"], data["outputs"]["x"]["shape"]) == (0, None, [3])


def test_failed_item_line_and_json() -> None:
    error = ItemError(grpc.StatusCode.INTERNAL, "bad token", "MODEL_ERROR", "abc123")
    item = StreamItem(4, "m", "1", "r", error=error)
    assert item_error_line(item) == "item 4: INTERNAL: bad token [MODEL_ERROR] (error id abc123)"
    assert item_json(item)["error"] == {
        "code": "INTERNAL",
        "message": "bad token",
        "reason": "MODEL_ERROR",
        "error_id": "abc123",
    }


def _models() -> list[ModelInfo]:
    return [
        ModelInfo("echo", "1", "READY", capabilities=("predict", "generate")),
        ModelInfo("broken", "2", "FAILED", reason="import failed"),
    ]


def test_render_models_table() -> None:
    rows = [line.split(maxsplit=4) for line in render_models(_models()).splitlines()]
    assert rows == [
        ["NAME", "VERSION", "STATE", "CAPABILITIES", "REASON"],
        ["echo", "1", "READY", "predict,generate"],
        ["broken", "2", "FAILED", "-", "import failed"],
    ]


def test_render_model_shows_inputs_and_schema() -> None:
    info = ModelInfo(
        "clf",
        "3",
        "READY",
        labels=("cat", "dog"),
        inputs=(InputSpec("x", "tensor", "float32", (-1, 3)), InputSpec("t", "text")),
        output_schema={"type": "object"},
        state_time=datetime(2026, 1, 2, tzinfo=UTC),
    )
    text = render_model(info)
    assert "labels          cat, dog" in text
    assert "state time      2026-01-02T00:00:00+00:00" in text
    assert "reason          -" in text
    assert "  x     tensor  float32  [-1, 3]  no" in text
    assert "  t     text    -        any      no" in text
    assert text.endswith('output schema:\n  {\n    "type": "object"\n  }')


def test_render_model_without_inputs_or_schema() -> None:
    text = render_model(ModelInfo("m", "1", "UNLOADED"))
    assert "inputs:\n  any" in text
    assert text.endswith("output schema:\n  none")


def test_model_json_is_serialisable() -> None:
    info = ModelInfo("m", "1", "READY", inputs=(InputSpec("x", "tensor", "int8", (2,)),))
    data = json.loads(json.dumps(model_json(info)))
    assert data["inputs"] == [
        {"name": "x", "kind": "tensor", "dtype": "int8", "shape": [2], "optional": False}
    ]
    assert data["state_time"] is None
