"""modelrt request values -> the typed arguments of a model method (str, Image, list[int], ...).

Inputs bind to arguments by name. A request's only input, named after none of the method's
arguments, binds to the method's first argument (for Stream, its streamed one), as Clarifai binds
a value sent without a name. Wire values arrive as numpy arrays, bytes, str or JSON; each is
converted to the argument's type hint or refused with an INVALID_ARGUMENT that names the input.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, get_args, get_origin

from loader.clarifai.signatures import METHOD_PARAMETER, Argument, MethodSpec
from loader.clarifai.types import (
    MEDIA_TYPES,
    is_pil_image,
    optional_inner,
    platform_name,
    type_name,
)
from registry.errors import InvalidInputError
from registry.runner import Request


class _MismatchError(Exception):
    """A value does not convert to a type (turned into InvalidInputError with the input name)."""


def _kind(value: Any) -> str:
    import numpy as np

    if isinstance(value, np.ndarray):
        return f"a {value.dtype} tensor"
    if isinstance(value, bytes | str):
        return "bytes" if isinstance(value, bytes) else "text"
    return f"JSON {type(value).__name__}"


def _scalar(value: Any) -> Any:
    """A one-element tensor as its Python value (numbers often arrive as tensors)."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(()).item()
    return value


def _pil(value: Any) -> Any:
    import numpy as np
    from PIL import Image as PILImage

    if isinstance(value, np.ndarray):
        return PILImage.fromarray(value)
    try:
        return PILImage.open(io.BytesIO(value))
    except Exception as exc:
        raise _MismatchError(f"bytes are not an image PIL can open: {exc}") from None


def _platform(value: Any, annotation: Any, name: str) -> Any:
    import numpy as np

    if name in MEDIA_TYPES:
        if isinstance(value, bytes):
            return annotation(bytes=value)
        if isinstance(value, str):
            return annotation(url=value)
        if name == "Image" and isinstance(value, np.ndarray):
            return annotation.from_numpy(value)
    elif name == "Text":
        if isinstance(value, str):
            return annotation(value)
        if isinstance(value, Mapping):
            return annotation(*_text_fields(value))
    elif name == "Concept" and isinstance(value, Mapping):
        return annotation(name=value["name"], value=value.get("value", 1.0), id=value.get("id"))
    elif name == "Region" and isinstance(value, Mapping):
        concept = _concept_type(annotation)
        concepts = [convert(c, concept) for c in value.get("concepts", [])]
        return annotation(
            box=value.get("box"), concepts=concepts or None, text=value.get("text"),
            id=value.get("id"), track_id=value.get("track_id"),
        )  # fmt: skip
    elif name == "NamedFields" and isinstance(value, Mapping):
        fields = getattr(annotation, "__annotations__", {})
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise _MismatchError(f"unknown field {unknown[0]!r} (fields: {', '.join(fields)})")
        return annotation(**{key: convert(value[key], fields[key]) for key in value})
    elif name == "JSON":
        return annotation(value)
    raise _MismatchError(f"cannot convert {_kind(value)} to {name}")


def _text_fields(value: Mapping[str, Any]) -> tuple[str, str | None]:
    """(text, url) of a JSON object sent for a Text: only those keys, strings, at least one."""
    unknown = sorted(str(key) for key in value if key not in ("text", "url"))
    if unknown:
        keys = ", ".join(repr(key) for key in unknown)
        raise _MismatchError(f"a JSON object sent as Text takes only 'text' and 'url', not {keys}")
    if not value:
        raise _MismatchError("an empty JSON object is not Text; send text, or {'text': ...}")
    text, url = value.get("text", ""), value.get("url")
    if not isinstance(text, str) or not isinstance(url, str | None):
        raise _MismatchError("a JSON object sent as Text needs string 'text' and 'url' values")
    return text, url


def _concept_type(region_type: Any) -> Any:
    """The Concept class that goes with a Region class (same SDK, real or stand-in)."""
    return sys.modules[region_type.__module__].Concept


def _builtin(value: Any, annotation: Any) -> Any:
    import numpy as np

    value = _scalar(value) if annotation in (str, int, float, bool) else value
    if annotation is str and isinstance(value, str):
        return value
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is bytes and isinstance(value, bytes | str):
        return value if isinstance(value, bytes) else value.encode()
    if annotation is dict and isinstance(value, Mapping):
        return dict(value)
    if annotation in (list, tuple) and isinstance(value, list | np.ndarray):
        return annotation(value.tolist() if isinstance(value, np.ndarray) else value)
    raise _MismatchError(f"cannot convert {_kind(value)} to {type_name(annotation)}")


