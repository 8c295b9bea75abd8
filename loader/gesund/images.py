"""The value a Gesund-style preprocess receives: the request's one input, images decoded.

An image sent as PNG or JPEG bytes becomes an HxWx3 uint8 RGB array (what such preprocessors
hand to ``Image.fromarray`` or resize); a tensor arrives as a writable numpy array; other bytes,
text and JSON pass unchanged.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from registry.errors import InvalidInputError
from registry.runner import Request

#: Input names picked, in order, when a request carries several inputs.
PREFERRED_INPUTS = ("image", "input")
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
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInputError(
            f"input {name!r} is not a readable PNG/JPEG image: {exc}", metadata={"input": name}
        ) from None


def model_input(request: Request) -> Any:
    """The request's one input as the bundle's preprocess expects it.

    With several inputs, the one named "image" (else "input") is taken; otherwise the request is
    ambiguous and refused as INVALID_ARGUMENT.

    >>> model_input(Request(inputs={"text": "hi"}))
    'hi'
    """
    inputs = request.inputs
    if len(inputs) == 1:
        name, value = next(iter(inputs.items()))
    else:
        name = next((n for n in PREFERRED_INPUTS if n in inputs), "")
        if not name:
            sent = ", ".join(sorted(inputs)) or "none"
            raise InvalidInputError(
                "a Gesund-style model takes one input (e.g. 'image'); with several, name one"
                f" 'image' or 'input' (inputs sent: {sent})",
                metadata={"input": ",".join(sorted(inputs))},
            )
        value = inputs[name]
    if isinstance(value, bytes) and is_image(value):
        return decode_image(name, value)
    if isinstance(value, np.ndarray):
        return np.array(value)  # a writable copy: wire tensors are read-only views
    return value
