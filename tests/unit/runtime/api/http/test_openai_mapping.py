"""openai_mapping: stop sequences across pieces, where an item's text comes from, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.api.http.openai_mapping import (
    CompletionRequest,
    StopScanner,
    check_n,
    item_text,
    parameters,
    render_chat,
    reported_prompt_tokens,
    stop_sequences,
)
from runtime.errors import BadRequestError
from runtime.instances.outputs import ModelOutput


def _run(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    scanner = StopScanner(stops)
    sent = []
    for piece in pieces:
        ready, stopped = scanner.feed(piece)
        sent.append(ready)
        if stopped:
            return "".join(sent), True
    return "".join(sent) + scanner.flush(), False


@pytest.mark.parametrize(
    ("stops", "pieces", "expected"),
    [
        ([], ["a", "b"], ("ab", False)),
        (["END"], ["one E", "N", "D two"], ("one ", True)),
        (["END"], ["one E", "Nx"], ("one ENx", False)),
        (["END"], ["one EN"], ("one EN", False)),  # held back, then flushed at the end
        (["xyz", "y"], ["axy"], ("ax", True)),  # the earliest stop wins
        (["\n\n"], ["a\n", "\n", "b"], ("a", True)),
        (["ab"], ["aab"], ("a", True)),
    ],
)
def test_stop_scanner_cuts_at_the_first_stop_across_pieces(
    stops: list[str], pieces: list[str], expected: tuple[str, bool]
) -> None:
    assert _run(stops, pieces) == expected


def test_stop_scanner_holds_back_only_what_may_begin_a_stop() -> None:
    scanner = StopScanner(["END"])
    assert scanner.feed("abc E") == ("abc ", False)
    assert scanner.feed("x") == ("Ex", False)


@pytest.mark.parametrize(
    ("item", "text"),
    [
        (ModelOutput(structured={"token": " cat", "index": 0}), " cat"),
        (ModelOutput(structured={"text": "hi"}), "hi"),
        (ModelOutput(structured="plain"), "plain"),
        (ModelOutput(outputs={"text": b"bytes"}), "bytes"),
        (ModelOutput(outputs={"token": np.array(["a", "b"])}), "ab"),
        (ModelOutput(outputs={"token": np.array([b"c"], dtype=object)}), "c"),
        (ModelOutput(structured={"label": "x"}), None),
        (ModelOutput(outputs={"token": np.zeros(2)}), None),
    ],
)
def test_item_text_reads_a_named_output_then_the_structured_field(
    item: ModelOutput, text: str | None
) -> None:
    assert item_text(item) == text


def test_prompt_tokens_only_when_the_model_reports_a_count() -> None:
    assert reported_prompt_tokens(ModelOutput(structured={"prompt_tokens": 7})) == 7
    assert reported_prompt_tokens(ModelOutput(structured={"prompt_tokens": True})) is None
    assert reported_prompt_tokens(ModelOutput(structured={"token": "a"})) is None


def test_parameters_carry_only_the_settings_given() -> None:
    request = CompletionRequest(model="m", prompt="p", temperature=0.2, stop="\n")
    assert parameters(request, 5) == {"max_tokens": 5, "temperature": 0.2, "stop": ["\n"]}
    assert parameters(CompletionRequest(model="m", prompt="p"), None) == {}


def test_n_and_stop_limits_are_the_requests_errors() -> None:
    check_n(1)
    with pytest.raises(BadRequestError, match="n=3"):
        check_n(3)
    with pytest.raises(BadRequestError, match="at most 4"):
        stop_sequences(["a", "b", "c", "d", "e"])
    assert stop_sequences(["", "x"]) == ["x"]


def test_chat_template_ends_with_the_assistant_turn() -> None:
    rendered = render_chat([{"role": "user", "content": "Hi"}])
    assert rendered == "user: Hi\nassistant:"
