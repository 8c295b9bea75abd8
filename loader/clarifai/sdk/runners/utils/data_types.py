"""Stand-in for ``clarifai.runners.utils.data_types``: the typed values model methods take.

Bundles depend on the SDK's names, constructors and attributes (``Image(bytes=...)``,
``image.bytes``, ``Concept(name, value, id)``, ``Region(box=..., concepts=...)``,
``NamedFields(x=str)`` as a type, ``Stream[Text]`` as a streamed type); everything else here is
modelrt's own. Values are plain Python objects: nothing is held in protobuf messages.
"""

from __future__ import annotations

import base64
import builtins
import io
import json
import uuid
from abc import ABCMeta
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar, get_args, get_origin

import numpy as np

__all__ = [
    "JSON",
    "Audio",
    "Concept",
    "Frame",
    "Image",
    "MessageData",
    "NamedFields",
    "NamedFieldsMeta",
    "Region",
    "Stream",
    "Text",
    "Video",
    "cast",
]

T = TypeVar("T")


def _label(python_type: Any) -> str:
    return getattr(python_type, "__name__", None) or str(python_type)


class MessageData:
    """Common ground of the typed values: building one from a plain value, and ``cast``.

    A subclass lists the Python types it can turn into in ``_targets``.
    """

    def _targets(self) -> list[tuple[Callable[[Any], bool], Callable[[], Any]]]:
        """(accepts this python type?, produce the value) pairs, tried in order."""
        return []

    @classmethod
    def from_value(cls, value: Any) -> Any:
        """``value`` when it already is one, else one built from it."""
        return value if isinstance(value, cls) else cls(value)  # type: ignore[call-arg]

    def cast(self, python_type: Any) -> Any:
        """This value as ``python_type`` (itself, or what ``_targets`` offers)."""
        if isinstance(python_type, type) and isinstance(self, python_type):
            return self
        for accepts, produce in self._targets():
            if accepts(python_type):
                return produce()
        raise TypeError(f"a {type(self).__name__} does not convert to {_label(python_type)}")


class Text(MessageData):
    """Some text, or where to fetch it (``url``). Equal to a ``str`` with the same text."""

    def __init__(self, text: str = "", url: str | None = None) -> None:
        self.text = text
        self.url = url

    def _targets(self) -> list[tuple[Callable[[Any], bool], Callable[[], Any]]]:
        return [(lambda kind: kind is str, lambda: self.text)]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other == self.text
        return isinstance(other, Text) and (other.text, other.url) == (self.text, self.url)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return bool(self.text or self.url)

    def __repr__(self) -> str:
        where = f", url={self.url!r}" if self.url else ""
        return f"Text({self.text!r}{where})"


class Concept(MessageData):
    """A label and its score; the id defaults to one derived from the name."""

    def __init__(self, name: str, value: float = 1.0, id: str | None = None) -> None:
        self.name = name
        self.value = value
        self.id = id or Concept._concept_name_to_id(name)

    @staticmethod
    def _concept_name_to_id(name: str) -> str:
        """The platform's id for a concept name: ASCII letters, digits and whitespace kept,
        each space turned into a dash ("Big cat!" -> "Big-cat")."""
        kept = (ch for ch in name if ch.isspace() or (ch.isascii() and ch.isalnum()))
        return "".join(kept).replace(" ", "-")

    def __repr__(self) -> str:
        extra = "" if self.id == Concept._concept_name_to_id(self.name) else f", id={self.id!r}"
        return f"Concept({self.name!r}, {self.value:g}{extra})"


class _Media(MessageData):
    """A file-like value: its encoded ``bytes``, or a ``url``. The first argument takes the
    platform's message (anything with ``url``/``base64``), as the SDK's constructors do."""

    def __init__(
        self,
        proto: Any = None,
        url: str | None = None,
        bytes: builtins.bytes | None = None,
        **message: Any,
    ) -> None:
        source = proto if proto is not None else next(iter(message.values()), None)
        self.url: str = url or getattr(source, "url", "") or ""
        self.bytes: builtins.bytes = bytes or getattr(source, "base64", b"") or b""

    @classmethod
    def from_url(cls, url: str) -> Any:
        return cls(url=url)

    def to_base64_str(self) -> str:
        """The bytes as base64 text; a URL-only value has none to give."""
        if not self.bytes:
            raise ValueError(f"this {type(self).__name__} holds a URL only, no bytes")
        return base64.b64encode(self.bytes).decode("ascii")

    def __repr__(self) -> str:
        held = f"{len(self.bytes)} bytes" if self.bytes else ""
        if self.url:
            held = f"{held} from {self.url}" if held else self.url
        return f"<{type(self).__name__} {held or 'empty'}>"


class Image(_Media):
    """An image: encoded bytes (PNG, JPEG, ...) or a URL."""

    @classmethod
    def from_pil(cls, pil_image: Any, img_format: str = "PNG") -> Image:
        buffer = io.BytesIO()
        pil_image.save(buffer, format=img_format)
        return cls(bytes=buffer.getvalue())

    @classmethod
    def from_numpy(cls, numpy_image: np.ndarray[Any, Any], img_format: str = "PNG") -> Image:
        from PIL import Image as PILImage

        return cls.from_pil(PILImage.fromarray(numpy_image), img_format)

    def to_pil(self) -> Any:
        from PIL import Image as PILImage

        if not self.bytes:
            raise ValueError("this Image holds a URL only; modelrt does not fetch URLs")
        return PILImage.open(io.BytesIO(self.bytes))

    def to_numpy(self) -> np.ndarray[Any, Any]:
        return np.asarray(self.to_pil())

    def _targets(self) -> list[tuple[Callable[[Any], bool], Callable[[], Any]]]:
        def is_array(kind: Any) -> bool:
            return kind is np.ndarray or get_origin(kind) is np.ndarray

        def is_pil(kind: Any) -> bool:
            return str(getattr(kind, "__module__", "")).startswith("PIL")

        return [(is_array, self.to_numpy), (is_pil, self.to_pil)]


