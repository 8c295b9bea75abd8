"""What is wrong with a body that does not decode as JSON, in words a client can act on.

``json.loads`` fails in four ways: malformed JSON (``JSONDecodeError``), bytes that are not
UTF-8, an integer longer than Python's digit limit (a plain ``ValueError``) and nesting deeper
than the recursion limit. FastAPI reports only the first with its position; the others reach
the client as "There was an error parsing the body". Every JSON door words them here.

>>> import json
>>> try:
...     json.loads(b'{"a": 1} x')
... except ValueError as exc:
...     json_problem(exc)
'Extra data at line 1, column 10'
"""

from __future__ import annotations

import json
import sys
from typing import Any


def json_problem(exc: BaseException) -> str:
    """Why ``json.loads`` refused a document: ``exc`` is what it raised."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.start + 1].hex()
        return f"it is not UTF-8 (byte 0x{bad} at offset {exc.start})"
    if isinstance(exc, RecursionError):
        return "its arrays or objects are nested too deeply"
    if isinstance(exc, ValueError) and "digits" in str(exc):
        return f"it holds an integer of more than {sys.get_int_max_str_digits()} digits"
    return str(exc)[:200] or type(exc).__name__


def unreadable_body(exc: BaseException) -> str | None:
    """The message for FastAPI's generic "error parsing the body", from the error it hides
    (its ``__cause__``); None when that is not a JSON decoding failure."""
    cause = exc.__cause__
    if isinstance(cause, (ValueError, RecursionError)):
        return f"the body is not JSON: {json_problem(cause)}"
    return None


def invalid_json(problem: dict[str, Any]) -> str | None:
    """The message for one of FastAPI's validation problems when it says the body is not JSON
    (``json_invalid``, with the decoder's message and the offset); None for any other."""
    if problem.get("type") != "json_invalid":
        return None
    detail = (problem.get("ctx") or {}).get("error") or "malformed JSON"
    location = tuple(problem.get("loc", ()))
    offset = f" at offset {location[1]}" if len(location) > 1 else ""
    return f"the body is not JSON: {detail}{offset}"
