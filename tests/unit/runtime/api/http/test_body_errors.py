"""Each way json.loads refuses a body is worded for the client, with where it went wrong."""

from __future__ import annotations

import json
import sys

import pytest

from runtime.api.http.body_errors import invalid_json, json_problem, unreadable_body


def _refusal(text: bytes | str) -> BaseException:
    with pytest.raises((ValueError, RecursionError)) as caught:
        json.loads(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'{"a": \xc3(}', "it is not UTF-8 (byte 0xc3 at offset 6)"),
        ("9" * 5000, f"it holds an integer of more than {sys.get_int_max_str_digits()} digits"),
        ("[" * 100_000, "its arrays or objects are nested too deeply"),
        ('{"a": 1,}', "Expecting property name enclosed in double quotes at line 1, column 9"),
        ("{\n  1", "Expecting property name enclosed in double quotes at line 2, column 3"),
    ],
)
def test_each_refusal_is_named(text: bytes | str, message: str) -> None:
    assert json_problem(_refusal(text)) == message


def test_the_error_fastapi_hides_is_read_from_its_cause() -> None:
    hidden = RuntimeError("There was an error parsing the body")
    hidden.__cause__ = _refusal("[" * 100_000)
    assert (
        unreadable_body(hidden)
        == "the body is not JSON: its arrays or objects are nested too deeply"
    )
    hidden.__cause__ = OSError("the client went away")
    assert unreadable_body(hidden) is None


def test_fastapis_json_invalid_problem_keeps_the_decoder_message_and_offset() -> None:
    problem = {"type": "json_invalid", "loc": ("body", 15), "ctx": {"error": "Extra data"}}
    assert invalid_json(problem) == "the body is not JSON: Extra data at offset 15"
    assert invalid_json({"type": "missing", "loc": ("body", "inputs")}) is None
