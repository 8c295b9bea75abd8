"""Sample inputs for checking a bundle without a server: made here for each model type, from the
bundle's declared inputs when it has some, else from the arguments its methods take (a Clarifai
method's ``Text`` argument gets text whatever the model type). Nothing is downloaded.
"""

from __future__ import annotations

import io
import struct
import wave
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loader.clarifai.scan import Hook, InputHint
from loader.config import BundleConfig, InputSpec

SAMPLE_RATE = 16_000
PROMPT = "the cat"
STREAM_CHUNKS = 10  # a chunked input (audio) reaches stream in this many requests
STREAM_REPEATS = 3  # any other input reaches stream this many times


def sample_image(height: int = 32, width: int = 48) -> np.ndarray:
    """uint8 [H, W, 3]: a grey background with a red, a green and a blue square.

    >>> sample_image().shape
    (32, 48, 3)
    """
    image = np.full((height, width, 3), 128, dtype=np.uint8)
    image[4:14, 4:14] = (220, 30, 30)
    image[18:28, 18:28] = (30, 200, 30)
    image[4:14, 32:44] = (30, 30, 220)
    return image


def sample_audio(seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    """float32 mono samples at 16 kHz: a sine wave of amplitude 0.5."""
    t = np.arange(round(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def sample_tensor() -> np.ndarray:
    """float32 [2, 4]: two rows of numbers."""
    return np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)


def encode_png(image: np.ndarray) -> bytes:
    """An RGB uint8 [H, W, 3] image as PNG bytes (8-bit truecolour, no filtering)."""
    height, width, _ = image.shape
    rows = b"".join(b"\x00" + np.ascontiguousarray(row).tobytes() for row in image)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header), chunk(b"IDAT", zlib.compress(rows)),
         chunk(b"IEND", b""))
    )  # fmt: skip


def encode_wav(audio: np.ndarray) -> bytes:
    """float samples in -1..1 as a 16-bit mono WAV file at 16 kHz."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(SAMPLE_RATE)
        file.writeframes(pcm)
    return buffer.getvalue()


@dataclass(frozen=True)
class TypeSample:
    """What suits one model type: its usual input name, a value, a file of it, parameters."""

    name: str
    value: Callable[[], Any]
    blob: Callable[[], bytes]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    chunked: bool = False  # stream sends the value in pieces (audio) instead of whole


_IMAGE = TypeSample("image", sample_image, lambda: encode_png(sample_image()))

#: One entry per model type of loader.config.ModelType.
TYPE_SAMPLES: Mapping[str, TypeSample] = {
    "classification": _IMAGE,
    "object_detection": _IMAGE,
    "segmentation": _IMAGE,
    "text_generation": TypeSample(
        "prompt", lambda: PROMPT, PROMPT.encode, parameters={"max_tokens": 16}
    ),
    "speech_recognition": TypeSample(
        "audio", sample_audio, lambda: encode_wav(sample_audio()), chunked=True
    ),
    "other": TypeSample("input", sample_tensor, lambda: b"sample"),
}


@dataclass(frozen=True)
class Sample:
    """What a local check sends: ``inputs`` to predict (and to generate, unless
    ``generate_inputs`` differ), ``stream`` to stream."""

    inputs: dict[str, Any]
    stream: list[dict[str, Any]]
    parameters: dict[str, Any]
    generate_inputs: dict[str, Any] | None = None

    @property
    def for_generate(self) -> dict[str, Any]:
        return self.inputs if self.generate_inputs is None else self.generate_inputs

    def describe(self) -> str:
        """A short summary: ``image=uint8[32x48x3]``."""
        return ", ".join(f"{name}={describe_value(v)}" for name, v in self.inputs.items())


def describe_value(value: Any) -> str:
    """``uint8[32x48x3]`` for an array, ``'text'``, ``N bytes``, else the value's JSON-ish repr."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype}[{'x'.join(str(d) for d in value.shape)}]"
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _fits(shape: tuple[int, ...], expected: tuple[int, ...] | None) -> bool:
    if expected is None:
        return True
    return len(shape) == len(expected) and all(
        w in (-1, g) for g, w in zip(shape, expected, strict=True)
    )


