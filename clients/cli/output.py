"""How the CLI shows results: JSON forms for ``--json`` and plain-text tables for people."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from clients.errors import ItemError
from clients.types import ModelInfo, Prediction, StreamItem

if TYPE_CHECKING:
    import numpy as np

_PREVIEW_CHARS = 40
_NONE = "-"


def output_kind(value: Any) -> str:
    """The wire kind of a decoded output: "tensor", "bytes", "text" or "json".

    >>> output_kind(b"\\x89PNG")
    'bytes'
    """
    import numpy as np

    if isinstance(value, np.ndarray):
        return "tensor"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, str):
        return "text"
    return "json"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _tensor_data(array: np.ndarray[Any, Any]) -> Any:
    import numpy as np

    if array.dtype.kind in "OS":
        flat = [_b64(bytes(item)) for item in array.flat]
        return np.asarray(flat, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def output_json(value: Any) -> dict[str, Any]:
    """A decoded output as JSON: tensors as dtype, shape and data; bytes as base64.

    >>> output_json(np.array([1, 2], dtype=np.int32))
    {'kind': 'tensor', 'dtype': 'int32', 'shape': [2], 'data': [1, 2]}
    """
    kind = output_kind(value)
    if kind == "tensor":
        return {
            "kind": kind,
            "dtype": _dtype_label(value),
            "shape": list(value.shape),
            "data": _tensor_data(value),
        }
    if kind == "bytes":
        return {"kind": kind, "size": len(value), "base64": _b64(value)}
    if kind == "text":
        return {"kind": kind, "text": value}
    return {"kind": kind, "json": value}


def _dtype_label(array: np.ndarray[Any, Any]) -> str:
    if array.dtype.kind == "U":
        return "string"
    if array.dtype.kind in "OS":
        return "bytes"
    return str(array.dtype)


def _error_json(error: ItemError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "code": error.code.name,
        "message": error.message,
        "reason": error.reason,
        "error_id": error.error_id,
    }


def prediction_json(prediction: Prediction) -> dict[str, Any]:
    """A Prediction as one JSON object.

    >>> prediction_json(Prediction("echo", "1", "r1", {}, {"a": 1}))["structured"]
    {'a': 1}
    """
    return {
        "model": prediction.model,
        "version": prediction.version,
        "request_id": prediction.request_id,
        "structured": prediction.structured,
        "outputs": {name: output_json(value) for name, value in prediction.outputs.items()},
    }


def item_json(item: StreamItem) -> dict[str, Any]:
    """A StreamItem as one JSON object (``error`` is null unless the item failed).

    >>> item_json(StreamItem(0, "llm", "1", "r1", {}, {"token": "Hi"}))["index"]
    0
    """
    return {
        "index": item.index,
        "model": item.model,
        "version": item.version,
        "request_id": item.request_id,
        "structured": item.structured,
        "outputs": {name: output_json(value) for name, value in item.outputs.items()},
        "error": _error_json(item.error),
    }


def model_json(info: ModelInfo) -> dict[str, Any]:
    """A ModelInfo as a JSON object (state_time as ISO 8601).

    >>> model_json(ModelInfo("echo", "1", "READY"))["state"]
    'READY'
    """
    data = dataclasses.asdict(info)
    data["state_time"] = info.state_time.isoformat() if info.state_time else None
    return data


def dumps(data: Any, *, pretty: bool = False) -> str:
    """JSON text: one line, or indented when ``pretty``.

    >>> dumps({"a": [1, 2]})
    '{"a":[1,2]}'
    """
    if pretty:
        return json.dumps(data, indent=2, ensure_ascii=False)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, headers first.

    >>> print(render_table(["A", "B"], [["x", "yy"]]))
    A  B
    x  yy
    """
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(headers), *rows]
    ]
    return "\n".join(lines)


def _shorten(text: str) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "..."


def _output_row(name: str, value: Any) -> list[str]:
    import numpy as np

    kind = output_kind(value)
    if kind == "tensor":
        shape = "x".join(str(dim) for dim in value.shape) or "scalar"
        preview = np.array2string(value, threshold=6, edgeitems=2).replace("\n", "")
        return [name, kind, _dtype_label(value), shape, _shorten(preview)]
    if kind == "bytes":
        return [name, kind, _NONE, f"{len(value)} bytes", _shorten(repr(value[:16]))]
    if kind == "text":
        return [name, kind, _NONE, f"{len(value)} chars", _shorten(value)]
    return [name, kind, _NONE, type(value).__name__, _shorten(dumps(value))]


def render_outputs(outputs: Mapping[str, Any]) -> str:
    """A table of named outputs: name, kind, dtype, shape or size, and a short preview.

    >>> print(render_outputs({"t": "hi"}))
    OUTPUT  KIND  DTYPE  SHAPE/SIZE  VALUE
    t       text  -      2 chars     hi
    """
    rows = [_output_row(name, value) for name, value in sorted(outputs.items())]
    return render_table(["OUTPUT", "KIND", "DTYPE", "SHAPE/SIZE", "VALUE"], rows)


