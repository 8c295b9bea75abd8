"""The output schema of a ModelClass, read from its methods' return types (no model code runs).

What a method returns becomes structured JSON (loader/clarifai/results.py); when every method
returns something structured (text, numbers, Concepts, Regions, lists and dicts of them), that
JSON has a known shape, published by GetModel and checked on every answer like a native schema.
A method that returns media (an Image, Audio) gives the model no schema.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, RootModel, create_model

from loader.clarifai.signatures import MethodSpec
from loader.clarifai.types import platform_name

_SCALARS = (str, int, float, bool)


class ConceptOut(BaseModel):
    """A Concept as modelrt answers it."""

    id: str
    name: str
    value: float


class RegionOut(BaseModel):
    """A Region as modelrt answers it: a box [xmin, ymin, xmax, ymax], concepts, text."""

    model_config = ConfigDict(extra="allow")

    id: str = ""
    box: list[float] | None = None
    concepts: list[ConceptOut] | None = None
    text: str | None = None


class TextOut(BaseModel):
    """A Text that carries a URL as well as its text."""

    text: str
    url: str


def _json_type(annotation: Any) -> Any | None:
    """The pydantic type of what ``annotation`` becomes as JSON, or None when it is media."""
    if annotation in _SCALARS:
        return annotation
    name = platform_name(annotation) if isinstance(annotation, type) else None
    if name == "Concept":
        return ConceptOut
    if name == "Region":
        return RegionOut
    if name == "Text":
        return str | TextOut
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple) and args:
        inner = _json_type(args[0])
        return list[inner] if inner is not None else None  # type: ignore[valid-type]
    if origin is dict and len(args) == 2 and args[0] is str:
        inner = _json_type(args[1])
        return dict[str, inner] if inner is not None else None  # type: ignore[valid-type]
    return None


def output_schema(model_class: type, methods: Mapping[str, MethodSpec]) -> type | None:
    """A pydantic model of every method's answer (one of them per call), or None.

    >>> output_schema(Echo, method_specs(Echo)).__name__  # doctest: +SKIP
    'EchoOutput'
    """
    kinds = [_json_type(spec.returns) for spec in methods.values()]
    if not kinds or any(kind is None for kind in kinds):
        return None
    unique = list(dict.fromkeys(kinds))
    root: Any = unique[0] if len(unique) == 1 else typing.Union[tuple(unique)]  # noqa: UP007
    return create_model(f"{model_class.__name__}Output", __base__=RootModel[root])
