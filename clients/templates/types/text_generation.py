"""The text-generation template: a prompt in, tokens streamed out (Generate) or the whole text."""

from __future__ import annotations

from clients.templates.clarifai import SIBLING_IMPORTS
from clients.templates.spec import ClarifaiPieces, ModelTypeTemplate

MODEL_PY = '''\
"""A text generator, served over Generate (token by token) and Predict (all at once).

Input ``prompt`` (text); parameters ``max_tokens`` (default from modelrt.yaml) and ``seed``.
Every answer is checked against Completion: Generate yields one item per token, Predict answers
the whole completion.
"""

from collections.abc import Iterator

import numpy as np
import pydantic
from registry import InvalidInputError, ModelRunner, Request, outschema, register

import backend  # this bundle's own modules
import processing

MAX_TOKENS_LIMIT = 512


@outschema("$name")
class Completion(pydantic.BaseModel):
    """What every answer holds; the runtime checks each one against this schema."""

    text: str  # Generate: the new token; Predict: the whole completion
    tokens: int  # tokens generated so far
    done: bool  # True on the last one


@register("$name")
class TextGenerator(ModelRunner):
    def load_model(self) -> None:
        # The runtime picks the device ("cpu" or "cuda:N"); the model only follows it.
        self.model = backend.load(self.context.path(backend.WEIGHTS), self.context.device)
        self.default_max_tokens = int(self.context.parameters.get("max_tokens", 32))

    def generate(self, request: Request) -> Iterator[dict[str, object]]:
        prompt, max_tokens, rng = self._read(request)
        # A client cancel or deadline closes this generator: nothing generates for nobody.
        for index, token in enumerate(self._tokens(prompt, max_tokens, rng)):
            yield {"text": token, "tokens": index + 1, "done": index + 1 == max_tokens}

    def predict(self, request: Request) -> dict[str, object]:
        prompt, max_tokens, rng = self._read(request)
        text = "".join(self._tokens(prompt, max_tokens, rng))
        return {"text": text, "tokens": max_tokens, "done": True}

    def _tokens(self, prompt: str, max_tokens: int, rng: np.random.Generator) -> Iterator[str]:
        current = (processing.encode(prompt) or [processing.START])[-1]
        for _ in range(max_tokens):
            probabilities = self.model.run(processing.features(current))[0]
            current = processing.next_token(probabilities, rng)
            yield processing.decode([current])

    def _read(self, request: Request) -> tuple[str, int, np.random.Generator]:
        prompt = request["prompt"]
        if not isinstance(prompt, str):
            raise InvalidInputError("input 'prompt' must be text")
        max_tokens = _whole_number(request, "max_tokens", self.default_max_tokens)
        if not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
            raise InvalidInputError(f"parameter 'max_tokens' must be in 1..{MAX_TOKENS_LIMIT}")
        # Sampled, and the same text again for the same seed.
        return prompt, max_tokens, np.random.default_rng(_whole_number(request, "seed", 0))


def _whole_number(request: Request, name: str, default: int) -> int:
    value = request.param(name, default)
    try:
        number = float(value)  # JSON numbers may arrive as floats (20.0), CLI values as text
    except (TypeError, ValueError):
        raise InvalidInputError(f"parameter {name!r} must be a number, got {value!r}") from None
    if number != int(number) or number < 0:
        raise InvalidInputError(f"parameter {name!r} must be a whole number >= 0, got {value!r}")
    return int(number)
'''