class Audio(_Media):
    """An audio clip: encoded bytes (WAV, MP3, ...) or a URL."""


class Video(_Media):
    """A video: encoded bytes or a URL."""


def _box(value: Any) -> list[float]:
    """A region's box as four numbers, or TypeError saying what a box is."""
    numbers = list(value) if isinstance(value, list | tuple) else None
    if numbers is None or len(numbers) != 4 or not all(_is_number(n) for n in numbers):
        raise TypeError(
            f"Region box: give [xmin, ymin, xmax, ymax] as four numbers in 0..1, not {value!r}"
        )
    return numbers


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Region(MessageData):
    """Part of an image: a box ``[xmin, ymin, xmax, ymax]`` in 0..1, concepts, a mask, a point,
    a track id and text; a random id unless one is given."""

    def __init__(
        self,
        proto_region: Any = None,
        box: list[float] | None = None,
        concepts: list[Concept] | None = None,
        mask: Image | None = None,
        point: tuple[float, float, float] | None = None,
        track_id: str | None = None,
        text: str | None = None,
        id: str | None = None,
    ) -> None:
        self.box: list[float] = _box(box) if box is not None else []
        self.concepts: list[Concept] = list(concepts or [])
        self.mask = mask
        self.point = point
        self.track_id = track_id or ""
        self.text = text or ""
        self.id = uuid.uuid4().hex if id is None else id

    def __repr__(self) -> str:
        labels = ", ".join(concept.name for concept in self.concepts) or "no concepts"
        return f"<Region {self.id} box={self.box or 'none'} {labels}>"


class Frame(MessageData):
    """One frame of a video: its image, the regions found in it, its time (s) and index."""

    def __init__(
        self,
        proto_frame: Any = None,
        image: Image | None = None,
        regions: list[Region] | None = None,
        time: float | None = None,
        index: int | None = None,
    ) -> None:
        self.image = image if image is not None else Image()
        self.regions: list[Region] = list(regions or [])
        self.time = float(time or 0.0)
        self.index = int(index or 0)


class JSON:
    """Any JSON value, passed through as it is (``.value``)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return bool((other.value if isinstance(other, JSON) else other) == self.value)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return bool(self.value)

    def __repr__(self) -> str:
        return f"JSON<{json.dumps(self.value, default=str)[:60]}>"

    def to_json(self) -> str:
        return json.dumps(self.value)

    @classmethod
    def from_json(cls, json_str: str) -> JSON:
        return cls(json.loads(json_str))

    @classmethod
    def from_value(cls, value: Any) -> JSON:
        return value if isinstance(value, JSON) else cls(value)

    def cast(self, python_type: Any) -> Any:
        """The value itself, when it is a ``python_type``."""
        if python_type is JSON:
            return self
        if isinstance(python_type, type) and not isinstance(self.value, python_type):
            held = type(self.value).__name__
            raise TypeError(f"JSON holding a {held} is not {_label(python_type)}")
        return self.value


def _is_type_like(value: Any) -> bool:
    return isinstance(value, type) or get_origin(value) is not None


class NamedFieldsMeta(ABCMeta):
    """Lets ``NamedFields(name=type, ...)`` with only types describe a record type, while
    ``NamedFields(name=value, ...)`` makes a record."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if not args and kwargs and all(_is_type_like(kind) for kind in kwargs.values()):
            fields = ", ".join(f"{name}: {_label(kind)}" for name, kind in kwargs.items())
            namespace = {"__annotations__": kwargs, "__module__": cls.__module__}
            return NamedFieldsMeta(f"NamedFields[{fields}]", (cls,), namespace)
        return super().__call__(*args, **kwargs)


class NamedFields(Mapping[str, Any], metaclass=NamedFieldsMeta):
    """A record of named values, read as attributes (``out.text``) or as a mapping."""

    def __init__(self, **fields: Any) -> None:
        vars(self).update(fields)

    def __getitem__(self, key: str) -> Any:
        return vars(self)[key]

    def __setitem__(self, key: str, value: Any) -> None:
        vars(self)[key] = value

    def __iter__(self) -> Iterator[str]:
        return iter(vars(self))

    def __len__(self) -> int:
        return len(vars(self))

    def __repr__(self) -> str:
        return "NamedFields{" + ", ".join(f"{k}: {v!r}" for k, v in self.items()) + "}"


class Stream(Iterator[T], Generic[T]):
    """A stream of values: ``Stream[Text]`` as a hint marks a streamed argument or a streamed
    return (as ``Iterator[Text]`` does); ``Stream(values)`` iterates over ``values``."""

    def __init__(self, values: Iterable[T] = ()) -> None:
        self._values = iter(values)

    def __next__(self) -> T:
        return next(self._values)


def cast(value: Any, python_type: Any) -> Any:
    """``value`` as the annotated ``python_type``: typed values through their ``cast``, lists
    item by item, anything else unchanged."""
    if isinstance(value, MessageData | JSON):
        return value.cast(python_type)
    if get_origin(python_type) is list:
        (item_type, *_) = get_args(python_type) or (Any,)
        items = value.tolist() if isinstance(value, np.ndarray) else list(value)
        return items if item_type is Any else [cast(item, item_type) for item in items]
    return value
