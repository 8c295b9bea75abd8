"""The speech-recognition template: audio chunks in, partial transcripts out (Stream)."""

from __future__ import annotations

from clients.templates.clarifai import SIBLING_IMPORTS
from clients.templates.spec import ClarifaiPieces, ModelTypeTemplate

MODEL_PY = '''\
"""A streaming speech recogniser, served over Stream (and Predict for whole clips).

Input ``audio``: 16 kHz mono float32 samples, in chunks of any length. Stream answers the
transcript so far after every chunk (final=False) and the final one when the caller ends its
stream (final=True); Predict transcribes one whole clip. Answers are checked against Transcript.
"""

from collections.abc import Iterable, Iterator

import numpy as np
import pydantic
from registry import InvalidInputError, ModelRunner, Request, outschema, register

import backend  # this bundle's own modules
import processing


@outschema("$name")
class Transcript(pydantic.BaseModel):
    """What every answer holds; the runtime checks each one against this schema."""

    text: str
    final: bool


@register("$name")
class SpeechRecognizer(ModelRunner):
    def load_model(self) -> None:
        # The runtime picks the device ("cpu" or "cuda:N"); the model only follows it.
        self.model = backend.load(self.context.path(backend.WEIGHTS), self.context.device)

    def stream(self, requests: Iterable[Request]) -> Iterator[dict[str, object]]:
        transcriber = processing.Transcriber(self.model.run)
        # Each chunk is answered as soon as it arrives, while the caller is still sending.
        for request in requests:
            yield {"text": transcriber.feed(_samples(request)), "final": False}
        # The caller ended its side of the stream: flush what is buffered.
        yield {"text": transcriber.finish(), "final": True}

    def predict(self, request: Request) -> dict[str, object]:
        transcriber = processing.Transcriber(self.model.run)
        transcriber.feed(_samples(request))
        return {"text": transcriber.finish(), "final": True}


def _samples(request: Request) -> np.ndarray:
    audio = np.asarray(request["audio"])
    if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating):
        raise InvalidInputError(
            f"input 'audio' must be 1-D float samples, got {audio.dtype} {list(audio.shape)}"
        )
    return audio.astype(np.float32, copy=False)
'''

PROCESSING_PY = '''\
"""Audio processing: samples -> frames -> band features -> letters.

The tiny model that build_model.py writes knows a "tone alphabet": letter k is a tone between
250 * (k + 1) and 250 * (k + 2) Hz, and anything quieter than the threshold is blank. Each 50 ms
frame is classified, and runs of the same label collapse into one letter (CTC-style). Replace
the features, LABELS and the model with your own; keep NUM_FEATURES and LABELS in step with it.
"""

from collections.abc import Callable

import numpy as np

SAMPLE_RATE = 16_000
FRAME = 800  # samples per frame: 50 ms
BAND_HZ = 250.0
BLANK = "_"  # no letter in this frame (silence, or a tone outside the alphabet)
LETTERS = "abcdefgh"
LABELS = (BLANK, *LETTERS)
NUM_FEATURES = len(LETTERS)  # the model's input: the amplitude in each letter's band


def band_amplitudes(frames: np.ndarray) -> np.ndarray:
    """Frames [n, FRAME] -> float32 [n, NUM_FEATURES]: the amplitude of the tone in each band."""
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    band = (np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE) // BAND_HZ).astype(int) - 1
    amplitudes = np.stack(
        [np.sqrt(power[:, band == k].sum(axis=1)) for k in range(NUM_FEATURES)], axis=1
    )
    return (2.0 * amplitudes / FRAME).astype(np.float32)


class Transcriber:
    """The state of one stream: samples of a frame not complete yet, and the text so far."""

    def __init__(self, classify: Callable[[np.ndarray], np.ndarray]) -> None:
        self.classify = classify  # features [n, NUM_FEATURES] -> probabilities [n, len(LABELS)]
        self.text = ""
        self._pending = np.zeros(0, dtype=np.float32)
        self._last = 0  # the label of the previous frame (0: blank)

    def feed(self, samples: np.ndarray) -> str:
        """Decode every whole frame of the buffered samples plus ``samples``; the text so far."""
        buffered = np.concatenate([self._pending, samples])
        whole = len(buffered) // FRAME * FRAME
        if whole:
            self._decode(buffered[:whole].reshape(-1, FRAME))
        self._pending = buffered[whole:]
        return self.text

    def finish(self) -> str:
        """Decode what is left (half a frame or more, padded with silence); the final text."""
        if len(self._pending) >= FRAME // 2:
            frame = np.pad(self._pending, (0, FRAME - len(self._pending)))
            self._decode(frame[np.newaxis])
        self._pending = self._pending[:0]
        return self.text

    def _decode(self, frames: np.ndarray) -> None:
        for label in self.classify(band_amplitudes(frames)).argmax(axis=1):
            if label != self._last and label != 0:
                self.text += LABELS[label]
            self._last = int(label)


# -- the tiny reference model, used by build_model.py -------------------------------------------


def reference_weights() -> tuple[np.ndarray, np.ndarray]:
    """Weights [NUM_FEATURES, len(LABELS)] and bias: a letter wins when its band is loud."""
    weights = np.zeros((NUM_FEATURES, len(LABELS)), dtype=np.float32)
    weights[:, 1:] = 10.0 * np.eye(NUM_FEATURES, dtype=np.float32)
    bias = np.zeros(len(LABELS), dtype=np.float32)
    bias[0] = 0.5  # blank unless some band's amplitude is over 0.05
    return weights, bias


def training_data(rng: np.random.Generator, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic band amplitudes (one tone, or none, over noise) and their labels."""
    features = rng.uniform(0.0, 0.03, (n, NUM_FEATURES)).astype(np.float32)
    bands = rng.integers(0, NUM_FEATURES + 1, n)  # NUM_FEATURES: no tone at all
    toned = bands < NUM_FEATURES
    features[toned, bands[toned]] = rng.uniform(0.0, 1.0, int(toned.sum()))
    weights, bias = reference_weights()
    return features, np.argmax(features @ weights + bias, axis=1)
'''