PROCESSING_PY = '''\
"""Tokens: characters in, characters out.

The tiny model that build_model.py writes is a character bigram model: from the one-hot current
character it predicts the probability of each next one, learnt from CORPUS. Replace the
tokenizer, CORPUS and the model with your own; keep NUM_FEATURES and LABELS in step with it.
"""

import numpy as np

VOCAB = " abcdefghijklmnopqrstuvwxyz.,"
LABELS = tuple(VOCAB)  # the model scores every token of the vocabulary as the next one
NUM_FEATURES = len(VOCAB)  # the model's input: the current token, one-hot
START = VOCAB.index(".")  # an empty prompt continues as if a sentence just ended
CORPUS = (
    "the cat sat on the mat. the dog sat by the door. a bird sang in the old tree, "
    "and the cat looked up at it. the sun was warm and the day was long. "
)


def encode(text: str) -> list[int]:
    """Token ids of ``text``; characters outside VOCAB become spaces."""
    return [VOCAB.find(char) if char in VOCAB else 0 for char in text.lower()]


def decode(tokens: list[int]) -> str:
    """The text of token ids."""
    return "".join(VOCAB[token] for token in tokens)


def features(token: int) -> np.ndarray:
    """The model's input for one token: float32 [1, NUM_FEATURES], one-hot."""
    one_hot = np.zeros((1, NUM_FEATURES), dtype=np.float32)
    one_hot[0, token] = 1.0
    return one_hot


def next_token(probabilities: np.ndarray, rng: np.random.Generator) -> int:
    """Sample the next token id from the model's probabilities [len(LABELS)]."""
    p = np.asarray(probabilities, dtype=np.float64)
    return int(rng.choice(len(p), p=p / p.sum()))


# -- the tiny reference model, used by build_model.py -------------------------------------------


def reference_weights() -> tuple[np.ndarray, np.ndarray]:
    """Weights [NUM_FEATURES, len(LABELS)]: log P(next | current) counted in CORPUS."""
    tokens = encode(CORPUS)
    counts = np.full((NUM_FEATURES, len(LABELS)), 0.01)
    for current, following in zip(tokens, tokens[1:] + tokens[:1], strict=True):
        counts[current, following] += 1.0
    weights = np.log(counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)
    return weights, np.zeros(len(LABELS), dtype=np.float32)


def training_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every (token, next token) pair of CORPUS, for frameworks that fit a model."""
    tokens = np.array(encode(CORPUS))
    return np.eye(NUM_FEATURES, dtype=np.float32)[tokens], np.roll(tokens, -1)
'''

CONFIG = """\
inputs:
  - name: prompt
    kind: text
parameters:
  max_tokens: 32  # the default; a request may send its own (and a seed)
"""

CLARIFAI_MODEL_PY = (
    '''\
"""A text generator as a Clarifai model class: a prompt in, text out, all at once or streamed.

predict (served by Predict) answers the whole completion; generate (served by Generate) yields
it token by token. Both take the parameters max_tokens and seed (the same text for the same
seed).
"""

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from clarifai.runners.models.model_class import ModelClass
from clarifai.runners.utils.data_utils import Param
'''
    + SIBLING_IMPORTS
    + '''
MAX_TOKENS = Param(default=32, min_value=1, max_value=512, description="tokens to generate")
SEED = Param(default=0, min_value=0, description="the same text again for the same seed")


class TextGenerator(ModelClass):
    def load_model(self) -> None:
        # config.yaml asks for no accelerator: the model runs on the CPU.
        self.model = backend.load(HERE / backend.WEIGHTS, "cpu")

    @ModelClass.method
    def predict(self, prompt: str, max_tokens: int = MAX_TOKENS, seed: int = SEED) -> str:
        """The whole completion of ``prompt``."""
        return "".join(self._tokens(prompt, max_tokens, seed))

    @ModelClass.method
    def generate(
        self, prompt: str, max_tokens: int = MAX_TOKENS, seed: int = SEED
    ) -> Iterator[str]:
        """The completion of ``prompt``, one token at a time; the caller may stop early."""
        yield from self._tokens(prompt, max_tokens, seed)

    def _tokens(self, prompt: str, max_tokens: int, seed: int) -> Iterator[str]:
        rng = np.random.default_rng(seed)
        current = (processing.encode(prompt) or [processing.START])[-1]
        for _ in range(max_tokens):
            probabilities = self.model.run(processing.features(current))[0]
            current = processing.next_token(probabilities, rng)
            yield processing.decode([current])
'''
)

TEMPLATE = ModelTypeTemplate(
    name="text-generation",
    config_type="text_generation",
    summary="text generator",
    model_py=MODEL_PY,
    processing_py=PROCESSING_PY,
    config=CONFIG,
    hooks=("generate", "predict"),
    clarifai=ClarifaiPieces("text-to-text", CLARIFAI_MODEL_PY),
)
