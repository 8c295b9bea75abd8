"""Open Inference Protocol v2 REST on the HTTP front door, through httpx against a real server."""

from __future__ import annotations

import concurrent.futures
import json
import struct
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.bundle_factory import write_bundle
from tests.oip_bundles import ECHO, SCORED

ADMIN = "admin-secret"
TOKENS = """
    import time
    from pathlib import Path

    import numpy as np
    from registry import ModelRunner, register

    @register("tokens")
    class Tokens(ModelRunner):  # generate only
        def generate(self, request):
            try:
                for i in range(int(request.param("n", 3))):
                    time.sleep(request.param("pause_ms", 0) / 1000)
                    if i == request.param("bad_at", -1):
                        yield {"token": object()}  # this item fails alone
                    else:
                        yield {"token": f"t{i}", "index": np.array([i], dtype=np.int64)}
            finally:
                if request.param("marker", ""):
                    Path(request.param("marker")).write_text("closed")
"""


SLOW = """
    import time
    from registry import ModelRunner, register

    @register("slow")
    class Slow(ModelRunner):
        def predict(self, request):
            time.sleep(request.param("sleep_s", 0))
            return {"done": True}
"""


def _store(root: Path) -> Path:
    store = root / "store"
    write_bundle(store, "slow", SLOW)
    write_bundle(store, "free", ECHO.format(name="free"))  # no declared inputs: takes anything
    write_bundle(
        store,
        "echo",
        ECHO.format(name="echo"),
        config={
            "inputs": [
                {"name": "x", "dtype": "float32", "shape": [-1, 3], "optional": True},
                {"name": "s", "dtype": "string", "optional": True},
                {"name": "note", "kind": "text", "optional": True},
            ]
        },
    )
    write_bundle(store, "scored", SCORED, config={"inputs": [{"name": "text", "kind": "text"}]})
    write_bundle(store, "tokens", TOKENS)
    return store


@pytest.fixture
def http(start_server, tmp_path: Path):
    server = start_server(_store(tmp_path), execution="inprocess")
    with httpx.Client(base_url=f"http://127.0.0.1:{server.server.http_port}", timeout=30) as client:
        yield client


def _outputs(answer: dict) -> dict[str, dict]:
    return {output["name"]: output for output in answer["outputs"]}


def test_health_readiness_and_server_metadata(http: httpx.Client) -> None:
    live = http.get("/v2/health/live")
    assert live.json() == {"live": True}, live.text
    ready = http.get("/v2/health/ready")
    assert ready.status_code == 200, ready.text
    model = http.get("/v2/models/echo/ready")
    assert model.json() == {"name": "echo", "ready": True}, model.text
    version = http.get("/v2/models/echo/versions/1/ready")
    assert version.status_code == 200, version.text
    missing = http.get("/v2/models/nope/ready")
    assert (missing.status_code, missing.json()["ready"]) == (503, False)
    assert http.get("/v2/models/echo/versions/9/ready").status_code == 503
    server = http.get("/v2").json()
    assert server["name"] == "modelrt"
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/v2/models/{name}/infer", "/v2/models/{name}/generate_stream"} <= set(paths)
    assert {"binary_tensor_data", "model_repository", "generate"} <= set(server["extensions"])
    timed = [
        (path, method)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "Request-Timeout" in {p["name"] for p in operation.get("parameters", [])}
    ]
    expected = {"infer", "generate", "generate_stream", "predict", "completions"}
    assert {path.rsplit("/", 1)[-1] for path, _ in timed} == expected
    assert len(timed) == 12  # the routes that read it, each with and without a version


