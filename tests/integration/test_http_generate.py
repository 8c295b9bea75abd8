"""Generate over modelrt's JSON API as Server-Sent Events: items as they come, per-item errors,
the end marker, and a client that goes away stopping the model's generator."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.timeout(120)

TOKENS = """
    import time
    from pathlib import Path
    from registry import ModelRunner, register

    @register("tokens")
    class Tokens(ModelRunner):
        def generate(self, request):
            marker = request.param("marker", "")
            try:
                for i in range(int(request.param("n", 3))):
                    time.sleep(float(request.param("pause", 0.0)))
                    if i == request.param("bad_at", -1):
                        yield {"token": object()}      # not JSON: this item fails, the rest go on
                    else:
                        yield {"token": f"{request['prompt']}{i}"}
                    if i == request.param("crash_at", -1):
                        raise RuntimeError("generator broke")
            finally:
                if marker:
                    Path(marker).write_text("closed")
"""

ECHO = """
    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            return {}
"""


@pytest.fixture
def server(start_server, tmp_path: Path):
    store = tmp_path / "store"
    write_bundle(store, "tokens", TOKENS, config={"inputs": [{"name": "prompt", "kind": "text"}]})
    write_bundle(store, "echo", ECHO)
    return start_server(store)


def _url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server.http_port}{path}"


def _events(lines) -> list[tuple[str, dict]]:
    """(event name, data) pairs of an SSE stream; the name is "message" when none is given."""
    events, name = [], "message"
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
            name = "message"
    return events


def _generate(server, body: dict) -> tuple[httpx.Response, list[tuple[str, dict]]]:
    with httpx.stream(
        "POST", _url(server, "/api/v1/models/tokens/generate"), json=body, timeout=30
    ) as reply:
        return reply, _events(reply.iter_lines())


def test_generate_streams_items_as_events_then_done(server) -> None:
    reply, events = _generate(server, {"inputs": {"prompt": "t"}, "parameters": {"n": 3}})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert events == [
        ("message", {"index": 0, "outputs": {}, "structured": {"token": "t0"}}),
        ("message", {"index": 1, "outputs": {}, "structured": {"token": "t1"}}),
        ("message", {"index": 2, "outputs": {}, "structured": {"token": "t2"}}),
        ("done", {}),
    ]


def test_generate_item_error_is_an_error_event_and_the_stream_goes_on(server) -> None:
    _, events = _generate(server, {"inputs": {"prompt": "t"}, "parameters": {"n": 3, "bad_at": 1}})
    assert [name for name, _ in events] == ["message", "error", "message", "done"]
    error = events[1][1]
    assert error["index"] == 1
    assert error["code"] == "INTERNAL"
    assert error["reason"]
    assert events[2][1]["structured"] == {"token": "t2"}


def test_generate_failing_midway_ends_with_an_error_event(server) -> None:
    _, events = _generate(
        server, {"inputs": {"prompt": "t"}, "parameters": {"n": 5, "crash_at": 1}}
    )
    names = [name for name, _ in events]
    assert names[:2] == ["message", "message"]
    assert names[-1] == "error"
    assert "done" not in names
    assert events[-1][1]["code"] == "INTERNAL"
    assert "Traceback" not in json.dumps(events)


def test_generate_bad_request_is_a_json_error_with_its_status(server) -> None:
    with httpx.Client(timeout=30) as http:
        missing = http.post(_url(server, "/api/v1/models/tokens/generate"), json={})
        unknown = http.post(_url(server, "/api/v1/models/nope/generate"), json={})
        no_hook = http.post(_url(server, "/api/v1/models/echo/generate"), json={})
    assert missing.status_code == 400
    assert missing.json()["reason"] == "INVALID_INPUT"
    assert "'prompt'" in missing.json()["error"]
    assert unknown.status_code == 404
    assert no_hook.status_code == 501
    assert no_hook.json()["reason"] == "HOOK_NOT_IMPLEMENTED"


def test_closing_the_connection_stops_the_models_generator(server, tmp_path: Path) -> None:
    marker = tmp_path / "closed.txt"
    body = {
        "inputs": {"prompt": "t"},
        "parameters": {"n": 1000, "pause": 0.05, "marker": str(marker)},
    }
    with httpx.stream(
        "POST", _url(server, "/api/v1/models/tokens/generate"), json=body, timeout=30
    ) as reply:
        lines = reply.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
    # the connection is closed here, long before the 1000 tokens (50 s) are made
    deadline = time.monotonic() + 15
    while not marker.exists():
        assert time.monotonic() < deadline, "the model's generator was not closed"
        time.sleep(0.05)
    assert marker.read_text() == "closed"


def test_generate_calls_count_in_the_models_stats(server) -> None:
    _generate(server, {"inputs": {"prompt": "t"}, "parameters": {"n": 2}})
    _generate(server, {"inputs": {"prompt": "t"}, "parameters": {"n": 3, "crash_at": 0}})
    deadline = time.monotonic() + 10
    while True:
        stats = httpx.get(_url(server, "/api/v1/stats"), timeout=10).json()["models"]["tokens"]
        if stats["requests"] == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (stats["requests"], stats["errors"], stats["latency_count"]) == (2, 1, 2)
