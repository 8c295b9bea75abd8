"""Recognises the platform's types (from the real SDK or modelrt's stand-in) and type hints."""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any, get_args, get_origin

#: Modules the platform's classes come from: the real SDK, or the stand-in (loader.clarifai.sdk).
_PLATFORM_PREFIXES = ("clarifai.", "loader.clarifai.sdk.")
#: The SDK classes modelrt converts to and from, by name.
PLATFORM_TYPES = frozenset(
    {"Text", "Image", "Audio", "Video", "Concept", "Region", "Frame", "JSON", "NamedFields"}
)
MEDIA_TYPES = frozenset({"Image", "Audio", "Video"})
_KNOWN = PLATFORM_TYPES | {"Param", "ModelClass", "ModelRunner", "MessageData", "Stream"}
_ITERATORS = (
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.Generator,
)
_SCALARS = (str, int, float, bool, bytes, dict, list, tuple, type(None))


def _is_platform_module(module: str) -> bool:
    return module == "clarifai" or module.startswith(_PLATFORM_PREFIXES)


def is_platform_class(klass: type) -> bool:
    """Whether ``klass`` itself is defined by the platform's SDK (real or stand-in)."""
    return _is_platform_module(klass.__module__)


def platform_name(value: Any) -> str | None:
    """The SDK class name ("Image", "Param", "ModelClass", ...) of a value or class, else None.

    >>> from loader.clarifai.sdk.runners.utils.data_types import Image
    >>> platform_name(Image), platform_name(Image(bytes=b"x")), platform_name(3)
    ('Image', 'Image', None)
    """
    klass = value if isinstance(value, type) else type(value)
    for base in klass.__mro__:
        if base.__name__ in _KNOWN and _is_platform_module(base.__module__):
            return base.__name__
    return None


def is_pil_image(value: Any) -> bool:
    """Whether ``value`` is a PIL image or the PIL image class."""
    klass = value if isinstance(value, type) else type(value)
    return any(
        base.__module__.startswith("PIL.") and base.__name__ == "Image" for base in klass.__mro__
    )


def _is_stream(klass: Any) -> bool:
    """The SDK's ``Stream`` class (real or stand-in), which marks streamed values."""
    return isinstance(klass, type) and platform_name(klass) == "Stream"


def iterator_item(annotation: Any) -> Any | None:
    """``X`` for ``Iterator[X]`` (or Iterable/Generator, or the SDK's ``Stream[X]``), else None.

    >>> from loader.clarifai.sdk.runners.utils.data_types import Stream, Text
    >>> iterator_item(Stream[Text]) is Text, iterator_item(Stream), iterator_item(Text)
    (True, typing.Any, None)
    """
    origin = get_origin(annotation)
    if origin in _ITERATORS or _is_stream(origin):
        args = get_args(annotation)
        return args[0] if args else Any
    if annotation in _ITERATORS or annotation in (typing.Iterator, typing.Iterable):
        return Any
    return Any if _is_stream(annotation) else None


def optional_inner(annotation: Any) -> tuple[Any, ...] | None:
    """The members of a Union/Optional other than None, or None when not a union."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(arg for arg in get_args(annotation) if arg is not type(None))
    return None


def unsupported(annotation: Any) -> Any | None:
    """The part of a type hint modelrt cannot convert (None when all of it can).

    >>> unsupported(list[int]), unsupported(dict[str, float]), unsupported(complex)
    (None, None, <class 'complex'>)
    """
    import numpy as np

    if annotation is Any or annotation in _SCALARS or annotation is np.ndarray:
        return None
    if platform_name(annotation) == "NamedFields":
        fields = getattr(annotation, "__annotations__", {}).values()
        return next((bad for f in fields if (bad := unsupported(f)) is not None), None)
    if platform_name(annotation) in PLATFORM_TYPES or is_pil_image(annotation):
        return None
    members = optional_inner(annotation)
    if members is not None:
        return next((bad for m in members if (bad := unsupported(m)) is not None), None)
    origin = get_origin(annotation)
    if origin is np.ndarray:
        return None
    if origin in (list, tuple, dict, collections.abc.Sequence, collections.abc.Mapping):
        args = [arg for arg in get_args(annotation) if arg is not Ellipsis]
        return next((bad for a in args if (bad := unsupported(a)) is not None), None)
    return annotation


def type_name(annotation: Any) -> str:
    """A short readable name for a type hint."""
    if isinstance(annotation, type) and not get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
