"""What every HTTP door shares: model calls through OIP REST and the OpenAI routes count in the
model's request series (so /api/v1/stats and the playground's charts see them), and a page of
another site cannot make a visitor's browser run a model through any of them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.bundle_factory import write_bundle

# Predict: echoes its text input; Generate: one item per word of the prompt.
ECHO = """
    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            return {"text": request["prompt"]}

        def generate(self, request):
            for word in request["prompt"].split():
                yield {"token": word}
"""


@pytest.fixture
def http(start_server, tmp_path: Path) -> httpx.Client:
    store = tmp_path / "store"
    write_bundle(store, "echo", ECHO, config={"inputs": [{"name": "prompt", "kind": "text"}]})
    running = start_server(store)
    with httpx.Client(base_url=f"http://127.0.0.1:{running.server.http_port}", timeout=30) as c:
        yield c


def _requests(http: httpx.Client) -> int:
    stats = http.get("/api/v1/stats").json()
    return int(stats["models"].get("echo", {}).get("requests", 0))


def test_oip_and_openai_calls_count_in_the_models_series(http: httpx.Client) -> None:
    before = _requests(http)
    infer = {"inputs": [{"name": "prompt", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}
    assert http.post("/v2/models/echo/infer", json=infer).status_code == 200
    assert http.post("/v2/models/echo/generate", json={"prompt": "a b"}).status_code == 200
    with http.stream("POST", "/v2/models/echo/generate_stream", json={"prompt": "a b"}) as r:
        assert r.status_code == 200
        r.read()
    completion = {"model": "echo", "prompt": "one two three", "max_tokens": 5}
    assert http.post("/v1/completions", json=completion).status_code == 200
    assert _requests(http) == before + 4
    metrics = http.get("/api/v1/stats").json()
    assert metrics["models"]["echo"]["errors"] == 0


def test_an_unknown_model_makes_no_series(http: httpx.Client) -> None:
    infer = {"inputs": [{"name": "prompt", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}
    assert http.post("/v2/models/nobody/infer", json=infer).status_code == 404
    assert "nobody" not in http.get("/api/v1/stats").json()["models"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v2/models/echo/infer", {"inputs": []}),
        ("/v2/models/echo/generate", {"prompt": "a"}),
        ("/v2/repository/models/echo/unload", {}),
        ("/v1/completions", {"model": "echo", "prompt": "a"}),
        ("/v1/chat/completions", {"model": "echo", "messages": [{"role": "user", "content": "a"}]}),
    ],
)
def test_a_foreign_page_cannot_call_a_model(http: httpx.Client, path: str, body: dict) -> None:
    refused = http.post(path, json=body, headers={"Origin": "http://evil.test"})
    assert refused.status_code == 403, refused.text
    assert "CROSS_SITE_REQUEST" in refused.text or "cross_site_request" in refused.text
    assert http.get("/v2/models/echo/ready").status_code == 200  # nothing was unloaded


def test_auth_errors_speak_http(start_server, tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_bundle(store, "echo", ECHO, config={"inputs": [{"name": "prompt", "kind": "text"}]})
    running = start_server(store, inference_token="in-token", admin_token="admin-token")
    base = f"http://127.0.0.1:{running.server.http_port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        body = {"inputs": {"prompt": "hi"}}
        missing = http.post("/api/v1/models/echo/predict", json=body)
        assert missing.status_code == 401
        assert missing.json()["error"] == (
            "POST /api/v1/models/echo/predict needs the inference or admin token: send header "
            "'authorization: Bearer <token>'"
        )
        assert missing.json()["metadata"]["method"] == "POST /api/v1/models/echo/predict"
        wrong = http.post("/api/v1/models/echo/unload", headers={"Authorization": "Token x"})
        assert wrong.status_code == 401
        assert "the authorization header is not of the form" in wrong.json()["error"]
        headers = {"Authorization": "Bearer in-token"}
        assert http.post("/api/v1/models/echo/predict", json=body, headers=headers).is_success
