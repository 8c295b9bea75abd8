"""Upload, load, unload and delete over modelrt's JSON API: multipart and raw (announced or
chunked) bodies through the same checks as the Upload RPC, and the admin token's rules."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.bundle_factory import write_bundle, zip_folder

pytestmark = pytest.mark.timeout(180)

DOUBLER = """
    from registry import ModelRunner, register

    @register("{name}")
    class Doubler(ModelRunner):
        def predict(self, request):
            return {{"y": request["x"] * {factor}}}
"""
X = {"inputs": {"x": {"json": 21}}}


def _zip(tmp_path: Path, name: str, factor: int = 2) -> bytes:
    folder = write_bundle(
        tmp_path / "src", name, DOUBLER.format(name=name, factor=factor), folder=f"{name}-{factor}"
    )
    return zip_folder(folder, tmp_path / f"{name}-{factor}.zip").read_bytes()


def _client(running, **kwargs) -> httpx.Client:
    base = f"http://127.0.0.1:{running.server.http_port}/api/v1"
    return httpx.Client(base_url=base, timeout=120, **kwargs)


def _staging_is_empty(store: Path) -> bool:
    staging = store / ".staging"
    return not staging.exists() or not any(staging.iterdir())


@pytest.fixture
def server(start_server):
    return start_server(execution="inprocess")


def test_multipart_upload_stores_loads_and_answers_the_card_with_201(server, tmp_path) -> None:
    data = _zip(tmp_path, "doubler")
    with _client(server) as http:
        reply = http.post("/uploads", files={"bundle": ("doubler.zip", data, "application/zip")})
        assert reply.status_code == 201, reply.text
        card = reply.json()
        assert (card["name"], card["version"], card["state"]) == ("doubler", "1", "READY")
        assert card["sha256"] == hashlib.sha256(data).hexdigest()
        assert card["created"]
        assert http.post("/models/doubler/predict", json=X).json()["structured"] == {"y": 42}
    assert _staging_is_empty(server.store)


def test_multipart_fields_name_the_version_check_the_sha256_and_skip_the_load(
    server, tmp_path
) -> None:
    data = _zip(tmp_path, "doubler")
    fields = {"namespace": "doubler", "version": "7", "skip_load": "true"}
    with _client(server) as http:
        bad = http.post(
            "/uploads",
            files={"bundle": ("b.zip", data)},
            data={**fields, "sha256": "0" * 64},
        )
        good = http.post(
            "/uploads",
            files={"bundle": ("b.zip", data)},
            data={**fields, "sha256": hashlib.sha256(data).hexdigest()},
        )
        assert http.get("/models").json()["models"][0]["state"] == "UNLOADED"
    assert bad.status_code == 500
    assert bad.json()["reason"] == "UPLOAD_CORRUPT"
    assert good.status_code == 201, good.text
    assert (good.json()["version"], good.json()["state"]) == ("7", "UNLOADED")
    assert _staging_is_empty(server.store)


def test_raw_upload_announced_or_chunked(server, tmp_path) -> None:
    v1, v2 = _zip(tmp_path, "doubler"), _zip(tmp_path, "doubler", factor=3)
    digest = hashlib.sha256(v1).hexdigest()
    with _client(server) as http:
        announced = http.post(
            "/uploads",
            params={"sha256": digest, "filename": "doubler.zip"},
            content=v1,
            headers={"content-type": "application/zip"},
        )
        chunks = [v2[i : i + 1000] for i in range(0, len(v2), 1000)]
        chunked = http.post(
            "/uploads",
            params={"version": "2"},
            content=iter(chunks),
            headers={"content-type": "application/octet-stream"},
        )
        answer = http.post("/models/doubler/predict", json=X).json()
    assert announced.status_code == 201, announced.text
    assert announced.json()["sha256"] == digest
    assert chunked.status_code == 201, chunked.text
    assert chunked.json()["version"] == "2"
    assert (answer["version"], answer["structured"]) == ("2", {"y": 63})


def test_oversize_uploads_are_413_and_leave_the_store_unchanged(start_server, tmp_path) -> None:
    running = start_server(execution="inprocess", max_upload_bytes=200)
    data = _zip(tmp_path, "doubler")
    assert len(data) > 200
    with _client(running) as http:
        multipart = http.post("/uploads", files={"bundle": ("b.zip", data)})
        announced = http.post(
            "/uploads",
            content=data,
            params={"sha256": hashlib.sha256(data).hexdigest()},
            headers={"content-type": "application/zip"},
        )
        chunked = http.post(
            "/uploads", content=iter([data]), headers={"content-type": "application/zip"}
        )
        listed = http.get("/models").json()["models"]
    for reply in (multipart, announced, chunked):
        assert reply.status_code == 413
        assert reply.json()["reason"] in ("BODY_TOO_LARGE", "UPLOAD_TOO_LARGE")
    assert listed == []
    assert _staging_is_empty(running.store)


def test_bad_uploads_are_refused_and_leave_the_store_unchanged(server) -> None:
    with _client(server) as http:
        not_zip = http.post(
            "/uploads", content=b"not a zip", headers={"content-type": "application/zip"}
        )
        no_file = http.post("/uploads", data={"namespace": "doubler"}, files={"x": ("a", b"b")})
        wrong_type = http.post("/uploads", content=b"{}", headers={"content-type": "text/plain"})
        bad_name = http.post(
            "/uploads",
            params={"namespace": "../etc"},
            content=b"x",
            headers={"content-type": "application/zip"},
        )
        listed = http.get("/models").json()["models"]
    assert not_zip.status_code == 400
    assert not_zip.json()["code"] == "INVALID_ARGUMENT"
    assert no_file.status_code == 400
    assert "'bundle'" in no_file.json()["error"]
    assert wrong_type.status_code == 400
    assert "multipart/form-data" in wrong_type.json()["error"]
    assert bad_name.status_code == 400
    assert bad_name.json()["reason"] == "INVALID_MODEL_NAME"
    assert listed == []
    assert _staging_is_empty(server.store)


def test_load_unload_and_delete(server, tmp_path) -> None:
    with _client(server) as http:
        http.post("/uploads", files={"bundle": ("a.zip", _zip(tmp_path, "doubler"))})
        http.post("/uploads", files={"bundle": ("b.zip", _zip(tmp_path, "doubler", 3))})
        unloaded = http.post("/models/doubler/versions/2/unload").json()["models"]
        assert [(m["version"], m["state"]) for m in unloaded] == [("2", "UNLOADED")]
        assert http.post("/models/doubler/predict", json=X).json()["version"] == "1"
        assert http.post("/models/doubler/versions/2/load").json()["state"] == "READY"
        assert [m["state"] for m in http.post("/models/doubler/unload").json()["models"]] == [
            "UNLOADED",
            "UNLOADED",
        ]
        assert http.post("/models/doubler/load").json()["state"] == "READY"
        assert http.delete("/models/doubler/versions/1").json() == {"deleted": ["1"]}
        assert http.get("/models/doubler").json()["versions"] == ["2"]
        assert http.delete("/models/doubler").json() == {"deleted": ["2"]}
        gone = http.get("/models/doubler")
        missing = http.delete("/models/doubler")
    assert gone.status_code == 404
    assert missing.status_code == 404
    assert missing.json()["reason"] == "MODEL_NOT_FOUND"


def test_management_needs_the_admin_token_when_one_is_set(start_server, tmp_path) -> None:
    running = start_server(execution="inprocess", admin_token="adm1n", inference_token="inf3rence")
    data = _zip(tmp_path, "doubler")
    with _client(running) as http:
        anonymous = http.post("/uploads", files={"bundle": ("b.zip", data)})
        inference = http.post(
            "/uploads",
            files={"bundle": ("b.zip", data)},
            headers={"Authorization": "Bearer inf3rence"},
        )
        admin = http.post(
            "/uploads",
            files={"bundle": ("b.zip", data)},
            headers={"Authorization": "Bearer adm1n"},
        )
        delete = http.delete("/models/doubler", headers={"Authorization": "Bearer inf3rence"})
    assert anonymous.status_code == 401
    assert anonymous.json()["reason"] == "MISSING_TOKEN"
    assert inference.status_code == 403  # a known caller, not allowed to manage
    assert inference.json()["reason"] == "ADMIN_TOKEN_REQUIRED"
    assert admin.status_code == 201
    assert delete.status_code == 403


def test_a_foreign_pages_form_post_is_refused(server, tmp_path) -> None:
    data = _zip(tmp_path, "doubler")
    own = f"http://127.0.0.1:{server.server.http_port}"
    with _client(server) as http:
        foreign = http.post(
            "/uploads",
            files={"bundle": ("b.zip", data)},
            headers={"Origin": "http://evil.test"},
        )
        unload = http.post("/models/doubler/unload", headers={"Origin": "null"})
        assert http.get("/models").json()["models"] == []
        same_site = http.post(
            "/uploads", files={"bundle": ("b.zip", data)}, headers={"Origin": own}
        )
    assert foreign.status_code == 403
    assert foreign.json()["reason"] == "CROSS_SITE_REQUEST"
    assert "cors_origins" in foreign.json()["error"]
    assert unload.status_code == 403
    assert same_site.status_code == 201


def test_an_upload_cut_short_leaves_nothing_behind(server, tmp_path) -> None:
    data = _zip(tmp_path, "doubler")
    digest = hashlib.sha256(data).hexdigest()
    head = (
        f"POST /api/v1/uploads?sha256={digest} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/zip\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", server.server.http_port), timeout=10) as sock:
            sock.sendall(head + data[: len(data) // 2])
            deadline = time.monotonic() + 10
            while _staging_is_empty(server.store):  # the upload is being received
                assert time.monotonic() < deadline, "no staging folder for the upload"
                time.sleep(0.02)
    deadline = time.monotonic() + 10
    while not _staging_is_empty(server.store):
        assert time.monotonic() < deadline, list((server.store / ".staging").iterdir())
        time.sleep(0.05)
    with _client(server) as http:
        assert http.get("/models").json()["models"] == []
        retry = http.post(
            "/uploads",
            params={"sha256": digest},
            content=data,
            headers={"content-type": "application/zip"},
        )
    assert retry.status_code == 201


def test_an_unannounced_raw_upload_spools_next_to_the_store_not_in_tmp(
    server, tmp_path, monkeypatch
) -> None:
    # The server runs in this process: a system temp folder that does not exist makes any
    # spooling there fail, so this upload succeeds only if it spools in the server's folder.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    bundle = _zip(tmp_path, "doubler")
    chunks = [bundle[i : i + 1000] for i in range(0, len(bundle), 1000)]
    with _client(server) as http:
        sent = http.post(
            "/uploads", content=iter(chunks), headers={"content-type": "application/zip"}
        )
    assert sent.status_code == 201, sent.text


def test_a_multipart_upload_streams_next_to_the_store_not_in_tmp(
    server, tmp_path, monkeypatch
) -> None:
    # As above: with no system temp folder, only spooling in the server's own folder works.
    # The bundle is over the 1 MiB a form parser would keep in memory before going to disk.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    folder = write_bundle(
        tmp_path / "src",
        "doubler",
        DOUBLER.format(name="doubler", factor=2),
        files={"weights.bin": os.urandom(3 << 20)},
    )
    bundle = zip_folder(folder, tmp_path / "big.zip").read_bytes()
    with _client(server) as http:
        sent = http.post(
            "/uploads",
            data={"version": "7", "sha256": hashlib.sha256(bundle).hexdigest()},
            files={"bundle": ("doubler.zip", bundle, "application/zip")},
        )
        answer = http.post("/models/doubler/predict", json=X)
    assert sent.status_code == 201, sent.text
    assert sent.json()["version"] == "7"
    assert answer.json()["structured"] == {"y": 42}
    assert _staging_is_empty(server.store)


def _multipart(*parts: tuple[str, str | None, bytes], boundary: str = "b0und") -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def test_hostile_multipart_bodies_are_400_naming_the_problem(server, tmp_path) -> None:
    bundle = _zip(tmp_path, "doubler")
    file = ("bundle", "a.zip", bundle)
    whole = _multipart(file)
    cases = {
        "two files": (_multipart(file, ("bundle", "b.zip", bundle)), "twice"),
        "other file": (_multipart(("weights", "w.bin", b"x")), "'weights'"),
        "huge field": (_multipart(("namespace", None, b"n" * 5000), file), "'namespace'"),
        "not utf-8": (_multipart(("version", None, b"\xff\xfe"), file), "UTF-8"),
        "cut short": (whole[: len(whole) // 2], "closing boundary"),
        "many parts": (_multipart(*[(f"f{i}", None, b"v") for i in range(40)]), "at most"),
    }  # fmt: skip
    kind = "multipart/form-data; boundary=b0und"
    with _client(server) as http:
        for case, (body, named) in cases.items():
            reply = http.post("/uploads", content=body, headers={"content-type": kind})
            assert reply.status_code == 400, (case, reply.text)
            assert reply.json()["code"] == "INVALID_ARGUMENT", case
            assert named in reply.json()["error"], (case, reply.text)
        no_boundary = http.post(
            "/uploads", content=whole, headers={"content-type": "multipart/form-data"}
        )
        assert "boundary" in no_boundary.json()["error"]
        fine = http.post("/uploads", content=whole, headers={"content-type": kind})
        assert fine.status_code == 201, fine.text
        assert http.get("/models").json()["models"][0]["name"] == "doubler"
    assert _staging_is_empty(server.store)