def _tensor(spec: InputSpec, natural: Any) -> np.ndarray:
    """A tensor meeting ``spec``: the type's own value when it fits, else generated numbers."""
    dtype = spec.dtype or (str(natural.dtype) if isinstance(natural, np.ndarray) else "float32")
    numbers: Any
    if isinstance(natural, np.ndarray) and _fits(natural.shape, spec.shape):
        numbers = natural
    else:
        dims = spec.shape if spec.shape is not None else (4,)
        numbers = np.random.default_rng(0).random(tuple(4 if d == -1 else d for d in dims))
    if dtype == "string":
        return np.full(numbers.shape, "sample")
    if dtype == "bytes":
        return np.full(numbers.shape, b"sample")
    # bfloat16 tensors reach models as float32.
    return np.asarray(numbers).astype("float32" if dtype == "bfloat16" else dtype)


def _value(spec: InputSpec, sample: TypeSample) -> Any:
    natural = sample.value()
    if spec.kind == "text":
        return natural if isinstance(natural, str) else PROMPT
    if spec.kind == "bytes":
        return sample.blob()
    if spec.kind == "json":
        return {}
    return _tensor(spec, natural)


def _stream_requests(
    inputs: dict[str, Any], specs: Sequence[InputSpec], chunked: bool
) -> list[dict[str, Any]]:
    """Requests for stream: pieces along the first axis when chunked, else the inputs again."""
    splittable = {
        name
        for name, value in inputs.items()
        if isinstance(value, np.ndarray)
        and value.ndim >= 1
        and len(value) >= STREAM_CHUNKS
        and all(s.shape is None or s.shape[0] == -1 for s in specs if s.name == name)
    }
    if not chunked or not splittable:
        return [dict(inputs) for _ in range(STREAM_REPEATS)]
    pieces = {name: np.array_split(inputs[name], STREAM_CHUNKS) for name in splittable}
    return [
        {name: pieces[name][i] if name in splittable else v for name, v in inputs.items()}
        for i in range(STREAM_CHUNKS)
    ]


_JSON_KINDS: Mapping[str, Callable[[], Any]] = {
    "text": lambda: PROMPT, "float": lambda: 0.5, "int": lambda: 2, "bool": lambda: True,
    "json": dict,
}  # fmt: skip


def _hint_value(kind: str, sample: TypeSample) -> Any:
    """A value of ``kind`` (see loader.clarifai.scan): the type's own value where it fits."""
    if kind.startswith("list:"):
        make = _JSON_KINDS.get(kind.removeprefix("list:"))
        return [make(), make()] if make is not None else sample.value()
    if kind in _JSON_KINDS:
        return _JSON_KINDS[kind]()
    if kind == "image":
        return encode_png(sample_image())
    if kind == "audio":
        return encode_wav(sample_audio())
    if kind in ("video", "bytes"):
        return sample.blob()
    natural = sample.value()
    if kind == "tensor" and not isinstance(natural, np.ndarray):
        return sample_tensor()
    return natural


def _hinted_inputs(hints: Sequence[InputHint], sample: TypeSample) -> dict[str, Any]:
    """Values for the arguments that must be sent (the streamed one too); the first argument
    when all have defaults."""
    chosen = [hint for hint in hints if hint.required or hint.streamed] or list(hints[:1])
    return {hint.name: _hint_value(hint.kind, sample) for hint in chosen}


def _hinted_sample(hints: Mapping[Hook, Sequence[InputHint]], sample: TypeSample) -> Sample:
    usual = {sample.name: sample.value()}
    predict = hints.get("predict") or hints.get("generate")
    inputs = _hinted_inputs(predict, sample) if predict else usual
    generate = _hinted_inputs(hints["generate"], sample) if hints.get("generate") else None
    stream_hints = hints.get("stream")
    first = _hinted_inputs(stream_hints, sample) if stream_hints else inputs
    stream = _stream_requests(first, (), sample.chunked)  # only arrays are cut in pieces
    return Sample(inputs, stream, dict(sample.parameters), generate)


def build_sample(
    config: BundleConfig, hints: Mapping[Hook, Sequence[InputHint]] | None = None
) -> Sample:
    """Sample inputs for a bundle: its declared inputs when it has some, else values for the
    arguments ``hints`` say its methods take, else the type's usual.

    >>> build_sample(BundleConfig(name="m", model_type="text_generation")).inputs
    {'prompt': 'the cat'}
    >>> build_sample(BundleConfig(name="m"), {"predict": (InputHint("text", "text"),)}).inputs
    {'text': 'the cat'}
    """
    sample = TYPE_SAMPLES[config.model_type]
    if not config.inputs and hints:
        return _hinted_sample(hints, sample)
    if config.inputs:
        inputs = {spec.name: _value(spec, sample) for spec in config.inputs if not spec.optional}
    else:
        inputs = {sample.name: sample.value()}
    stream = _stream_requests(inputs, config.inputs, sample.chunked)
    return Sample(inputs, stream, dict(sample.parameters))
