"""modelrt's own JSON API under /api/v1 over a real server: cards, card pictures, Predict, and
the front door's cross-cutting rules (errors, auth, limits, CORS, TLS, metrics)."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests import gesund_factory as gf
from tests.bundle_factory import write_bundle
from tests.tls_factory import CertificateAuthority

pytestmark = pytest.mark.timeout(120)

ECHO = """
    import time

    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            time.sleep(request.param("sleep_s", 0))
            if request.param("fail", "") == "crash":
                raise ZeroDivisionError("secret internal detail")
            out = dict(request.inputs)
            out["params"] = dict(request.parameters)
            return out
"""

# Yields {"tick": i} n times: first after `first_s`, the others `pause_s` apart; writes "closed"
# to `marker` when its generator is closed.
TICKER = """
    import time
    from pathlib import Path

    from registry import ModelRunner, register

    @register("ticker")
    class Ticker(ModelRunner):
        def generate(self, request):
            try:
                for i in range(int(request.param("n", 3))):
                    time.sleep(float(request.param("pause_s" if i else "first_s", 0)))
                    yield {"tick": i}
            finally:
                if request.param("marker", ""):
                    Path(request.param("marker")).write_text("closed")
"""

SCORED = """
    import numpy as np
    import pydantic
    from registry import ModelRunner, register, outschema

    @outschema("scored")
    class Scored(pydantic.BaseModel):
        label: str
        score: float

    @register("scored")
    class Model(ModelRunner):
        def predict(self, request):
            return {"label": "cat", "score": 0.9, "logits": request["x"] * 2}
"""

BROKEN = """
    from registry import ModelRunner, register

    @register("broken")
    class Broken(ModelRunner):
        def load_model(self):
            raise RuntimeError("weights file is missing")

        def predict(self, request):
            return {}
"""

BATCHER = """
    from registry import ModelRunner, register

    @register("batcher")
    class Batcher(ModelRunner):
        def predict_batch(self, requests):
            return [{"n": len(requests)} for _ in requests]
