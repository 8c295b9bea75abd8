"""Stream over modelrt's JSON API as a WebSocket, driven by a real websocket client: results
arrive while the client still sends, per-item errors, auth, and the close codes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.timeout(120)

RUNNING_SUM = """
    from pathlib import Path
    from registry import ModelRunner, register

    @register("running-sum")
    class RunningSum(ModelRunner):
        def stream(self, requests):
            total = 0.0
            marker = ""
            try:
                for request in requests:
                    marker = request.param("marker", marker)
                    total += float(request["audio"].sum())
                    yield {"total": total}
            finally:
                if marker:
                    Path(marker).write_text("closed")
"""

ASYNC_UPPER = """
    from registry import ModelRunner, register

    @register("async-upper")
    class AsyncUpper(ModelRunner):
        async def stream(self, requests):
            async for request in requests:
                if request["text"] == "boom":
                    raise RuntimeError("secret detail")
                yield {"text": request["text"].upper()}
            yield {"text": "<end>"}
"""


def _audio(*values: float) -> dict:
    return {"inputs": {"audio": {"tensor": {"dtype": "FP32", "contents": list(values)}}}}


def _store(root: Path) -> Path:
    store = root / "store"
    audio = [{"name": "audio", "dtype": "float32", "shape": [-1]}]
    write_bundle(store, "running-sum", RUNNING_SUM, config={"inputs": audio})
    write_bundle(store, "async-upper", ASYNC_UPPER)
    return store


@pytest.fixture
def server(start_server, tmp_path: Path):
    return start_server(_store(tmp_path))


def _ws(server, model: str, query: str = "", **kwargs):
    url = f"ws://127.0.0.1:{server.server.http_port}/api/v1/models/{model}/stream{query}"
    return connect(url, open_timeout=20, **kwargs)


def _recv(ws) -> dict:
    return json.loads(ws.recv(timeout=20))


def test_results_arrive_while_the_client_is_still_sending(server) -> None:
    with _ws(server, "running-sum") as ws:
        for step, expected in enumerate([3, 10, 10.5]):
            ws.send(json.dumps(_audio(*[[1, 2], [3, 4], [0.5]][step])))
            assert _recv(ws) == {"index": step, "outputs": {}, "structured": {"total": expected}}
        ws.send(json.dumps({"end": True}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
    assert closed.value.rcvd.code == 1000


def test_bad_messages_fail_their_own_item_and_the_stream_goes_on(server) -> None:
    with _ws(server, "running-sum") as ws:
        ws.send(json.dumps(_audio(1)))
        ws.send("not json")
        ws.send(json.dumps({"inputs": {"audio": "text, not a tensor"}}))
        ws.send(json.dumps({"model": "other", "inputs": {}}))
        ws.send(json.dumps(_audio(2)))
        ws.send(json.dumps({"end": True}))
        results = [_recv(ws) for _ in range(5)]
    # a refused message is answered at once, so errors may overtake earlier outputs
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    errors = [r["error"] for r in results if "error" in r]
    totals = [r["structured"]["total"] for r in results if "error" not in r]
    assert totals == [1, 3]
    assert [e["code"] for e in errors] == ["INVALID_ARGUMENT"] * 3
    messages = " | ".join(e["error"] for e in errors)
    assert "not JSON" in messages
    assert "'audio'" in messages
    assert "model" in messages


def test_messages_json_cannot_decode_fail_their_own_item(server) -> None:
    huge = '{"inputs": {"audio": ' + "7" * 5000 + "}}"
    deep = '{"inputs": {"audio": ' + "[" * 50_000 + "]" * 50_000 + "}}"
    with _ws(server, "running-sum") as ws:
        ws.send(huge)
        ws.send(deep)
        ws.send(json.dumps(_audio(2)))
        results = [_recv(ws) for _ in range(3)]
    errors = {r["index"]: r["error"] for r in results if "error" in r}
    assert "integer of more than" in errors[0]["error"]
    assert "nested too deeply" in errors[1]["error"]
    assert {e["reason"] for e in errors.values()} == {"INVALID_REQUEST"}
    assert [r["structured"] for r in results if "error" not in r] == [{"total": 2}]


def test_request_timeout_header_bounds_the_whole_stream(server, tmp_path: Path) -> None:
    marker = tmp_path / "closed"
    with _ws(server, "running-sum", additional_headers={"Request-Timeout": "1"}) as ws:
        ws.send(json.dumps({**_audio(2), "parameters": {"marker": str(marker)}}))
        assert _recv(ws)["structured"] == {"total": 2}
        last = _recv(ws)  # nothing more is sent: the second passes
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
    assert (last["reason"], last["code"]) == ("REQUEST_TIMEOUT", "DEADLINE_EXCEEDED")
    assert closed.value.rcvd.code == 1011
    for _ in range(100):
        if marker.exists():
            break
        time.sleep(0.1)
    assert marker.read_text() == "closed"


def test_async_stream_ends_with_the_models_last_output(server) -> None:
    with _ws(server, "async-upper") as ws:
        ws.send(json.dumps({"inputs": {"text": "hi"}, "request_id": "r-1"}))
        assert _recv(ws)["structured"] == {"text": "HI"}
        ws.send(json.dumps({"inputs": {"text": "there"}}))
        assert _recv(ws)["structured"] == {"text": "THERE"}
        ws.send(json.dumps({"end": True}))
        assert _recv(ws)["structured"] == {"text": "<end>"}
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
    assert closed.value.rcvd.code == 1000


def test_whole_call_failure_sends_the_error_body_and_closes_1011(server) -> None:
    with _ws(server, "async-upper") as ws:
        ws.send(json.dumps({"inputs": {"text": "boom"}}))
        last = _recv(ws)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
    assert closed.value.rcvd.code == 1011
    assert last["code"] == "INTERNAL"
    assert "secret detail" not in json.dumps(last)
    with _ws(server, "nope") as ws:
        assert _recv(ws)["reason"] == "MODEL_NOT_FOUND"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
    assert closed.value.rcvd.code == 1011


def test_client_going_away_closes_the_models_stream(server, tmp_path: Path) -> None:
    marker = tmp_path / "closed.txt"
    with _ws(server, "running-sum") as ws:
        body = {**_audio(1), "parameters": {"marker": str(marker)}}
        ws.send(json.dumps(body))
        assert _recv(ws)["structured"] == {"total": 1.0}
    deadline = time.monotonic() + 15
    while not marker.exists():
        assert time.monotonic() < deadline, "the model's stream was not closed"
        time.sleep(0.05)


def test_stream_needs_the_inference_token_when_one_is_set(start_server, tmp_path: Path) -> None:
    running = start_server(_store(tmp_path), inference_token="s3cret")
    with _ws(running, "async-upper") as ws:
        refused = _recv(ws)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
    assert closed.value.rcvd.code == 1008
    assert refused["code"] == "UNAUTHENTICATED"
    headers = {"Authorization": "Bearer s3cret"}
    for kwargs, query in (({"additional_headers": headers}, ""), ({}, "?token=s3cret")):
        with _ws(running, "async-upper", query, **kwargs) as ws:
            ws.send(json.dumps({"inputs": {"text": "ok"}}))
            assert _recv(ws)["structured"] == {"text": "OK"}


def test_a_foreign_pages_websocket_is_refused_with_1008(server) -> None:
    with _ws(server, "async-upper", origin="http://evil.test") as ws:
        refused = _recv(ws)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
    assert closed.value.rcvd.code == 1008
    assert refused["reason"] == "CROSS_SITE_REQUEST"
    own = f"http://127.0.0.1:{server.server.http_port}"
    with _ws(server, "async-upper", origin=own) as ws:
        ws.send(json.dumps({"inputs": {"text": "ok"}}))
        assert _recv(ws)["structured"] == {"text": "OK"}