def render_prediction(prediction: Prediction) -> str:
    """The structured output pretty-printed, then the table of named outputs (if any).

    >>> print(render_prediction(Prediction("echo", "1", "r1", {}, {"a": 1})))
    {
      "a": 1
    }
    """
    parts = []
    if prediction.structured is not None or not prediction.outputs:
        parts.append(dumps(prediction.structured, pretty=True))
    if prediction.outputs:
        parts.append(render_outputs(prediction.outputs))
    return "\n".join(parts)


def inline_text(item: StreamItem) -> str | None:
    """The text to print inline for a token-like item: a bare string, an object's ``token``
    string (other fields such as ``index`` aside), or an object's only field when it is a
    string (``{"delta": "Hel"}``); None for anything else.

    >>> inline_text(StreamItem(0, "llm", "1", "r", {}, {"token": "Hel"}))
    'Hel'
    """
    if item.error is not None or item.outputs:
        return None
    structured = item.structured
    if isinstance(structured, str):
        return structured
    if isinstance(structured, dict) and isinstance(structured.get("token"), str):
        return str(structured["token"])
    if isinstance(structured, dict) and len(structured) == 1:
        (value,) = structured.values()
        if isinstance(value, str):
            return value
    return None


def item_line(item: StreamItem) -> str:
    """One line for a stream item: its structured output as compact JSON and its named outputs.

    >>> item_line(StreamItem(2, "asr", "1", "r", {}, {"text": "hello"}))
    '{"text":"hello"}'
    """
    parts = []
    if item.structured is not None or not item.outputs:
        parts.append(dumps(item.structured))
    for name, value in sorted(item.outputs.items()):
        row = _output_row(name, value)
        parts.append(f"{name}=<{row[1]} {row[2]} {row[3]}>".replace(f" {_NONE} ", " "))
    return "  ".join(parts)


def item_error_line(item: StreamItem) -> str:
    """The stderr line for a failed item.

    >>> error = ItemError(grpc.StatusCode.INVALID_ARGUMENT, "bad chunk", "INVALID_INPUT")
    >>> item_error_line(StreamItem(3, "asr", "1", "r", error=error))
    'item 3: INVALID_ARGUMENT: bad chunk [INVALID_INPUT]'
    """
    return f"item {item.index}: {item.error}"


def render_models(models: Sequence[ModelInfo]) -> str:
    """The ``models`` table: NAME VERSION STATE CAPABILITIES REASON.

    >>> print(render_models([ModelInfo("echo", "1", "READY", capabilities=("predict",))]))
    NAME  VERSION  STATE  CAPABILITIES  REASON
    echo  1        READY  predict
    """
    rows = [
        [m.name, m.version, m.state, ",".join(m.capabilities) or _NONE, m.reason or ""]
        for m in models
    ]
    return render_table(["NAME", "VERSION", "STATE", "CAPABILITIES", "REASON"], rows)


def _inputs_table(info: ModelInfo) -> str:
    rows = [
        [
            spec.name,
            spec.kind or _NONE,
            spec.dtype or _NONE,
            "any" if spec.shape is None else f"[{', '.join(str(d) for d in spec.shape)}]",
            "yes" if spec.optional else "no",
        ]
        for spec in info.inputs
    ]
    return render_table(["NAME", "KIND", "DTYPE", "SHAPE", "OPTIONAL"], rows)


def render_model(info: ModelInfo) -> str:
    """Every detail of one model version, then its inputs and output schema.

    >>> print(render_model(ModelInfo("echo", "1", "READY")).splitlines()[0])
    name            echo
    """
    fields = [
        ("name", info.name),
        ("version", info.version),
        ("state", info.state),
        ("reason", info.reason),
        ("model type", info.model_type),
        ("framework", info.framework),
        ("format", info.format),
        ("description", info.description),
        ("labels", ", ".join(info.labels)),
        ("capabilities", ", ".join(info.capabilities)),
        ("max batch size", str(info.max_batch_size) if info.max_batch_size else ""),
        ("source", info.source),
        ("state time", info.state_time.isoformat() if info.state_time else ""),
        ("warnings", "; ".join(info.warnings)),
    ]
    width = max(len(label) for label, _ in fields)
    lines = [f"{label.ljust(width)}  {value or _NONE}" for label, value in fields]
    lines.append("inputs:")
    if info.inputs:
        lines.extend("  " + line for line in _inputs_table(info).splitlines())
    else:
        lines.append("  any")
    lines.append("output schema:")
    if info.output_schema is None:
        lines.append("  none")
    else:
        lines.extend("  " + line for line in dumps(info.output_schema, pretty=True).splitlines())
    return "\n".join(lines)