CONFIG = """\
inputs:
  - name: audio
    kind: tensor
    dtype: float32
    shape: [-1]  # one chunk of 16 kHz mono samples, any length
"""

CLARIFAI_MODEL_PY = (
    '''\
"""A streaming speech recogniser as a Clarifai model class: audio in, the transcript out.

Audio is 16 kHz mono float samples. stream (served by Stream) takes the audio in chunks of any
length and answers the transcript so far after every chunk, then the final one when the caller
ends its stream; predict (served by Predict) transcribes one whole clip.
"""

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from clarifai.runners.models.model_class import ModelClass
'''
    + SIBLING_IMPORTS
    + '''

class SpeechRecognizer(ModelClass):
    def load_model(self) -> None:
        # config.yaml asks for no accelerator: the model runs on the CPU.
        self.model = backend.load(HERE / backend.WEIGHTS, "cpu")

    @ModelClass.method
    def predict(self, audio: np.ndarray) -> str:
        """The transcript of one whole clip."""
        transcriber = processing.Transcriber(self.model.run)
        transcriber.feed(_samples(audio))
        return transcriber.finish()

    @ModelClass.method
    def stream(self, input_iterator: Iterator[np.ndarray]) -> Iterator[str]:
        """The transcript so far after each chunk, and the final one after the last."""
        transcriber = processing.Transcriber(self.model.run)
        # Each chunk is answered as soon as it arrives, while the caller is still sending.
        for chunk in input_iterator:
            yield transcriber.feed(_samples(chunk))
        yield transcriber.finish()


def _samples(audio: np.ndarray) -> np.ndarray:
    samples = np.asarray(audio)
    if samples.ndim != 1 or not np.issubdtype(samples.dtype, np.floating):
        raise ValueError(f"expected 1-D float samples, got {samples.dtype} {list(samples.shape)}")
    return samples.astype(np.float32, copy=False)
'''
)

TEMPLATE = ModelTypeTemplate(
    name="speech-recognition",
    config_type="speech_recognition",
    summary="streaming speech recogniser",
    model_py=MODEL_PY,
    processing_py=PROCESSING_PY,
    config=CONFIG,
    hooks=("stream", "predict"),
    clarifai=ClarifaiPieces("audio-to-text", CLARIFAI_MODEL_PY),
)
