"""A Gesund-style model's answer: postprocess's dict cut to the registered Response's fields,
plus ``loss`` when the request carried ground truth.

The served schema is the Response with an optional ``loss`` field, left out of an answer that has
none; pydantic v2 models, v1-style ones (``class Config``, ``.dict()``) and ``pydantic.v1``
models all work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

LOSS = "loss"
_LOSS_DOC = "loss(y_pred, ground_truth) of the model, present when the request sent ground_truth"
#: Passed as ``loss`` when the request carried no ground truth.
NO_LOSS = object()


def _is_v2(schema: type) -> bool:
    return hasattr(schema, "model_fields")


def field_names(schema: type) -> frozenset[str]:
    """The keys a Response accepts: its field names and their aliases."""
    names: set[str] = set()
    if _is_v2(schema):
        for name, info in schema.model_fields.items():  # type: ignore[attr-defined]
            names.update(n for n in (name, info.alias) if isinstance(n, str))
    else:
        for name, info in schema.__fields__.items():  # type: ignore[attr-defined]
            names.update((name, info.alias))
    return frozenset(names)


def _without_absent_loss(data: Any) -> Any:
    if isinstance(data, dict) and data.get(LOSS) is None:
        data.pop(LOSS, None)
    return data


def _with_loss_v2(schema: type) -> type:
    from pydantic import Field, model_serializer

    def omit_absent_loss(self: Any, handler: Any) -> Any:
        return _without_absent_loss(handler(self))

    namespace = {
        "__module__": schema.__module__,
        "__qualname__": schema.__qualname__,
        "__annotations__": {LOSS: Any},
        LOSS: Field(default=None, description=_LOSS_DOC),
        "_omit_absent_loss": model_serializer(mode="wrap")(omit_absent_loss),
    }
    return type(schema.__name__, (schema,), namespace)


def _with_loss_v1(schema: type) -> type:
    from pydantic.v1 import Field

    parent_json = schema.json  # type: ignore[attr-defined]

    def as_json(self: Any, **options: Any) -> str:
        return json.dumps(_without_absent_loss(json.loads(parent_json(self, **options))))

    namespace = {
        "__module__": schema.__module__,
        "__qualname__": schema.__qualname__,
        "__annotations__": {LOSS: Any},
        LOSS: Field(default=None, description=_LOSS_DOC),
        "json": as_json,
    }
    return type(schema.__name__, (schema,), namespace)


def with_loss(schema: type | None) -> type | None:
    """The Response served for the bundle: ``schema`` plus an optional ``loss`` field.

    >>> import pydantic
    >>> class Response(pydantic.BaseModel):
    ...     label: str
    >>> served = with_loss(Response)
    >>> served(label="cat").model_dump(), served(label="cat", loss=0.5).model_dump()
    ({'label': 'cat'}, {'label': 'cat', 'loss': 0.5})
    """
    if schema is None or LOSS in field_names(schema):
        return schema
    return _with_loss_v2(schema) if _is_v2(schema) else _with_loss_v1(schema)


def _plain(value: Any) -> Any:
    """Arrays and tensors (torch, tf) as lists or numbers, so the answer is JSON."""
    for convert in ("detach", "cpu", "numpy"):
        if hasattr(value, convert) and not isinstance(value, Mapping):
            value = getattr(value, convert)()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def answer(out: Any, fields: frozenset[str] | None, loss: Any = NO_LOSS) -> Any:
    """What the runtime validates and returns for one request: ``out`` (a dict, or a pydantic
    object) with keys the Response does not know (``status``) dropped and ``loss`` added."""
    if hasattr(out, "model_dump"):
        out = out.model_dump()
    elif hasattr(out, "dict") and hasattr(out, "__fields__"):
        out = out.dict()
    if not isinstance(out, Mapping):
        if loss is NO_LOSS:
            return out
        raise TypeError(f"postprocess returned {type(out).__name__}, not a dict")
    data = {k: v for k, v in out.items() if fields is None or k in fields}
    if loss is not NO_LOSS:
        data[LOSS] = _plain(loss)
    return data
