"""What a model method returns -> modelrt outputs: structured JSON plus named bytes/tensors.

``str`` and numbers become the structured output as they are; Text its text; Concept
``{id, name, value}``; Region ``{id, box: [xmin, ymin, xmax, ymax], concepts, text}``; lists and
dicts item by item. A returned Image/Audio/Video becomes the bytes output "image"/"audio"/
"video"; a returned dict or NamedFields puts its media and arrays in outputs named after the field.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loader.clarifai.types import MEDIA_TYPES, is_pil_image, platform_name

if TYPE_CHECKING:
    import numpy as np


def _png(image: Any) -> bytes:
    with io.BytesIO() as buffer:
        image.save(buffer, format="PNG")
        return buffer.getvalue()


def _media_json(media: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if getattr(media, "url", ""):
        data["url"] = media.url
    if getattr(media, "bytes", b""):
        data["base64"] = base64.b64encode(media.bytes).decode("ascii")
    return data


def _concept_json(concept: Any) -> dict[str, Any]:
    return {"id": concept.id, "name": concept.name, "value": float(concept.value)}


def _region_json(region: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": region.id}
    box = list(region.box or [])
    if box and any(box):
        data["box"] = [float(v) for v in box]
    if region.concepts:
        data["concepts"] = [_concept_json(c) for c in region.concepts]
    if region.text:
        data["text"] = region.text
    if region.track_id:
        data["track_id"] = region.track_id
    mask = getattr(region, "mask", None)
    if mask is not None and (mask_json := _media_json(mask)):
        data["mask"] = mask_json
    return data


def _platform_json(value: Any, name: str) -> Any:
    if name == "Text":
        return value.text if not value.url else {"text": value.text, "url": value.url}
    if name == "Concept":
        return _concept_json(value)
    if name == "Region":
        return _region_json(value)
    if name in MEDIA_TYPES:
        return _media_json(value)
    if name == "Frame":
        return {
            "time": float(value.time),
            "index": int(value.index),
            "image": _media_json(value.image),
            "regions": [_region_json(region) for region in value.regions],
        }
    if name == "JSON":
        return to_json(value.value)
    if name == "NamedFields":
        return {str(key): to_json(item) for key, item in value.items()}
    return value


def to_json(value: Any) -> Any:
    """A returned value as plain JSON (media as ``{url, base64}``); unknown types pass through."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    name = platform_name(value)
    if name is not None:
        return _platform_json(value, name)
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if is_pil_image(value):
        return {"base64": base64.b64encode(_png(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(item) for item in value]
    return value  # the runtime reports it as not JSON-compatible


def _blob(value: Any) -> bytes | np.ndarray[Any, Any] | None:
    """The bytes or array a value is sent as a named output, or None for a JSON value."""
    import numpy as np

    name = platform_name(value)
    if name in MEDIA_TYPES and value.bytes:
        return bytes(value.bytes)
    if is_pil_image(value):
        return _png(value)
    if isinstance(value, np.ndarray | bytes):
        return value
    return None


def to_output(value: Any) -> Any:
    """What the runtime gets for one returned value (see the module docstring).

    >>> to_output(["a", 1])
    ['a', 1]
    """
    import numpy as np

    name = platform_name(value)
    if name in MEDIA_TYPES and value.bytes:
        output: dict[str, Any] = {name.lower(): bytes(value.bytes)}
        if value.url:
            output["url"] = value.url
        return output
    if is_pil_image(value):
        return {"image": _png(value)}
    if isinstance(value, Mapping) or name == "NamedFields":
        fields: dict[str, Any] = {}
        for key, item in value.items():
            blob = _blob(item)
            fields[str(key)] = blob if blob is not None else to_json(item)
        return fields
    if isinstance(value, np.ndarray | bytes):
        return value
    return to_json(value)