def test_infer_takes_a_request_timeout_header(http: httpx.Client) -> None:
    body = {"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}
    fine = http.post("/v2/models/echo/infer", json=body, headers={"Request-Timeout": "30"})
    assert fine.status_code == 200, fine.text
    bad = http.post("/v2/models/echo/infer", json=body, headers={"Request-Timeout": "later"})
    assert bad.status_code == 400, bad.text
    assert "Request-Timeout" in bad.json()["error"]


def test_tritons_timeout_parameter_bounds_the_wait_in_the_queue(http: httpx.Client) -> None:
    def call(**parameters) -> httpx.Response:
        body = {"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}
        with httpx.Client(base_url=http.base_url, timeout=30) as own:
            return own.post("/v2/models/slow/infer", json=body | {"parameters": parameters})

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        busy = pool.submit(call, sleep_s=1.5)  # holds the one instance
        time.sleep(0.5)
        late = call(timeout=100_000)  # 0.1 s in the queue at most: dropped unrun
        assert busy.result().status_code == 200
    assert late.status_code == 504, late.text
    assert late.json()["reason"] == "DEADLINE_EXPIRED_IN_QUEUE"
    assert call(timeout=30_000_000).status_code == 200
    assert call(timeout=0).status_code == 200  # Triton's "no timeout"
    for bad in (-1, "soon", 0.5):
        reply = call(timeout=bad)
        assert reply.status_code == 400, reply.text
        assert "'timeout'" in reply.json()["error"]


def test_model_metadata_describes_declared_inputs(http: httpx.Client) -> None:
    for path in ("/v2/models/echo", "/v2/models/echo/versions/1"):
        meta = http.get(path).json()
        assert (meta["name"], meta["versions"]) == ("echo", ["1"])
        assert meta["inputs"] == [
            {"name": "x", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "s", "datatype": "BYTES", "shape": [-1]},
            {"name": "note", "datatype": "BYTES", "shape": [1]},
        ]
    config = http.get("/v2/models/echo/config").json()
    first = config["input"][0]
    assert (first["name"], first["data_type"], first["dims"]) == ("x", "TYPE_FP32", [-1, 3])
    stats = http.get("/v2/models/stats").json()["model_stats"]
    assert {entry["name"] for entry in stats} == {"free", "echo", "scored", "slow", "tokens"}
    assert http.get("/v2/models/echo/versions/1/stats").json()["model_stats"][0]["version"] == "1"
    missing = http.get("/v2/models/nope")
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]
    assert missing.json()["reason"] == "MODEL_NOT_FOUND"


def test_infer_json_tensors_fp32_int64_bytes_bool(http: httpx.Client) -> None:
    body = {
        "id": "j-1",
        "parameters": {"threshold": 0.5, "mode": "fast"},
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [[1, 2, 3], [4, 5, 6.5]]},
            {"name": "n", "datatype": "INT64", "shape": [2], "data": [2**40, -3]},
            {"name": "s", "datatype": "BYTES", "shape": [2], "data": ["héllo", "b"]},
            {"name": "flag", "datatype": "BOOL", "shape": [1, 2], "data": [True, False]},
        ],
    }
    reply = http.post("/v2/models/free/infer", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    answer = reply.json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("free", "1", "j-1")
    outputs = _outputs(answer)
    assert outputs["doubled"] == {
        "name": "doubled",
        "datatype": "FP32",
        "shape": [2, 3],
        "data": [2, 4, 6, 8, 10, 13],
    }
    assert (outputs["n"]["datatype"], outputs["n"]["data"]) == ("INT64", [2**40, -3])
    assert (outputs["s"]["datatype"], outputs["s"]["data"]) == ("BYTES", ["héllo", "b"])
    assert (outputs["flag"]["datatype"], outputs["flag"]["shape"]) == ("BOOL", [1, 2])
    assert outputs["flag"]["data"] == [True, False]
    structured = json.loads(outputs["structured"]["data"][0])  # what is not a tensor
    assert structured == {"params": {"threshold": 0.5, "mode": "fast"}}


def test_infer_asks_for_some_outputs_only(http: httpx.Client) -> None:
    body = {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}],
        "outputs": [{"name": "doubled"}],
    }
    answer = http.post("/v2/models/echo/versions/1/infer", json=body).json()
    assert [output["name"] for output in answer["outputs"]] == ["doubled"]
    unknown = http.post("/v2/models/echo/infer", json={**body, "outputs": [{"name": "zz"}]})
    assert unknown.status_code == 400
    assert "zz" in unknown.json()["error"]


