"""Speech-stream example: a streaming recogniser for the "tone alphabet" of tones.py, over Stream.

Audio arrives in chunks of any length. The decoder cuts it into 0.1 s frames (keeping a partial
frame for the next chunk), finds each frame's dominant frequency with an FFT, and turns runs of
frames into letters. After every chunk the caller gets the transcript so far; when the caller
ends its stream it gets the final transcript. Real speech models stream the same way.
"""

from collections.abc import Iterable, Iterator

import numpy as np
import pydantic

from registry import InvalidInputError, ModelRunner, Request, outschema, register

from . import tones

FRAME_SECONDS = 0.1
MIN_LETTER_FRAMES = 2  # a tone must last this long to count as a letter (shorter is a glitch)
SPACE_FRAMES = 3  # a silence this long between letters is a space; shorter is just a gap
MIN_TONE_SHARE = 0.5  # a tone holds at least this share of a frame's energy near its peak
SILENCE, NOISE = " ", "?"  # frame symbols besides the letters


@outschema("speech-stream")
class Transcript(pydantic.BaseModel):
    """Every output of this model: a partial transcript (final=False) or the final one.

    The hooks return plain dicts; the runtime checks each one against this schema.
    """

    text: str
    final: bool


class ToneDecoder:
    """The state of one stream: buffered samples, the current run of frames, the text so far.

    >>> decoder = ToneDecoder()
    >>> decoder.feed(tones.synthesize("ok"))
    >>> decoder.finish()
    'ok'
    """

    def __init__(self, sample_rate: int = tones.SAMPLE_RATE, silence_rms: float = 0.01) -> None:
        self.sample_rate = sample_rate
        self.silence_rms = silence_rms
        self.frame_len = round(sample_rate * FRAME_SECONDS)
        self.text = ""
        self._pending = np.zeros(0, dtype=np.float32)  # samples of a frame not complete yet
        self._run_symbol, self._run_len = NOISE, 0
        self._last_letter: str | None = None  # cleared by silence: "ll" needs a pause between
        self._space_due = False

    def feed(self, samples: np.ndarray) -> None:
        """Decode every whole frame in the buffered samples plus ``samples``."""
        buffered = np.concatenate([self._pending, samples])
        whole = len(buffered) // self.frame_len * self.frame_len
        for start in range(0, whole, self.frame_len):
            self._add_frame(buffered[start : start + self.frame_len])
        self._pending = buffered[whole:]

    def finish(self) -> str:
        """Decode what is left (at least half a frame counts, padded with silence); the text."""
        if len(self._pending) >= self.frame_len // 2:
            self._add_frame(np.pad(self._pending, (0, self.frame_len - len(self._pending))))
        self._pending = self._pending[:0]
        return self.text

    def symbol(self, frame: np.ndarray) -> str:
        """What one frame sounds like: a letter, SILENCE, or NOISE (a tone off the alphabet)."""
        if np.sqrt(np.mean(np.square(frame, dtype=np.float64))) < self.silence_rms:
            return SILENCE
        # A Hann window keeps the energy of a tone in the few FFT bins around its frequency.
        power = np.abs(np.fft.rfft(frame * np.hanning(len(frame)))) ** 2
        power[0] = 0.0  # ignore any DC offset
        peak = int(np.argmax(power))
        # Hiss spreads its energy over the whole spectrum: without a clear tone it is silence.
        if power[max(peak - 2, 0) : peak + 3].sum() < MIN_TONE_SHARE * power.sum():
            return SILENCE
        return tones.letter_at(peak * self.sample_rate / len(frame)) or NOISE

    def _add_frame(self, frame: np.ndarray) -> None:
        symbol = self.symbol(frame)
        if symbol == self._run_symbol:
            self._run_len += 1
        else:
            self._run_symbol, self._run_len = symbol, 1
        if symbol == SILENCE:
            self._last_letter = None
            # Emitted lazily, before the next letter, so the text never ends in a space.
            self._space_due = self._space_due or (self._run_len >= SPACE_FRAMES and bool(self.text))
        elif (
            symbol != NOISE
            and self._run_len == MIN_LETTER_FRAMES  # once per run, as soon as it is long enough
            and symbol != self._last_letter
        ):
            self.text += (" " if self._space_due else "") + symbol
            self._last_letter, self._space_due = symbol, False


@register("speech-stream")
class SpeechStream(ModelRunner):
    """Stream: ``audio`` chunks in, {"text", "final"} out after each chunk and at the end."""

    def load_model(self) -> None:
        # Tunables come from modelrt.yaml's `parameters` section; nothing to load from disk.
        self.sample_rate = int(self.context.parameters.get("sample_rate", tones.SAMPLE_RATE))
        self.silence_rms = float(self.context.parameters.get("silence_rms", 0.01))

    def stream(self, requests: Iterable[Request]) -> Iterator[dict[str, object]]:
        decoder = ToneDecoder(self.sample_rate, self.silence_rms)
        # Each request is handled as soon as it arrives: the answer to chunk 1 goes out while
        # the caller is still sending chunk 2.
        for request in requests:
            decoder.feed(_samples(request))
            yield {"text": decoder.text, "final": False}
        # The caller closed its side of the stream: flush and send the final transcript.
        yield {"text": decoder.finish(), "final": True}
        self.context.logger.debug("stream finished: %r", decoder.text)

    def predict(self, request: Request) -> dict[str, object]:
        """A whole clip at once, for callers that do not need partial results."""
        decoder = ToneDecoder(self.sample_rate, self.silence_rms)
        decoder.feed(_samples(request))
        return {"text": decoder.finish(), "final": True}


def _samples(request: Request) -> np.ndarray:
    """The request's ``audio`` as 1-D float32 samples."""
    audio = np.asarray(request["audio"])
    if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating):
        raise InvalidInputError(
            f"input 'audio' must be 1-D float PCM samples, got {audio.dtype} {audio.shape}"
        )
    return audio.astype(np.float32, copy=False)