"""

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
SCORED_INPUTS = [{"name": "x", "dtype": "float32", "shape": [-1, 2]}]


def _store(root: Path) -> Path:
    store = root / "store"
    write_bundle(store, "echo", ECHO, files={"card.png": PNG})
    write_bundle(store, "ticker", TICKER)
    write_bundle(
        store,
        "scored",
        SCORED,
        config={"inputs": SCORED_INPUTS, "model_type": "classification", "description": "cats"},
    )
    write_bundle(store, "broken", BROKEN)
    write_bundle(store, "batcher", BATCHER, config={"batching": {"max_batch_size": 4}})
    return store


@pytest.fixture
def server(start_server, tmp_path: Path):
    return start_server(_store(tmp_path), execution="inprocess")


def _client(running, **kwargs) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{running.server.http_port}", timeout=30, **kwargs
    )


def _assert_error(reply: httpx.Response, status: int, reason: str) -> dict:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["reason"] == reason, body
    assert body["error"]
    return body


# --- cards ---------------------------------------------------------------------------------------


def test_models_list_cards_with_state_schema_inputs_and_failed_reason(server) -> None:
    with _client(server) as http:
        cards = {card["name"]: card for card in http.get("/api/v1/models").json()["models"]}
    assert set(cards) == {"echo", "ticker", "scored", "broken", "batcher"}
    assert cards["batcher"]["batching"]["max_batch_size"] == 4
    assert cards["scored"]["batching"] is None
    scored = cards["scored"]
    assert scored["state"] == "READY"
    assert scored["failed_reason"] is None
    assert scored["capabilities"] == ["predict"]
    assert scored["model_type"] == "classification"
    assert scored["description"] == "cats"
    assert scored["inputs"] == [
        {"name": "x", "kind": "tensor", "dtype": "float32", "shape": [-1, 2], "optional": False}
    ]
    assert scored["output_schema"]["properties"]["score"]["type"] == "number"
    assert scored["image_url"] == "/api/v1/models/scored/image"
    assert scored["versions"] == ["1"]
    assert cards["echo"]["output_schema"] is None
    assert cards["broken"]["state"] == "FAILED"
    assert "weights file is missing" in cards["broken"]["failed_reason"]


def test_model_card_by_name_and_version_and_unknown_ones_are_404(server) -> None:
    with _client(server) as http:
        assert http.get("/api/v1/models/scored").json()["version"] == "1"
        assert http.get("/api/v1/models/scored/versions/1").json()["name"] == "scored"
        body = _assert_error(http.get("/api/v1/models/nope"), 404, "MODEL_NOT_FOUND")
        assert body["code"] == "NOT_FOUND"
        assert "nope" in body["error"]
        _assert_error(http.get("/api/v1/models/scored/versions/7"), 404, "MODEL_NOT_FOUND")
        _assert_error(http.get("/api/v1/models/-bad"), 400, "INVALID_MODEL_NAME")


def test_card_image_is_the_bundles_own_or_a_generated_placeholder(server) -> None:
    with _client(server) as http:
        own = http.get("/api/v1/models/echo/image")
        placeholder = http.get("/api/v1/models/scored/image")
        missing = http.get("/api/v1/models/nope/image")
    assert own.status_code == 200
    assert own.headers["content-type"] == "image/png"
    assert own.content == PNG
    assert placeholder.headers["content-type"] == "image/svg+xml"
    assert placeholder.content.startswith(b"<svg")
    assert b">SC<" in placeholder.content
    _assert_error(missing, 404, "MODEL_NOT_FOUND")


def test_card_image_named_in_modelrt_yaml_is_served(start_server, tmp_path: Path) -> None:
    store = tmp_path / "store"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>'
    files = {"art/picture.svg": svg, "card.png": PNG}
    config = {"card_image": "art/picture.svg"}
    write_bundle(store, "echo", ECHO, config=config, files=files)
    running = start_server(store, execution="inprocess")
    with _client(running) as http:
        reply = http.get("/api/v1/models/echo/image")
    assert reply.headers["content-type"] == "image/svg+xml"
    assert reply.content == svg
    assert "default-src 'none'" in reply.headers["content-security-policy"]


def test_gesund_zip_card_picture_is_served(start_server, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    jpeg = b"\xff\xd8\xff\xe0 not really a jpeg"
    folder = gf.write_gesund(
        tmp_path / "src",
        "onnx-net",
        gf.ONNX_MODEL,
        ("model.onnx", gf.onnx_weights()),
        loss_method="__call__",
        files={"Model_Card.JPG": jpeg},
    )
    gf.zip_gesund(folder, store / "onnx-net.zip", top_folder="onnx-net")
    running = start_server(store, execution="inprocess")
    with _client(running) as http:
        card = http.get("/api/v1/models/onnx-net").json()
        reply = http.get(card["image_url"])
    assert card["format"] == "gesund"
    assert reply.headers["content-type"] == "image/jpeg"
    assert reply.content == jpeg


# --- predict -------------------------------------------------------------------------------------


def test_predict_takes_every_value_form_and_answers_outputs_and_structured(server) -> None:
    raw = b"\x00\xffraw"
    body = {
        "inputs": {
            "t": {"tensor": {"dtype": "FP32", "shape": [2, 2], "contents": [1, 2, 3, 4]}},
            "nested": {"tensor": {"dtype": "int64", "contents": [[1, 2], [3, 4]]}},
            "b": {"bytes_b64": base64.b64encode(raw).decode()},
            "s": {"text": "héllo"},
            "short": "plain text",
            "j": {"json": {"a": [1, 2]}},
            "obj": {"k": 1},
        },
        "parameters": {"temperature": 0.5},
        "request_id": "req-7",
    }
    with _client(server) as http:
        reply = http.post("/api/v1/models/echo/predict", json=body)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert (answer["model"], answer["version"], answer["request_id"]) == ("echo", "1", "req-7")
    outputs, structured = answer["outputs"], answer["structured"]
    assert outputs["t"] == {"tensor": {"dtype": "FP32", "shape": [2, 2], "contents": [1, 2, 3, 4]}}
    assert outputs["nested"]["tensor"] == {
        "dtype": "INT64",
        "shape": [2, 2],
        "contents": [1, 2, 3, 4],
    }
    assert base64.b64decode(outputs["b"]["bytes_b64"]) == raw
    assert structured["s"] == "héllo"
    assert structured["short"] == "plain text"
    assert structured["j"] == {"a": [1, 2]}
    assert structured["obj"] == {"k": 1}
    assert structured["params"] == {"temperature": 0.5}


def test_predict_by_version_answers_the_schema_validated_structured_output(server) -> None:
    body = {"inputs": {"x": {"tensor": {"dtype": "FP32", "shape": [1, 2], "contents": [1, 2]}}}}
    with _client(server) as http:
        reply = http.post("/api/v1/models/scored/versions/1/predict", json=body)
    answer = reply.json()
    assert answer["structured"] == {"label": "cat", "score": 0.9}
    assert answer["outputs"]["logits"]["tensor"]["contents"] == [2, 4]
    assert len(answer["request_id"]) == 32


@pytest.mark.parametrize(
    ("inputs", "named"),
    [
        ({}, "'x'"),  # missing
        ({"x": {"tensor": {"dtype": "INT32", "shape": [1, 2], "contents": [1, 2]}}}, "'x'"),
        ({"x": {"tensor": {"dtype": "FP32", "shape": [3], "contents": [1, 2]}}}, "'x'"),
        ({"x": {"tensor": {"dtype": "FP99", "contents": [1]}}}, "'x'"),
        ({"x": {"tensor": {"dtype": "FP32", "contents": ["a", "b"]}}}, "'x'"),
        ({"x": {"bytes_b64": "not base64!"}}, "'x'"),
    ],
)
def test_predict_bad_input_is_400_naming_the_input(server, inputs, named) -> None:
    with _client(server) as http:
        reply = http.post("/api/v1/models/scored/predict", json={"inputs": inputs})
    body = _assert_error(reply, 400, "INVALID_INPUT")
    assert named in body["error"]


def test_predict_malformed_body_wrong_method_and_unready_model(server) -> None:
    with _client(server) as http:
        not_json = http.post(
            "/api/v1/models/echo/predict",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        extra = http.post("/api/v1/models/echo/predict", json={"inputz": {}})
        form_type = http.post(
            "/api/v1/models/echo/predict",
            content=b'{"inputs": {}}',
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        wrong_method = http.get("/api/v1/models/echo/predict")
        unknown = http.post("/api/v1/models/nope/predict", json={})
        failed = http.post("/api/v1/models/broken/predict", json={})
    assert _assert_error(not_json, 400, "INVALID_REQUEST")["code"] == "INVALID_ARGUMENT"
    assert "inputz" in _assert_error(extra, 400, "INVALID_REQUEST")["error"]
    assert "application/json" in _assert_error(form_type, 400, "INVALID_REQUEST")["error"]
    _assert_error(wrong_method, 405, "METHOD_NOT_ALLOWED")
    _assert_error(unknown, 404, "MODEL_NOT_FOUND")
    assert "weights file is missing" in _assert_error(failed, 503, "MODEL_NOT_READY")["error"]


#: Bodies json.loads refuses in each of its ways, and what the 400 must say.
UNDECODABLE_BODIES = [
    (b'{"inputs": {"x": "\xff"}}', "not UTF-8 (byte 0xff at offset 18)"),
    (b'{"inputs": {"x": ' + b"7" * 5000 + b"}}", "integer of more than"),
    (b'{"inputs": {"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}", "nested too deeply"),
    (b'{"inputs": {}} trailing', "Extra data"),
]


@pytest.mark.parametrize(("body", "named"), UNDECODABLE_BODIES)
def test_a_body_that_is_not_json_is_400_saying_why(server, body: bytes, named: str) -> None:
    headers = {"content-type": "application/json"}
    with _client(server) as http:
        reply = http.post("/api/v1/models/echo/predict", content=body, headers=headers)
        generate = http.post("/api/v1/models/echo/generate", content=body, headers=headers)
        ready = http.get("/api/v1/models/echo")
    for answer in (reply, generate):
        message = _assert_error(answer, 400, "INVALID_REQUEST")["error"]
        assert message.startswith("the body is not JSON: ")
        assert named in message
    assert ready.json()["state"] == "READY"


def test_model_crash_is_500_with_an_error_id_and_no_traceback(server) -> None:
    body = {"inputs": {"a": "b"}, "parameters": {"fail": "crash"}}
    with _client(server) as http:
        reply = http.post("/api/v1/models/echo/predict", json=body)
    assert reply.status_code == 500
    answer = reply.json()
    assert answer["code"] == "INTERNAL"
    assert answer["metadata"]["error_id"]
    assert "Traceback" not in reply.text
    assert "secret internal detail" not in reply.text


def test_request_timeout_header_bounds_a_predict(server) -> None:
    slow = {"inputs": {"a": "b"}, "parameters": {"sleep_s": 5}}
    with _client(server) as http:
        started = time.monotonic()
        late = http.post(
            "/api/v1/models/echo/predict", json=slow, headers={"Request-Timeout": "0.3"}
        )
        waited = time.monotonic() - started
        body = _assert_error(late, 504, "REQUEST_TIMEOUT")
        assert "echo" in body["error"]
        assert "Request-Timeout" in body["error"]
        assert waited < 4.5  # answered at its deadline, not when the model finished
        for bad in ("soon", "0", "-1", "nan", "1e9"):
            reply = http.post(
                "/api/v1/models/echo/predict", json={}, headers={"Request-Timeout": bad}
            )
            assert "Request-Timeout" in _assert_error(reply, 400, "INVALID_REQUEST")["error"]
        fine = http.post(
            "/api/v1/models/echo/predict",
            json={"inputs": {"a": "b"}},
            headers={"Request-Timeout": "30"},
        )
    assert fine.status_code == 200, fine.text
    assert fine.json()["structured"]["a"] == "b"


def _events(text: str) -> list[tuple[str, dict]]:
    """(event name, data) of each Server-Sent Event in ``text``."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines.get("event", ""), json.loads(lines["data"])))
    return events