def _binary_request(header: dict, *tensors: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    headers = {
        "Inference-Header-Content-Length": str(len(head)),
        "Content-Type": "application/octet-stream",
    }
    return head + b"".join(tensors), headers


def _split_answer(reply: httpx.Response) -> tuple[dict, bytes]:
    length = int(reply.headers["inference-header-content-length"])
    return json.loads(reply.content[:length]), reply.content[length:]


def test_infer_binary_tensor_data_in_and_out(http: httpx.Client) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    words = b"".join(struct.pack("<I", len(w)) + w for w in (b"\xff\x00raw", b"ok"))
    header = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [2, 3],
             "parameters": {"binary_data_size": x.nbytes}},
            {"name": "s", "datatype": "BYTES", "shape": [2],
             "parameters": {"binary_data_size": len(words)}},
            {"name": "note", "datatype": "BYTES", "shape": [1], "data": ["a note"]},
        ],
        "outputs": [
            {"name": "doubled", "parameters": {"binary_data": True}},
            {"name": "s", "parameters": {"binary_data": True}},
            {"name": "note"},
        ],
    }  # fmt: skip
    body, headers = _binary_request(header, x.tobytes(), words)
    reply = http.post("/v2/models/free/infer", content=body, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/octet-stream"
    answer, tail = _split_answer(reply)
    outputs = _outputs(answer)
    assert outputs["note"]["data"] == ["a note"]
    size = outputs["doubled"]["parameters"]["binary_data_size"]
    assert size == x.nbytes
    doubled = np.frombuffer(tail[:size], dtype=np.float32).reshape(outputs["doubled"]["shape"])
    np.testing.assert_array_equal(doubled, x * 2)
    assert tail[size:] == words  # the BYTES output, length-prefixed, as the input came


def test_binary_data_output_makes_every_output_binary(http: httpx.Client) -> None:
    body = {
        "parameters": {"binary_data_output": True},
        "inputs": [{"name": "flag", "datatype": "BOOL", "shape": [3], "data": [True, False, True]}],
    }
    reply = http.post("/v2/models/free/infer", json=body)
    answer, tail = _split_answer(reply)
    (flag,) = answer["outputs"]
    assert flag["parameters"] == {"binary_data_size": 3}
    assert tail == b"\x01\x00\x01"
    assert "structured" not in _outputs(answer)  # binary_data_output is no model parameter


@pytest.mark.parametrize(
    ("tensor", "words"),
    [
        ({"name": "x", "datatype": "FP99", "shape": [1], "data": [1]}, "FP99"),
        ({"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [1, 2, 3]}, "needs 6"),
        ({"name": "x", "datatype": "FP32", "shape": [1], "data": ["one"]}, "FP32 value"),
        ({"name": "x", "datatype": "INT8", "shape": [1], "data": [300]}, "INT8"),
        ({"name": "x", "datatype": "FP32", "shape": [1]}, "neither data"),
        ({"name": "x", "datatype": "FP32", "shape": "1", "data": [1]}, "shape"),
    ],
)
def test_malformed_tensors_are_400_naming_the_problem(http: httpx.Client, tensor, words) -> None:
    reply = http.post("/v2/models/free/infer", json={"inputs": [tensor]})
    assert reply.status_code == 400, reply.text
    assert words in reply.json()["error"]


def test_bad_bodies_methods_and_models(http: httpx.Client) -> None:
    not_json = http.post("/v2/models/free/infer", content=b"{nope")
    assert (not_json.status_code, "not JSON" in not_json.json()["error"]) == (400, True)
    for body, named in [(b'{"inputs": "\xff"}', "not UTF-8"), (b"[" * 50_000, "too deeply")]:
        reply = http.post("/v2/models/free/infer", content=body)
        assert (reply.status_code, named in reply.json()["error"]) == (400, True)
    header = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2],
                          "parameters": {"binary_data_size": 8}}]}  # fmt: skip
    body, headers = _binary_request(header, b"\x00" * 4)
    short = http.post("/v2/models/free/infer", content=body, headers=headers)
    assert (short.status_code, "binary_data_size" in short.json()["error"]) == (400, True)
    body, headers = _binary_request(header, b"\x00" * 8)
    headers["Inference-Header-Content-Length"] = "9999"
    wrong_length = http.post("/v2/models/free/infer", content=body, headers=headers)
    assert wrong_length.status_code == 400
    assert "Inference-Header-Content-Length" in wrong_length.json()["error"]
    wrong_method = http.get("/v2/models/free/infer")
    assert wrong_method.status_code == 405
    assert isinstance(wrong_method.json()["error"], str)
    missing = http.post("/v2/models/nope/infer", json={"inputs": []})
    assert (missing.status_code, missing.json()["reason"]) == (404, "MODEL_NOT_FOUND")
    assert "nope" in missing.json()["error"]
    text_as_number = http.post(
        "/v2/models/echo/infer",
        json={"inputs": [{"name": "note", "datatype": "FP32", "shape": [1], "data": [1]}]},
    )
    assert (text_as_number.status_code, "note" in text_as_number.json()["error"]) == (400, True)