def convert(value: Any, annotation: Any) -> Any:
    """Convert one wire value to ``annotation``; raises _MismatchError saying why not."""
    if annotation is Any:
        return value
    members = optional_inner(annotation)
    if members is not None:
        if value is None:
            return None
        for member in members:
            try:
                return convert(value, member)
            except _MismatchError:
                continue
        raise _MismatchError(f"cannot convert {_kind(value)} to {type_name(annotation)}")
    import numpy as np

    origin, args = get_origin(annotation), get_args(annotation)
    origin = {Sequence: list, Mapping: dict}.get(origin, origin)
    if origin in (list, tuple) and isinstance(value, list | np.ndarray):
        items = value.tolist() if isinstance(value, np.ndarray) else value
        inner = args[0] if args else Any
        return origin(convert(item, inner) for item in items)
    if origin is dict and isinstance(value, Mapping):
        inner = args[1] if len(args) == 2 else Any
        return {key: convert(item, inner) for key, item in value.items()}
    if annotation is np.ndarray or origin is np.ndarray:
        if isinstance(value, np.ndarray):
            return value
        return np.asarray(_pil(value)) if isinstance(value, bytes) else np.asarray(value)
    if is_pil_image(annotation):
        return _pil(value)
    name = platform_name(annotation)
    if name is not None:
        return _platform(value, annotation, name)
    return _builtin(value, annotation)


def _check_bounds(argument: Argument, value: Any) -> None:
    param = argument.param
    if param is None:
        return
    low, high = getattr(param, "min_value", None), getattr(param, "max_value", None)
    choices = getattr(param, "choices", None)
    problem = None
    if low is not None and isinstance(value, int | float) and value < low:
        problem = f"must be at least {low}"
    elif high is not None and isinstance(value, int | float) and value > high:
        problem = f"must be at most {high}"
    elif choices and value not in choices:
        problem = f"must be one of {list(choices)}"
    if problem:
        raise InvalidInputError(
            f"{argument.name!r} {problem}, got {value!r}", metadata={"input": argument.name}
        )


def argument_value(argument: Argument, value: Any, method: str, sent_as: str | None = None) -> Any:
    """Convert the value sent for ``argument`` (as the input ``sent_as``, when its name differs);
    InvalidInputError names the input."""
    sent = sent_as or argument.name
    where = f"input {sent!r}" + (f" (argument {argument.name!r})" if sent != argument.name else "")
    try:
        converted = convert(value, argument.annotation)
    except _MismatchError as exc:
        raise InvalidInputError(
            f"{where} of method {method!r}: {exc}", metadata={"input": sent}
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{where} of method {method!r}: cannot convert to {type_name(argument.annotation)}:"
            f" {exc}",
            metadata={"input": sent},
        ) from None
    _check_bounds(argument, converted)
    return converted


def bound_inputs(spec: MethodSpec, inputs: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """Argument name -> (input name, value) of a request's inputs.

    Inputs bind by name; a request's only input, named after none of the method's arguments,
    binds to the first argument (the streamed one for a Stream method), as Clarifai binds a value
    sent without a name.

    >>> spec = MethodSpec("predict", "predict", (Argument("text", str),), str)
    >>> bound_inputs(spec, {"prompt": "hi"})
    {'text': ('prompt', 'hi')}
    """
    names = {arg.name for arg in spec.arguments}
    if len(inputs) == 1 and spec.arguments and not names & set(inputs):
        ((name, value),) = inputs.items()
        target = spec.streamed or spec.arguments[0]
        return {target.name: (name, value)}
    return {name: (name, value) for name, value in inputs.items()}


def call_arguments(spec: MethodSpec, request: Request) -> dict[str, Any]:
    """Keyword arguments for ``spec`` from a request: inputs (see ``bound_inputs``), then
    parameters, then defaults (a ``Param``'s default). Of several inputs, one naming no argument
    is refused; a parameter naming none is ignored. The streamed argument is left out."""
    parameters = {k: v for k, v in request.parameters.items() if k != METHOD_PARAMETER}
    names = {arg.name for arg in spec.arguments}
    inputs = bound_inputs(spec, request.inputs)
    # Parameters are free-form (a client may send max_tokens to any model); inputs are not.
    unknown = sorted(set(inputs) - names)
    if unknown:
        raise InvalidInputError(
            f"method {spec.name!r} has no argument {unknown[0]!r}; it takes {spec.describe()}",
            metadata={"input": unknown[0]},
        )
    kwargs: dict[str, Any] = {}
    for arg in spec.arguments:
        if arg.streamed:
            continue
        if arg.name in inputs:
            sent_as, value = inputs[arg.name]
            kwargs[arg.name] = argument_value(arg, value, spec.name, sent_as)
        elif arg.name in parameters:
            kwargs[arg.name] = argument_value(arg, parameters[arg.name], spec.name)
        elif not arg.required:
            kwargs[arg.name] = arg.default
        else:
            raise InvalidInputError(
                f"missing input {arg.name!r}: method {spec.name!r} takes {spec.describe()}",
                metadata={"input": arg.name},
            )
    return kwargs


def streamed_items(spec: MethodSpec, first: Request, rest: Iterator[Request]) -> Iterator[Any]:
    """The streamed argument's values: one per request, the first request's included."""
    argument = spec.streamed
    assert argument is not None
    yield _stream_value(spec, argument, first, 0)
    for index, request in enumerate(rest, start=1):
        yield _stream_value(spec, argument, request, index)


def _stream_value(spec: MethodSpec, argument: Argument, request: Request, index: int) -> Any:
    inputs = bound_inputs(spec, request.inputs)
    if argument.name in inputs:
        sent_as, value = inputs[argument.name]
        return argument_value(argument, value, spec.name, sent_as)
    raise InvalidInputError(
        f"stream request {index} has no input {argument.name!r} (method {spec.describe()})",
        metadata={"input": argument.name},
    )