def test_request_timeout_header_bounds_a_whole_generate(server, tmp_path: Path) -> None:
    marker = tmp_path / "closed"
    late_start = {"parameters": {"first_s": 3}}
    stalls = {"parameters": {"pause_s": 3, "marker": str(marker)}}
    limit = {"Request-Timeout": "0.5"}
    with _client(server) as http:
        started = time.monotonic()
        before = http.post("/api/v1/models/ticker/generate", json=late_start, headers=limit)
        waited = time.monotonic() - started
        during = http.post("/api/v1/models/ticker/generate", json=stalls, headers=limit)
        enough = {"Request-Timeout": "30"}
        whole = http.post("/api/v1/models/ticker/generate", json={}, headers=enough)
    assert "Request-Timeout" in _assert_error(before, 504, "REQUEST_TIMEOUT")["error"]
    assert waited < 2.5  # answered at its deadline, not when the first item came
    assert during.status_code == 200
    (_, first), (kind, error) = _events(during.text)
    assert (first["structured"], kind, error["reason"]) == ({"tick": 0}, "error", "REQUEST_TIMEOUT")
    assert error["code"] == "DEADLINE_EXCEEDED"
    assert [kind for kind, _ in _events(whole.text)] == ["", "", "", "done"]
    for _ in range(100):  # the model's generator was closed (it ends its 3 s sleep first)
        if marker.exists():
            break
        time.sleep(0.1)
    assert marker.read_text() == "closed"