def test_gzip_request_bodies_are_read(http: httpx.Client) -> None:
    import gzip

    body = {"inputs": [{"name": "n", "datatype": "INT32", "shape": [1], "data": [7]}]}
    packed = gzip.compress(json.dumps(body).encode())
    reply = http.post("/v2/models/free/infer", content=packed, headers={"Content-Encoding": "gzip"})
    assert _outputs(reply.json())["n"]["data"] == [7]


def _events(reply: httpx.Response) -> list[dict]:
    return [json.loads(line[5:]) for line in reply.iter_lines() if line.startswith("data:")]


def test_generate_stream_sends_one_event_per_token(http: httpx.Client) -> None:
    body = {"parameters": {"n": 3, "pause_ms": 20}}
    with http.stream("POST", "/v2/models/tokens/generate_stream", json=body) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = _events(reply)
    assert [(e["model_name"], e["structured"]["token"], e["index"]) for e in events] == [
        ("tokens", "t0", 0),
        ("tokens", "t1", 1),
        ("tokens", "t2", 2),
    ]


def test_generate_stream_reports_a_failed_item_and_goes_on(http: httpx.Client) -> None:
    body = {"parameters": {"n": 3, "bad_at": 1}}
    with http.stream("POST", "/v2/models/tokens/generate_stream", json=body) as reply:
        events = _events(reply)
    assert [e.get("index") for e in events] == [0, None, 2]
    assert isinstance(events[1]["error"], str)
    assert events[1]["reason"]


def test_closing_generate_stream_stops_the_model_generator(http: httpx.Client, tmp_path) -> None:
    marker = tmp_path / "closed"
    body = {"parameters": {"n": 100000, "pause_ms": 20, "marker": str(marker)}}
    with http.stream("POST", "/v2/models/tokens/generate_stream", json=body) as reply:
        first = next(line for line in reply.iter_lines() if line.startswith("data:"))
        assert json.loads(first[5:])["index"] == 0
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "closed"


def test_request_timeout_bounds_generate_and_generate_stream(http: httpx.Client, tmp_path) -> None:
    marker = tmp_path / "closed"
    limit = {"Request-Timeout": "0.5"}
    slow = {"parameters": {"n": 100000, "pause_ms": 100, "marker": str(marker)}}
    url = "/v2/models/tokens/generate_stream"
    with http.stream("POST", url, json=slow, headers=limit) as reply:
        assert reply.status_code == 200
        events = _events(reply)
    assert events[0]["index"] == 0
    assert (events[-1]["reason"], events[-1]["code"]) == ("REQUEST_TIMEOUT", "DEADLINE_EXCEEDED")
    assert len(events) < 10  # ended at its deadline, not after 100,000 tokens
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "closed"
    gathered = http.post("/v2/models/tokens/generate", json=slow, headers=limit)
    assert (gathered.status_code, gathered.json()["reason"]) == (504, "REQUEST_TIMEOUT")
    enough = {"Request-Timeout": "30"}
    fine = http.post("/v2/models/tokens/generate", json={"parameters": {"n": 2}}, headers=enough)
    assert fine.json()["index"] == [0, 1]


def test_generate_answers_once(http: httpx.Client) -> None:
    gathered = http.post("/v2/models/tokens/generate", json={"parameters": {"n": 2}}).json()
    assert gathered == {
        "model_name": "tokens",
        "model_version": "1",
        "index": [0, 1],
        "structured": [{"token": "t0"}, {"token": "t1"}],
    }
    scored = http.post("/v2/models/scored/generate", json={"text": "hi"}).json()
    assert scored["structured"] == {"label": "HI", "score": 0.5}
    streamed = http.post("/v2/models/scored/generate_stream", json={"text": "yo"})
    assert [e["structured"]["label"] for e in _events(streamed)] == ["YO"]


