"""The value a Gesund-style preprocess receives: the request's one input, images decoded.

An image sent as PNG or JPEG bytes becomes an HxWx3 uint8 RGB array (what such preprocessors
hand to ``Image.fromarray`` or resize); a tensor arrives as a writable numpy array. An image
model (classification, detection, segmentation) takes nothing else: other bytes, text, JSON or
a tensor that is no image are INVALID_ARGUMENT. Other models get those values unchanged.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInputError
from registry.runner import Request

if TYPE_CHECKING:
    import numpy as np

#: Input names picked, in order, when a request carries several inputs.
PREFERRED_INPUTS = ("image", "input")
#: Model types whose input is an image.
IMAGE_MODEL_TYPES = frozenset({"classification", "object_detection", "segmentation"})
_EXPECTED = "a PNG or JPEG image (bytes) or an image tensor (HxW or HxWxC numbers)"
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


def is_image(data: bytes) -> bool:
    """Whether ``data`` starts like a PNG or JPEG file."""
    return data.startswith((_PNG, _JPEG))


def decode_image(name: str, data: bytes) -> np.ndarray[Any, Any]:
    """PNG/JPEG bytes as an HxWx3 uint8 array; InvalidInputError naming the input if corrupt.

    >>> decode_image("image", open("cat.png", "rb").read()).shape  # doctest: +SKIP
    (32, 48, 3)
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInputError(
            f"input {name!r} is not a readable PNG/JPEG image: {exc}", metadata={"input": name}
        ) from None


def model_input(request: Request, *, image_model: bool = False) -> Any:
    """The request's one input as the bundle's preprocess expects it.

    With several inputs, the one named "image" (else "input") is taken; otherwise the request is
    ambiguous and refused as INVALID_ARGUMENT. With ``image_model``, a value that is no image is
    refused as INVALID_ARGUMENT naming the input and what was expected.

    >>> model_input(Request(inputs={"text": "hi"}))
    'hi'
    """
    import numpy as np

    name, value = _one_input(request)
    if isinstance(value, bytes) and is_image(value):
        return decode_image(name, value)
    if isinstance(value, np.ndarray):
        if image_model:
            _check_image_tensor(name, value)
        return np.array(value)  # a writable copy: wire tensors are read-only views
    if image_model:
        raise InvalidInputError(
            f"input {name!r} must be {_EXPECTED}; got {_kind_of(value)}", metadata={"input": name}
        )
    return value


def _one_input(request: Request) -> tuple[str, Any]:
    inputs = request.inputs
    if len(inputs) == 1:
        return next(iter(inputs.items()))
    name = next((n for n in PREFERRED_INPUTS if n in inputs), "")
    if not name:
        sent = ", ".join(sorted(inputs)) or "none"
        raise InvalidInputError(
            "a Gesund-style model takes one input (e.g. 'image'); with several, name one"
            f" 'image' or 'input' (inputs sent: {sent})",
            metadata={"input": ",".join(sorted(inputs))},
        )
    return name, inputs[name]


def _check_image_tensor(name: str, value: np.ndarray[Any, Any]) -> None:
    problem = None
    if value.dtype.kind not in "iuf":
        problem = f"a tensor of {value.dtype}"
    elif value.ndim < 2 or 0 in value.shape:
        problem = f"a tensor of shape {list(value.shape)}"
    if problem is not None:
        raise InvalidInputError(
            f"input {name!r} must be {_EXPECTED}; got {problem}", metadata={"input": name}
        )


def _kind_of(value: Any) -> str:
    """How a value that is no image is named in the refusal."""
    if isinstance(value, bytes):
        return f"{len(value)} bytes that are not a PNG or JPEG file"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, bool):
        return "a JSON boolean"
    return "a JSON number" if isinstance(value, int | float) else "a JSON null"