NON_FINITE = """
    import numpy as np
    from registry import ModelRunner, register

    def scaled(request):
        with np.errstate(over="ignore"):  # 3e38 * 2 is meant to overflow to infinity
            return {"y": request["x"] * np.float32(request.param("by", 1.0))}

    @register("scaler")
    class Scaler(ModelRunner):
        def predict(self, request):
            return scaled(request)

        def generate(self, request):
            yield scaled(request)

        def stream(self, requests):
            for request in requests:
                yield scaled(request)
"""


def _strict_json(text: str) -> dict:
    """Parse as a browser's JSON.parse would: no bare NaN or Infinity tokens."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} is not JSON: {text[:200]}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_cross_every_json_door_as_strings(start_server, tmp_path: Path) -> None:
    from websockets.sync.client import connect

    store = tmp_path / "store"
    write_bundle(store, "scaler", NON_FINITE, config={"inputs": SCORED_INPUTS})
    running = start_server(store, execution="inprocess")
    sent = {"tensor": {"dtype": "FP32", "contents": [[1, "NaN"], ["Infinity", "-Infinity"]]}}
    body = {"inputs": {"x": sent}, "parameters": {"by": 2.0}}
    want = [2.0, "NaN", "Infinity", "-Infinity"]
    with _client(running) as http:
        reply = http.post("/api/v1/models/scaler/predict", json=body)
        assert reply.status_code == 200, reply.text
        assert _strict_json(reply.text)["outputs"]["y"]["tensor"]["contents"] == want
        events = http.post("/api/v1/models/scaler/generate", json=body).text
        data = [line[6:] for line in events.splitlines() if line.startswith("data: {")]
        assert _strict_json(data[0])["outputs"]["y"]["tensor"]["contents"] == want
        overflow = {"inputs": {"x": {"tensor": {"dtype": "FP32", "contents": [[3e38, 1]]}}}}
        reply = http.post(
            "/api/v1/models/scaler/predict", json=overflow | {"parameters": body["parameters"]}
        )
        assert _strict_json(reply.text)["outputs"]["y"]["tensor"]["contents"] == ["Infinity", 2.0]
    url = f"ws://127.0.0.1:{running.server.http_port}/api/v1/models/scaler/stream"
    with connect(url) as socket:
        socket.send(json.dumps(body))
        assert (
            _strict_json(str(socket.recv(timeout=30)))["outputs"]["y"]["tensor"]["contents"] == want
        )


# --- cross-cutting -------------------------------------------------------------------------------


def test_inference_token_is_required_on_predict_when_set(start_server, tmp_path: Path) -> None:
    running = start_server(_store(tmp_path), execution="inprocess", inference_token="s3cret")
    body = {"inputs": {"a": "b"}}
    with _client(running) as http:
        missing = http.post("/api/v1/models/echo/predict", json=body)
        wrong = http.post(
            "/api/v1/models/echo/predict", json=body, headers={"Authorization": "Bearer nope"}
        )
        right = http.post(
            "/api/v1/models/echo/predict", json=body, headers={"Authorization": "Bearer s3cret"}
        )
    assert _assert_error(missing, 401, missing.json()["reason"])["code"] == "UNAUTHENTICATED"
    assert wrong.status_code in (401, 403)
    assert right.status_code == 200
    assert right.json()["structured"] == {"a": "b", "params": {}}
    with _client(running) as http:
        assert http.get("/api/v1/models").status_code == 401
        assert http.get("/api/v1/stats").status_code == 401
        assert http.get("/api/v1/models/echo/image").status_code == 401
        assert http.get("/api/v1/models/echo/image", params={"token": "s3cret"}).content == PNG
        token = {"Authorization": "Bearer s3cret"}
        assert http.get("/api/v1/models", headers=token).status_code == 200


def test_oversize_predict_body_is_413(start_server, tmp_path: Path) -> None:
    running = start_server(_store(tmp_path), execution="inprocess", max_message_bytes=4096)
    body = {"inputs": {"a": "x" * 10_000}}
    with _client(running) as http:
        announced = http.post("/api/v1/models/echo/predict", json=body)
        chunked = http.post(
            "/api/v1/models/echo/predict",
            content=iter([b'{"inputs": {"a": "', b"x" * 10_000, b'"}}']),
            headers={"content-type": "application/json"},
        )
        small = http.post("/api/v1/models/echo/predict", json={"inputs": {"a": "x"}})
    _assert_error(announced, 413, "BODY_TOO_LARGE")
    _assert_error(chunked, 413, "BODY_TOO_LARGE")
    assert small.status_code == 200


def test_cors_is_off_by_default(server) -> None:
    headers = {"Origin": "http://example.test"}
    with _client(server) as http:
        reply = http.get("/api/v1/models", headers=headers)
    assert reply.status_code == 200
    assert "access-control-allow-origin" not in reply.headers


def test_cors_origins_setting_allows_those_origins(start_server, tmp_path: Path) -> None:
    origin = "http://example.test"
    running = start_server(_store(tmp_path), execution="inprocess", cors_origins=[origin])
    with _client(running) as http:
        reply = http.get("/api/v1/models", headers={"Origin": origin})
        preflight = http.options(
            "/api/v1/models/echo/predict",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        other = http.get("/api/v1/models", headers={"Origin": "http://elsewhere.test"})
    assert reply.headers["access-control-allow-origin"] == origin
    assert preflight.status_code == 200
    with _client(running) as http:
        body = {"inputs": {"a": "b"}}
        allowed = http.post("/api/v1/models/echo/predict", json=body, headers={"Origin": origin})
        foreign = http.post(
            "/api/v1/models/echo/predict", json=body, headers={"Origin": "http://evil.test"}
        )
    assert allowed.status_code == 200
    assert foreign.status_code == 403
    assert foreign.json()["reason"] == "CROSS_SITE_REQUEST"
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in other.headers


def test_json_api_is_served_over_tls(start_server, tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "pki")
    cert = ca.issue_server()
    running = start_server(
        _store(tmp_path),
        wait=False,
        execution="inprocess",
        tls_cert_file=cert.cert_file,
        tls_key_file=cert.key_file,
    )
    base = f"https://localhost:{running.server.http_port}"
    with httpx.Client(
        base_url=base, verify=ssl.create_default_context(cafile=ca.issued.cert_file), timeout=30
    ) as http:
        deadline = time.monotonic() + 30
        # wait=False (the gRPC readiness probe speaks plaintext): the card is 404 until found
        while (card := http.get("/api/v1/models/echo")).json().get("state") != "READY":
            assert time.monotonic() < deadline, card.text
            time.sleep(0.1)
        reply = http.post("/api/v1/models/echo/predict", json={"inputs": {"a": "b"}})
    assert reply.json()["structured"]["a"] == "b"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{running.server.http_port}/api/v1/models", timeout=5)


def _http_series(server) -> list[str]:
    url = f"http://127.0.0.1:{server.server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return [line for line in text.splitlines() if line.startswith("modelrt_http_requests_total")]


def test_requests_are_counted_by_route_template_and_status(server) -> None:
    with _client(server) as http:
        http.post("/api/v1/models/echo/predict", json={"inputs": {"a": "b"}})
        http.get("/api/v1/models/nope")
    wanted = [
        ('route="/api/v1/models/{name}/predict"', 'status="200"'),
        ('route="/api/v1/models/{name}"', 'status="404"'),
    ]
    deadline = time.monotonic() + 10
    while not all(any(r in s and c in s for s in _http_series(server)) for r, c in wanted):
        assert time.monotonic() < deadline, "\n".join(_http_series(server))
        time.sleep(0.1)
    assert not any("/api/v1/models/nope" in line for line in _http_series(server))


def test_stats_count_each_models_calls_errors_and_latency(server) -> None:
    with _client(server) as http:
        for _ in range(3):
            http.post("/api/v1/models/echo/predict", json={"inputs": {"a": "b"}})
        http.post("/api/v1/models/echo/predict", json={"parameters": {"fail": "crash"}})
        http.post("/api/v1/models/nope/predict", json={})
        for _ in range(2):
            http.post("/api/v1/models/batcher/predict", json={})
        stats = http.get("/api/v1/stats").json()
    assert stats["time"] == pytest.approx(time.time(), abs=60)
    assert set(stats["models"]) == {"echo", "ticker", "scored", "broken", "batcher"}
    echo = stats["models"]["echo"]
    assert echo["requests"] == 4
    assert echo["errors"] == 1
    assert echo["latency_count"] == 4
    assert echo["latency_sum_s"] > 0
    batcher = stats["models"]["batcher"]
    assert batcher["requests"] == 2
    assert batcher["batches"] == 2  # one at a time: each call is its own batch
    assert batcher["batch_size_sum"] == 2
    assert stats["models"]["scored"] == dict.fromkeys(
        ["requests", "errors", "latency_sum_s", "latency_count", "batches", "batch_size_sum"], 0
    )


def test_stats_without_metrics_list_no_models(start_server, tmp_path: Path) -> None:
    running = start_server(_store(tmp_path), execution="inprocess", metrics_port=None)
    with _client(running) as http:
        stats = http.get("/api/v1/stats").json()
    assert stats["metrics"] is False
    assert stats["models"] == {}