def test_generate_errors_before_the_model_runs_have_their_status(http: httpx.Client) -> None:
    missing = http.post("/v2/models/nope/generate_stream", json={"text_input": "hi"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert "nope" in missing.json()["error"]
    wrong = http.post("/v2/models/scored/generate", json={"text": 5})
    assert (wrong.status_code, "text" in wrong.json()["error"]) == (400, True)


def test_repository_index(http: httpx.Client) -> None:
    index = http.post("/v2/repository/index").json()
    assert {(e["name"], e["state"]) for e in index} == {
        ("free", "READY"),
        ("echo", "READY"),
        ("scored", "READY"),
        ("slow", "READY"),
        ("tokens", "READY"),
    }
    assert http.post("/v2/repository/index", json={"ready": True}).status_code == 200


def test_inference_routes_take_the_inference_token(start_server, tmp_path: Path) -> None:
    server = start_server(_store(tmp_path), execution="inprocess", inference_token="infer-me")
    body = {"inputs": [{"name": "n", "datatype": "INT32", "shape": [1], "data": [1]}]}
    with httpx.Client(base_url=f"http://127.0.0.1:{server.server.http_port}", timeout=30) as http:
        assert http.get("/v2/health/ready").status_code == 200  # probes stay open
        assert http.get("/v2/models/free/ready").status_code == 200
        for call in (
            lambda h: http.post("/v2/models/free/infer", json=body, headers=h),
            lambda h: http.post("/v2/models/tokens/generate_stream", json={}, headers=h),
            lambda h: http.get("/v2/models/free", headers=h),
        ):
            refused = call({})
            assert refused.status_code == 401
            assert refused.json()["reason"] == "MISSING_TOKEN"
            assert call({"Authorization": "Bearer infer-me"}).status_code == 200


def test_repository_load_and_unload_take_the_admin_token(start_server, tmp_path: Path) -> None:
    server = start_server(_store(tmp_path), execution="inprocess", admin_token=ADMIN)
    base = f"http://127.0.0.1:{server.server.http_port}"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        refused = http.post("/v2/repository/models/echo/unload")
        assert refused.status_code == 401
        assert isinstance(refused.json()["error"], str)
        wrong = http.post(
            "/v2/repository/models/echo/unload", headers={"Authorization": "Bearer x"}
        )
        assert wrong.status_code in (401, 403)
        assert http.get("/v2/models/echo/ready").status_code == 200
        assert http.post("/v2/repository/models/echo/unload", headers=admin).status_code == 200
        assert http.get("/v2/models/echo/ready").status_code == 503
        states = {e["name"]: e["state"] for e in http.post("/v2/repository/index").json()}
        assert states["echo"] == "UNAVAILABLE"
        assert http.post("/v2/repository/models/echo/load", headers=admin).status_code == 200
        assert http.get("/v2/models/echo/ready").status_code == 200
        missing = http.post("/v2/repository/models/nope/load", headers=admin)
        assert missing.status_code == 404


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"[" * 100_000, {}),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": ' + b"[" * 5000
         + b"1" + b"]" * 5000 + b"}]}", {}),
        (b"\x00\xff" * 100, {"Inference-Header-Content-Length": "3"}),
        (b'{"inputs": null}', {}),
        (b'{"inputs": [{"name": 1, "datatype": "FP32", "shape": [1], "data": [1]}]}', {}),
        (b'{"inputs": [], "outputs": [7]}', {}),
        (b"not gzip", {"Content-Encoding": "gzip"}),
    ],
)  # fmt: skip
def test_garbage_bodies_are_4xx_and_the_server_goes_on(
    http: httpx.Client, content, headers
) -> None:
    reply = http.post("/v2/models/free/infer", content=content, headers=headers)
    assert 400 <= reply.status_code < 500, reply.text
    assert isinstance(reply.json()["error"], str)
    assert http.get("/v2/health/live").status_code == 200
