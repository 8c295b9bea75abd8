"""Bundles in the store: folders and zips, same-named modules side by side, hostile zips refused."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2
from tests.bundle_factory import write_bundle, zip_folder

TWIN = """
    from registry import ModelRunner, register
    import helpers
    from .helpers import WHO as RELATIVE_WHO

    @register("{name}")
    class Twin(ModelRunner):
        def predict(self, request):
            return {{"who": helpers.WHO, "relative": RELATIVE_WHO}}
"""


def _predict(server, model: str) -> dict:
    reply = server.stub().Predict(runtime_pb2.PredictRequest(model=model), timeout=10)
    return codec.json_to_python(reply.structured)


def test_two_bundles_with_the_same_module_names_load_side_by_side(
    start_server, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    for name in ("left", "right"):
        write_bundle(store, name, TWIN.format(name=name), files={"helpers.py": f"WHO = {name!r}\n"})
    server = start_server(store)
    assert _predict(server, "left") == {"who": "left", "relative": "left"}
    assert _predict(server, "right") == {"who": "right", "relative": "right"}


def test_a_zip_bundle_is_unpacked_and_served(start_server, tmp_path: Path) -> None:
    folder = write_bundle(
        tmp_path / "src", "zipped", TWIN.format(name="zipped"), files={"helpers.py": "WHO = 1\n"}
    )
    store = tmp_path / "store"
    store.mkdir()
    zip_folder(folder, store / "zipped.zip")
    server = start_server(store)
    assert _predict(server, "zipped") == {"who": 1, "relative": 1}


def _hostile(path: Path, entry: str, *, link: str | None = None) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.py", "")
        zf.writestr("modelrt.yaml", "name: hostile\n")
        if link is None:
            zf.writestr(entry, "pwned")
        else:
            info = zipfile.ZipInfo(entry)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link)


@pytest.mark.parametrize(
    ("entry", "link"),
    [("/etc/evil.py", None), ("../evil.py", None), ("a/../../evil.py", None), ("up", "../../x")],
)
def test_hostile_zip_fails_with_the_entry_named_and_leaves_nothing(
    start_server, tmp_path: Path, entry: str, link: str | None
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    _hostile(store / "hostile.zip", entry, link=link)
    write_bundle(store, "fine", TWIN.format(name="fine"), files={"helpers.py": "WHO = 0\n"})
    server = start_server(store)
    reply = server.stub().ListModels(runtime_pb2.ListModelsRequest(), timeout=10)
    models = {m.name: m for m in reply.models}
    assert models["hostile"].state == model_pb2.MODEL_STATE_FAILED
    assert entry in models["hostile"].reason
    assert models["fine"].state == model_pb2.MODEL_STATE_READY
    unpacked = store / ".modelrt" / "unpacked"
    assert not unpacked.exists() or list(unpacked.iterdir()) == []
    assert not (tmp_path / "evil.py").exists()
    assert not (store / "evil.py").exists()


def test_zip_bomb_is_refused_by_compression_ratio(start_server, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    with zipfile.ZipFile(store / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.py", "")
        zf.writestr("modelrt.yaml", "name: bomb\n")
        zf.writestr("weights.bin", b"\0" * (20 * 1024 * 1024))
    server = start_server(store)
    model = server.stub().GetModel(runtime_pb2.GetModelRequest(name="bomb"), timeout=10).model
    assert model.state == model_pb2.MODEL_STATE_FAILED
    assert "weights.bin" in model.reason
