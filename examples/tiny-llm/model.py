"""Tiny-llm example: a word-level bigram language model that streams tokens over Generate.

load_model "trains" it by counting which word follows which in corpus.txt; generation then
continues the prompt one word at a time, like an LLM does (only much, much smaller).
"""

import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from itertools import pairwise

import numpy as np
import pydantic

from registry import InvalidInputError, ModelRunner, Request, outschema, register

# Words (with an inner apostrophe) and the punctuation marks the model knows.
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,!?]")
_SENTENCE_END = frozenset(".!?")


class Token(pydantic.BaseModel):
    """One item of Generate: the next piece of text and its position."""

    token: str = pydantic.Field(description='The text to append, with its leading space (" sat").')
    index: int = pydantic.Field(ge=0)


class Completion(pydantic.BaseModel):
    """The answer of Predict: the whole continuation at once."""

    text: str
    tokens: int = pydantic.Field(ge=0, description="How many tokens the text holds.")


@outschema("tiny-llm")
class TinyLLMOutput(pydantic.RootModel[Token | Completion]):
    """Every output of this model: a Token (Generate) or a Completion (Predict); the runtime
    checks each one and publishes both shapes as one JSON Schema."""


class BigramModel:
    """Counts of which token follows which; picks the next token from those counts.

    >>> model = BigramModel.train("the cat sat. the cat ran.")
    >>> list(model.continue_text(["the"], max_tokens=3))
    ['cat', 'sat', '.']
    """

    def __init__(self, followers: dict[str, Counter[str]]) -> None:
        self.followers = followers

    @classmethod
    def train(cls, text: str) -> "BigramModel":
        """Count every pair of neighbouring tokens in ``text``."""
        tokens = tokenize(text)
        followers: dict[str, Counter[str]] = defaultdict(Counter)
        for current, following in pairwise(tokens):
            followers[current][following] += 1
        return cls(dict(followers))

    def start_token(self, prompt: list[str]) -> str:
        """The last prompt token the model knows, else "." (as if a sentence just ended)."""
        return next((t for t in reversed(prompt) if t in self.followers), ".")

    def continue_text(
        self, prompt: list[str], max_tokens: int, rng: np.random.Generator | None = None
    ) -> Iterator[str]:
        """Yield up to ``max_tokens`` tokens that continue ``prompt``.

        Greedy (deterministic) without ``rng``: always the most frequent follower, except that
        a pair already used in this text counts less each time, so the text does not loop
        ("the cat sat on the cat sat on ..."). With ``rng``, sample from the same scores.
        """
        current = self.start_token(prompt)
        used: Counter[tuple[str, str]] = Counter()
        for _ in range(max_tokens):
            candidates = self.followers.get(current) or self.followers["."]
            words = list(candidates)
            scores = np.array([candidates[w] / (1 + used[current, w]) for w in words])
            if rng is None:
                following = words[int(np.argmax(scores))]  # ties: the first seen in the corpus
            else:
                following = words[rng.choice(len(words), p=scores / scores.sum())]
            used[current, following] += 1
            yield following
            current = following


def tokenize(text: str) -> list[str]:
    """Lower-case words and punctuation: ``tokenize("The cat.") == ["the", "cat", "."]``."""
    return _TOKEN.findall(text.lower())


@register("tiny-llm")
class TinyLLM(ModelRunner):
    """Generate: ``prompt`` in, one {"token", "index"} per token out. Predict: the whole text."""

    def load_model(self) -> None:
        # modelrt.yaml's free-form `parameters` section reaches the model as context.parameters.
        corpus = self.context.path(self.context.parameters.get("corpus", "corpus.txt"))
        self.model = BigramModel.train(corpus.read_text(encoding="utf-8"))
        self.context.logger.info("tiny-llm: %d words in the vocabulary", len(self.model.followers))

    def generate(self, request: Request) -> Iterator[dict[str, object]]:
        prompt, max_tokens, rng = self._read(request)
        delay_s = _number_param(request, "delay_ms", 0, low=0, high=1000) / 1000
        sent = 0
        try:
            for index, token in enumerate(self._completion(prompt, max_tokens, rng)):
                if delay_s and index:
                    time.sleep(delay_s)  # only to let demos show tokens arriving one by one
                sent = index + 1
                yield {"token": token, "index": index}
        finally:
            # Runs when the generation ends and also when the caller goes away: a client cancel
            # or deadline closes this generator, so nothing keeps generating for nobody.
            self.context.logger.debug(
                "generation closed after %d tokens (request %s)", sent, request.id or "-"
            )

    def predict(self, request: Request) -> dict[str, object]:
        prompt, max_tokens, rng = self._read(request)
        tokens = list(self._completion(prompt, max_tokens, rng))
        return {"text": "".join(tokens), "tokens": len(tokens)}

    def _read(self, request: Request) -> tuple[str, int, np.random.Generator | None]:
        prompt = request["prompt"]
        if not isinstance(prompt, str):
            raise InvalidInputError("input 'prompt' must be text")
        max_tokens = int(_number_param(request, "max_tokens", 32, low=1, high=512, integer=True))
        rng = None
        if request.param("seed", None) is not None:  # sampled, reproducible for a given seed
            seed = _number_param(request, "seed", 0, low=0, high=2**32 - 1, integer=True)
            rng = np.random.default_rng(int(seed))
        return prompt, max_tokens, rng

    def _completion(
        self, prompt: str, max_tokens: int, rng: np.random.Generator | None
    ) -> Iterator[str]:
        """Tokens as text pieces that append to the prompt: " cat", " sat", "."."""
        words = tokenize(prompt)
        previous = self.model.start_token(words)
        at_start = not words  # no space before the very first word of an empty prompt
        for token in self.model.continue_text(words, max_tokens, rng):
            if token in _SENTENCE_END or token == ",":
                piece = token
            else:
                word = token.capitalize() if previous in _SENTENCE_END else token
                piece = word if at_start else f" {word}"
            previous, at_start = token, False
            yield piece


def _number_param(
    request: Request, name: str, default: float, *, low: float, high: float, integer: bool = False
) -> float:
    """Read a numeric parameter and check its range; a bad value is the caller's error."""
    value = request.param(name, default)
    if isinstance(value, str):  # e.g. from a command line that sends every value as text
        try:
            value = float(value)
        except ValueError:
            raise InvalidInputError(f"parameter {name!r} must be a number, got {value!r}") from None
    # JSON numbers may arrive as floats (20.0); bool is an int in Python but never a count.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"parameter {name!r} must be a number, got {value!r}")
    if not low <= value <= high:  # also refuses NaN
        raise InvalidInputError(f"parameter {name!r} must be in {low:g}..{high:g}, got {value:g}")
    if integer and value != int(value):
        raise InvalidInputError(f"parameter {name!r} must be a whole number, got {value!r}")
    return value
