"""The "tone alphabet" of the speech-stream example, and a synthesizer for it.

Each letter a-z is a sine tone: letter k (a = 0) sounds at 400 + 40 * k Hz; a space is silence.
This module needs only numpy, so tests, docs and client demos can import it without modelrt:

>>> audio = synthesize("hi")
>>> audio.dtype, len(audio) / SAMPLE_RATE
(dtype('float32'), 0.8)
"""

import string

import numpy as np

SAMPLE_RATE = 16_000
ALPHABET = string.ascii_lowercase
BASE_HZ = 400.0
STEP_HZ = 40.0
AMPLITUDE = 0.5


def letter_frequency(letter: str) -> float:
    """The tone of ``letter`` in Hz: ``letter_frequency("a") == 400.0``, "z" is 1400 Hz."""
    return BASE_HZ + STEP_HZ * ALPHABET.index(letter)


def letter_at(frequency: float, tolerance_hz: float = STEP_HZ / 3) -> str | None:
    """The letter whose tone is within ``tolerance_hz`` of ``frequency``, or None."""
    index = round((frequency - BASE_HZ) / STEP_HZ)
    if 0 <= index < len(ALPHABET) and abs(frequency - letter_frequency(ALPHABET[index])) <= (
        tolerance_hz
    ):
        return ALPHABET[index]
    return None


def synthesize(
    text: str,
    sample_rate: int = SAMPLE_RATE,
    letter_seconds: float = 0.3,
    gap_seconds: float = 0.1,
) -> np.ndarray:
    """Render ``text`` (letters and spaces) as float32 PCM samples in [-1, 1].

    Every character lasts ``letter_seconds`` (a tone, or silence for a space) and is followed by
    ``gap_seconds`` of silence, which is what separates two equal letters ("ll").
    """
    letter_len = round(letter_seconds * sample_rate)
    gap = np.zeros(round(gap_seconds * sample_rate), dtype=np.float32)
    t = np.arange(letter_len) / sample_rate
    pieces = []
    for char in text.lower():
        if char == " ":
            pieces.append(np.zeros(letter_len, dtype=np.float32))
        elif char in ALPHABET:
            tone = AMPLITUDE * np.sin(2 * np.pi * letter_frequency(char) * t)
            pieces.append(tone.astype(np.float32))
        else:
            raise ValueError(f"the tone alphabet has no {char!r}: use letters a-z and spaces")
        pieces.append(gap)
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
