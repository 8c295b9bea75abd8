"""Turns what a model returned into named outputs and structured JSON checked against its schema."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import ModelExecutionError, OutputSchemaError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOutput:
    """One answer: named tensors/blobs, plus the structured JSON part (None when there is none)."""

    outputs: dict[str, Any] = field(default_factory=dict)
    structured: Any = None


@dataclass(frozen=True)
class ItemFailure:
    """One failed item of a stream; the stream goes on."""

    error: ModelExecutionError | Exception


def _is_pydantic_instance(value: Any) -> bool:
    return hasattr(value, "model_dump") or (hasattr(value, "dict") and hasattr(value, "__fields__"))


def _dump(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return json.loads(value.json())  # pydantic v1-style model


def _validate(schema: type, data: Any, model: str) -> Any:
    try:
        if hasattr(schema, "model_validate"):
            return _dump(schema.model_validate(data))
        return _dump(schema.parse_obj(data))  # type: ignore[attr-defined]
    except Exception as exc:  # pydantic v1 and v2 raise different ValidationError types
        summary = str(exc).splitlines()
        error = OutputSchemaError(
            f"model {model!r} returned output that does not match its schema "
            f"{schema.__name__}: {summary[1] if len(summary) > 1 else summary[0]}",
            model=model,
        )
        logger.error("output schema mismatch [%s]: %s", error.error_id, exc)
        raise error from None


def _jsonable(value: Any, model: str) -> Any:
    try:
        text = json.dumps(value, default=_convert, allow_nan=False)
    except (TypeError, ValueError) as exc:
        error = ModelExecutionError(
            f"model {model!r} returned a value that is not JSON-compatible: {exc}", model=model
        )
        logger.error("bad output [%s]: %r", error.error_id, value)
        raise error from None
    return json.loads(text)


def _convert(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        item = value.item()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{item} is not a JSON number")
        return item
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def shape_output(result: Any, schema: type | None, model: str) -> ModelOutput:
    """Split a model result into named outputs (arrays, bytes) and structured JSON (the rest).

    A pydantic object or a dict is validated against ``schema`` when the model has one (extra
    keys are ignored); a bare array or blob becomes the output named "output".

    >>> shape_output({"label": "cat", "mask": np.zeros(2)}, None, "m").structured
    {'label': 'cat'}
    """
    if type(result) is dict:  # the common case, checked first: it runs for every answer
        return _shape_mapping(result, schema, model)
    if result is None:
        return ModelOutput()
    import numpy as np

    if isinstance(result, np.ndarray | bytes | bytearray):
        return ModelOutput(outputs={"output": result})
    if _is_pydantic_instance(result):
        structured = _validate(schema, _dump(result), model) if schema else _dump(result)
        return ModelOutput(structured=_jsonable(structured, model))
    if isinstance(result, Mapping):
        return _shape_mapping(result, schema, model)
    structured = _jsonable(result, model)
    if schema is not None:
        structured = _jsonable(_validate(schema, structured, model), model)
    return ModelOutput(structured=structured)


def _shape_mapping(result: Mapping[Any, Any], schema: type | None, model: str) -> ModelOutput:
    """Arrays and blobs become named outputs; the other keys the structured JSON."""
    import numpy as np

    named = {k: v for k, v in result.items() if isinstance(v, np.ndarray | bytes | bytearray)}
    if len(named) == len(result) and schema is None:
        return ModelOutput(outputs=named)
    rest = {str(k): v for k, v in result.items() if k not in named}
    structured = _jsonable(rest, model) if rest else None
    if schema is not None:
        structured = _jsonable(_validate(schema, structured or {}, model), model)
    return ModelOutput(outputs=named, structured=structured)
