"""Sentiment example: a tiny lexicon-based classifier served over Predict.

It counts the opinion words of ``lexicon.py`` (a sibling module) in the input text, flipping the
ones that follow a negator ("not good"), and turns the counts into a label and a confidence.
"""

import re
from typing import Literal

import pydantic

from registry import InvalidInputError, ModelRunner, Request, outschema, register

# Sibling modules of model.py are imported relative to the bundle; `import lexicon` works too.
from . import lexicon

# Lower-case words, keeping apostrophes so "isn't" stays one word.
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")

# The confidence a label needs: below it the text is "neutral".
_MIN_CONFIDENCE = 0.55


@outschema("sentiment")
class Sentiment(pydantic.BaseModel):
    """The structured output; the runtime publishes it as JSON Schema through GetModel."""

    label: Literal["positive", "negative", "neutral"]
    score: float = pydantic.Field(ge=0.0, le=1.0, description="Confidence in the label.")
    matched: list[str] = pydantic.Field(description='Opinion words found, e.g. "not good".')


@register("sentiment")
class SentimentClassifier(ModelRunner):
    """Predict: ``text`` in, a Sentiment out."""

    def load_model(self) -> None:
        # Nothing to read from disk: the "weights" are the word lists in lexicon.py.
        self.context.logger.info(
            "sentiment lexicon: %d positive, %d negative words",
            len(lexicon.POSITIVE),
            len(lexicon.NEGATIVE),
        )

    def predict(self, request: Request) -> Sentiment:
        text = request["text"]  # a missing input becomes INVALID_ARGUMENT for the caller
        if not isinstance(text, str):
            raise InvalidInputError("input 'text' must be text")

        words = _WORD.findall(text.lower().replace("\u2019", "'"))  # typographic apostrophe too
        positive, negative, matched = score_words(words)
        # Laplace-smoothed probability that the text is positive: one opinion word is a hint
        # (2/3), several that agree make it near certain, a tie stays at 1/2.
        p_positive = (positive + 1) / (positive + negative + 2)
        if p_positive >= _MIN_CONFIDENCE:
            label, score = "positive", p_positive
        elif 1 - p_positive >= _MIN_CONFIDENCE:
            label, score = "negative", 1 - p_positive
        else:
            # Neutral is most certain when the evidence is balanced (or there is none).
            label, score = "neutral", 1 - abs(2 * p_positive - 1)
        return Sentiment(label=label, score=round(score, 4), matched=matched)


def score_words(words: list[str]) -> tuple[int, int, list[str]]:
    """Sum the positive and negative weights of ``words``; also list what matched, in order.

    >>> score_words(["not", "bad", "at", "all"])
    (1, 0, ['not bad'])
    """
    positive = negative = 0
    matched: list[str] = []
    negator, negation_left = "", 0
    for word in words:
        if word in lexicon.NEGATORS:
            negator, negation_left = word, lexicon.NEGATION_WINDOW
            continue
        weight = lexicon.POSITIVE.get(word, 0) - lexicon.NEGATIVE.get(word, 0)
        if weight and negation_left:
            weight = -weight
            matched.append(f"{negator} {word}")
            negation_left = 0  # a negator flips one opinion word only
        elif weight:
            matched.append(word)
        else:
            negation_left = max(negation_left - 1, 0)
        if weight > 0:
            positive += weight
        else:
            negative -= weight
    return positive, negative, matched
