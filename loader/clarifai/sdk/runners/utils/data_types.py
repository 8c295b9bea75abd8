"""Stand-in for ``clarifai.runners.utils.data_types``: the typed values model methods take.

Same constructors and attributes as the SDK's classes (``Image(bytes=...)``, ``image.bytes``,
``Concept(name, value, id)``, ``Region(box=..., concepts=...)``), held as plain Python values.
"""

from __future__ import annotations

import base64
import builtins
import io
import json
import re
import uuid
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import Any, get_args, get_origin

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
    "Text",
    "Video",
    "cast",
]


class MessageData:
    """Base of the platform's data types."""

    @classmethod
    def from_value(cls, value: Any) -> Any:
        return value if isinstance(value, cls) else cls(value)  # type: ignore[call-arg]

    def cast(self, python_type: Any) -> Any:
        if python_type is type(self):
            return self
        raise TypeError(f"Incompatible type for {type(self).__name__}: {python_type}")


class Text(MessageData):
    """Text, or a URL to it."""

    def __init__(self, text: str = "", url: str | None = None) -> None:
        self.text = text
        self.url = url

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Text):
            return (self.text, self.url) == (other.text, other.url)
        return isinstance(other, str) and self.text == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Text(text={self.text!r}, url={self.url!r})"

    def cast(self, python_type: Any) -> Any:
        return self.text if python_type is str else super().cast(python_type)


class Concept(MessageData):
    """A label with a score."""

    def __init__(self, name: str, value: float = 1.0, id: str | None = None) -> None:
        self.name = name
        self.value = value
        self.id = id or re.sub(r"[^a-zA-Z0-9\s]", "", name).replace(" ", "-")

    def __repr__(self) -> str:
        return f"Concept(id={self.id!r}, name={self.name!r}, value={self.value})"


class _Media(MessageData):
    """An image, audio clip or video: bytes, or a URL."""

    def __init__(
        self, proto: Any = None, url: str | None = None, bytes: builtins.bytes | None = None
    ) -> None:
        self.url: str = url or getattr(proto, "url", "") or ""
        self.bytes: builtins.bytes = bytes or getattr(proto, "base64", b"") or b""

    @classmethod
    def from_url(cls, url: str) -> Any:
        return cls(url=url)

    def to_base64_str(self) -> str:
        if not self.bytes:
            raise ValueError(f"{type(self).__name__} has no bytes")
        return base64.b64encode(self.bytes).decode("ascii")

    def __repr__(self) -> str:
        parts = [f"url={self.url!r}"] if self.url else []
        parts += [f"bytes=<{len(self.bytes)} bytes>"] if self.bytes else []
        return f"{type(self).__name__}({', '.join(parts)})"


class Image(_Media):
    """An image (encoded bytes such as PNG or JPEG, or a URL)."""

    @classmethod
    def from_pil(cls, pil_image: Any, img_format: str = "PNG") -> Image:
        with io.BytesIO() as output:
            pil_image.save(output, format=img_format)
            return cls(bytes=output.getvalue())

    @classmethod
    def from_numpy(cls, numpy_image: np.ndarray[Any, Any], img_format: str = "PNG") -> Image:
        from PIL import Image as PILImage

        return cls.from_pil(PILImage.fromarray(numpy_image), img_format)

    def to_pil(self) -> Any:
        from PIL import Image as PILImage

        if not self.bytes:
            raise ValueError("Image has no bytes")
        return PILImage.open(io.BytesIO(self.bytes))

    def to_numpy(self) -> np.ndarray[Any, Any]:
        return np.asarray(self.to_pil())

    def cast(self, python_type: Any) -> Any:
        if python_type is np.ndarray or get_origin(python_type) is np.ndarray:
            return self.to_numpy()
        if getattr(python_type, "__module__", "").startswith("PIL."):
            return self.to_pil()
        return super().cast(python_type)


class Audio(_Media):
    """An audio clip (encoded bytes such as WAV, or a URL)."""


class Video(_Media):
    """A video (encoded bytes, or a URL)."""


class Region(MessageData):
    """A region of an image: box ``[xmin, ymin, xmax, ymax]`` (0..1), concepts, mask, text."""

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
        if box is not None and (len(box) != 4 or not all(isinstance(v, int | float) for v in box)):
            raise TypeError(f"Expected a list of 4 float values for 'box', but got: {box}")
        self.box: list[float] = list(box or [])
        self.concepts: list[Concept] = list(concepts or [])
        self.mask = mask
        self.point = point
        self.track_id = track_id or ""
        self.text = text or ""
        self.id = id if id is not None else uuid.uuid4().hex

    def __repr__(self) -> str:
        return f"Region(id={self.id}, box={self.box}, concepts={self.concepts or None})"


class Frame(MessageData):
    """A video frame: an image, its regions, its time (s) and index."""

    def __init__(
        self,
        proto_frame: Any = None,
        image: Image | None = None,
        regions: list[Region] | None = None,
        time: float | None = None,
        index: int | None = None,
    ) -> None:
        self.image = image or Image()
        self.regions: list[Region] = list(regions or [])
        self.time = time or 0.0
        self.index = index or 0


class JSON:
    """A JSON value."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return bool(self.value == other)

    __hash__ = None  # type: ignore[assignment]

    def to_json(self) -> str:
        return json.dumps(self.value)

    @classmethod
    def from_json(cls, json_str: str) -> JSON:
        return cls(json.loads(json_str))


class NamedFieldsMeta(type):
    """``NamedFields(x=str, y=int)`` in an annotation makes a class with those fields."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs and all(isinstance(v, type) or get_origin(v) for v in kwargs.values()):
            names = ", ".join(f"{k}:{getattr(v, '__name__', v)}" for k, v in kwargs.items())
            return type(f"NamedFields({names})", (cls,), {"__annotations__": kwargs})
        return super().__call__(*args, **kwargs)


class NamedFields(metaclass=NamedFieldsMeta):
    """Named values: ``NamedFields(text="hi", score=0.5)``, read as attributes or items."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def items(self) -> ItemsView[str, Any]:
        return self.__dict__.items()

    def keys(self) -> KeysView[str]:
        return self.__dict__.keys()

    def values(self) -> ValuesView[Any]:
        return self.__dict__.values()

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def __contains__(self, key: object) -> bool:
        return key in self.__dict__

    def __getitem__(self, key: str) -> Any:
        return self.__dict__[key]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({fields})"


def cast(value: Any, python_type: Any) -> Any:
    """Cast a value to an annotated type (Text -> str, Image -> ndarray, lists item by item)."""
    if isinstance(value, MessageData):
        return value.cast(python_type)
    if get_origin(python_type) is list:
        items = value.tolist() if isinstance(value, np.ndarray) else value
        inner = get_args(python_type)
        return [cast(item, inner[0]) for item in items] if inner else list(items)
    return value
