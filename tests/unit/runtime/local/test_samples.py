"""Sample inputs for run-local: suited to each model type, and meeting declared inputs."""

from __future__ import annotations

import io
import struct
import wave
import zlib

import numpy as np
import pytest

from loader.config import BundleConfig, InputSpec
from runtime.instances.inputs import check_inputs
from runtime.local.samples import (
    SAMPLE_RATE,
    STREAM_CHUNKS,
    STREAM_REPEATS,
    build_sample,
    encode_png,
    encode_wav,
    sample_image,
)

MODEL_TYPES = [
    "classification", "object_detection", "segmentation", "text_generation",
    "speech_recognition", "other",
]  # fmt: skip


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_without_declared_inputs_each_type_gets_its_usual_input(model_type) -> None:
    sample = build_sample(BundleConfig(name="m", model_type=model_type))
    ((name, value),) = sample.inputs.items()
    if model_type in ("classification", "object_detection", "segmentation"):
        assert name == "image"
        assert value.dtype == np.uint8
        assert value.shape[2] == 3
    elif model_type == "text_generation":
        assert (name, value) == ("prompt", "the cat")
        assert sample.parameters == {"max_tokens": 16}
    elif model_type == "speech_recognition":
        assert name == "audio"
        assert value.dtype == np.float32
        assert value.shape == (SAMPLE_RATE,)
        assert np.abs(value).max() == pytest.approx(0.5, abs=1e-3)
    else:
        assert value.dtype == np.float32
        assert value.ndim == 2


def test_speech_streams_its_audio_in_chunks_and_other_types_repeat_the_inputs() -> None:
    speech = build_sample(BundleConfig(name="m", model_type="speech_recognition"))
    assert len(speech.stream) == STREAM_CHUNKS
    chunks = [request["audio"] for request in speech.stream]
    np.testing.assert_array_equal(np.concatenate(chunks), speech.inputs["audio"])
    image = build_sample(BundleConfig(name="m", model_type="classification"))
    assert len(image.stream) == STREAM_REPEATS
    np.testing.assert_array_equal(image.stream[0]["image"], image.inputs["image"])


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize(
    "specs",
    [
        [InputSpec(name="pixels", dtype="float32", shape=(-1, -1, 3))],
        [InputSpec(name="ids", dtype="int64", shape=(1, -1))],
        [InputSpec(name="x", kind="bytes"), InputSpec(name="t", kind="text")],
        [InputSpec(name="j", kind="json"), InputSpec(name="skip", optional=True)],
        [InputSpec(name="s", dtype="string", shape=(2,)), InputSpec(name="b", dtype="bytes")],
        [InputSpec(name="half", dtype="bfloat16", shape=(-1,))],
    ],
)
def test_samples_meet_the_declared_inputs(model_type, specs) -> None:
    config = BundleConfig(name="m", model_type=model_type, inputs=specs)
    sample = build_sample(config)
    check_inputs(sample.inputs, config.inputs)
    for request in sample.stream:
        check_inputs(request, config.inputs)
    assert "skip" not in sample.inputs


def test_png_is_a_valid_png_of_the_image() -> None:
    image = sample_image(4, 5)
    data = encode_png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (5, 4)
    length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    rows = zlib.decompress(data[41 : 41 + length])
    decoded = np.frombuffer(rows, np.uint8).reshape(4, 1 + 5 * 3)[:, 1:].reshape(4, 5, 3)
    np.testing.assert_array_equal(decoded, image)


def test_wav_holds_the_samples_as_16_bit_pcm() -> None:
    audio = np.array([0.0, 0.5, -0.5, 1.0], dtype=np.float32)
    with wave.open(io.BytesIO(encode_wav(audio))) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (1, 2, 16000)
        pcm = np.frombuffer(file.readframes(4), "<i2")
    np.testing.assert_array_equal(pcm, [0, 16383, -16383, 32767])
