"""Word lists for the sentiment example: opinion words with a weight, and negators.

A sibling module of model.py, imported with ``from . import lexicon``: a bundle can split its
code over as many modules as it likes.
"""

#: Words that make a text more positive, with how strongly (1 = mild, 2 = strong).
POSITIVE: dict[str, int] = {
    "good": 1, "nice": 1, "fine": 1, "happy": 1, "glad": 1, "like": 1, "likes": 1,
    "liked": 1, "enjoy": 1, "enjoyed": 1, "fun": 1, "pleasant": 1, "helpful": 1, "kind": 1,
    "calm": 1, "clean": 1, "fast": 1, "easy": 1, "friendly": 1, "useful": 1, "works": 1,
    "great": 2, "love": 2, "loved": 2, "loves": 2, "excellent": 2, "amazing": 2,
    "wonderful": 2, "fantastic": 2, "perfect": 2, "brilliant": 2, "delightful": 2, "best": 2,
}  # fmt: skip

#: Words that make a text more negative, with how strongly.
NEGATIVE: dict[str, int] = {
    "bad": 1, "sad": 1, "poor": 1, "slow": 1, "dull": 1, "boring": 1, "wrong": 1,
    "broken": 1, "dirty": 1, "hard": 1, "rude": 1, "noisy": 1, "dislike": 1, "disliked": 1,
    "annoying": 1, "problem": 1, "fails": 1, "failed": 1, "late": 1, "cold": 1,
    "terrible": 2, "awful": 2, "horrible": 2, "hate": 2, "hated": 2, "hates": 2, "worst": 2,
    "disgusting": 2, "useless": 2, "disaster": 2, "miserable": 2,
}  # fmt: skip

#: Words that flip the polarity of the next opinion word ("not good" counts as negative).
NEGATORS: frozenset[str] = frozenset(
    {"not", "no", "never", "nothing", "hardly", "isn't", "wasn't", "don't", "doesn't", "didn't"}
)

#: How many words after a negator it still applies ("not very good" is still negated).
NEGATION_WINDOW = 3
