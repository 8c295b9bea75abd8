"""Gesund-style zips in the store, served by a real server and called through the Python client.

The bundles are written as published ones are (see tests/gesund_factory.py): registered with
``@modelservice.register_module``, a pydantic v1-style Response, Preprocess/Postprocess classes,
``reqs.txt`` pinning pydantic 1.9.0 and torch 1.10.2, AppLogger and np used without imports.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clients import Client, InternalError, InvalidArgumentError
from tests import gesund_factory as gf

pytestmark = pytest.mark.timeout(120)

Server = Any
PIXELS = gf.image()
LOGITS = gf.expected_logits(PIXELS)


def _store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    store.mkdir(parents=True, exist_ok=True)
    return store


def torch_zip(store: Path, ns: str = "torch-net", **files: str) -> Path:
    """A PytorchModel subclass over a whole pickled nn.Sequential, zipped flat."""
    folder = gf.write_gesund(
        store.parent / "src" / ns,
        ns,
        gf.PYTORCH_MODEL,
        ("model.pt", gf.torch_sequential_weights()),
        files=files,
    )
    return gf.zip_gesund(folder, store / f"{ns}.zip")


def onnx_zip(store: Path, ns: str = "onnx-net", **files: str) -> Path:
    """An OnnxModel subclass (base load and predict, loss from loss.py), in one top folder."""
    folder = gf.write_gesund(
        store.parent / "src" / ns,
        ns,
        gf.ONNX_MODEL,
        ("model.onnx", gf.onnx_weights()),
        loss_method="__call__",
        files=files,
    )
    return gf.zip_gesund(folder, store / f"{ns}.zip", top_folder=ns)


def _client(server: Server) -> Client:
    return Client(server.address, timeout=30)


def test_flat_pytorch_zip_predicts_a_png_sent_as_bytes(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    torch_zip(store)
    server = start_server(store)

    with _client(server) as client:
        prediction = client.predict("torch-net", {"image": gf.png(PIXELS)})

    assert prediction.structured["logits"] == pytest.approx(LOGITS)
    assert prediction.structured["prediction_class"] == 1
    assert prediction.structured["batch_size"] == 1


def test_an_image_sent_as_a_uint8_tensor_reaches_preprocess_as_hxwx3(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    torch_zip(store)
    server = start_server(store)
    pixels = gf.image(9, 5)

    with _client(server) as client:
        prediction = client.predict("torch-net", {"scan": pixels})

    assert prediction.structured["logits"] == pytest.approx(gf.expected_logits(pixels))


def test_keys_the_response_does_not_declare_are_dropped(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    torch_zip(store)
    server = start_server(store)

    with _client(server) as client:
        structured = client.predict("torch-net", {"image": gf.png(PIXELS)}).structured

    assert set(structured) == {"prediction_class", "confidence", "logits", "batch_size"}


def test_onnx_zip_in_one_top_folder_serves_with_the_base_class_load_and_predict(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    onnx_zip(store)
    server = start_server(store)

    with _client(server) as client:
        info = client.get_model("onnx-net")
        prediction = client.predict("onnx-net", {"image": gf.png(PIXELS)})

    assert info.state == "READY"
    assert prediction.structured["logits"] == pytest.approx(LOGITS)


@pytest.mark.parametrize("ns", ["torch-net", "onnx-net"])
def test_ground_truth_parameter_returns_the_models_loss(
    start_server: Callable[..., Server], tmp_path: Path, ns: str
) -> None:
    store = _store(tmp_path)
    (torch_zip if ns == "torch-net" else onnx_zip)(store, ns)
    server = start_server(store)

    with _client(server) as client:
        scored = client.predict(ns, {"image": PIXELS}, parameters={"ground_truth": [0]})
        plain = client.predict(ns, {"image": PIXELS})

    assert scored.structured["loss"] == pytest.approx([gf.cross_entropy(LOGITS, 0)])
    assert "loss" not in plain.structured


def test_concurrent_predicts_reach_preprocess_as_one_batch_when_batching_is_on(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    settings = "batching: {max_batch_size: 4, max_queue_delay_ms: 1000}\n"
    onnx_zip(store, **{"modelrt-gesund.yaml": settings})
    server = start_server(store)
    images = [gf.image(4 + i, 4) for i in range(4)]

    with _client(server) as client:
        client.predict("onnx-net", {"image": PIXELS})  # warm up: the first call pays the load
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(lambda p: client.predict("onnx-net", {"image": gf.png(p)}), images)
            )

    assert max(a.structured["batch_size"] for a in answers) > 1
    for answer, pixels in zip(answers, images, strict=True):
        assert answer.structured["logits"] == pytest.approx(gf.expected_logits(pixels))


def test_bundle_calling_torch_load_on_a_pickled_backbone_module_serves(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    folder = gf.write_gesund(
        tmp_path / "src" / "direct",
        "direct",
        gf.DIRECT_TORCH_MODEL,
        ("model.pth", gf.torch_backbone_weights(tmp_path)),
        files={"backbone.py": gf.BACKBONE},
    )
    gf.zip_gesund(folder, store / "direct.zip")
    server = start_server(store)

    with _client(server) as client:
        prediction = client.predict("direct", {"image": gf.png(PIXELS)})

    assert prediction.structured["logits"] == pytest.approx(LOGITS)


def test_an_uploaded_gesund_zip_is_named_by_its_namespace_and_served(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    archive = torch_zip(_store(tmp_path / "elsewhere"), "uploaded")
    server = start_server()

    with _client(server) as client:
        result = client.upload(archive, bundle_format="gesund")
        prediction = client.predict("uploaded", {"image": gf.png(PIXELS)})

    assert (result.model.name, result.model.state) == ("uploaded", "READY")
    assert prediction.structured["logits"] == pytest.approx(LOGITS)


def test_old_pins_are_warnings_and_platform_names_are_not_requirements(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    onnx_zip(store)
    server = start_server(store)

    with _client(server) as client:
        info = client.get_model("onnx-net")

    assert info.state == "READY"
    assert info.format == "gesund"
    assert any(w.startswith("pydantic==1.9.0 is required but") for w in info.warnings)
    assert not [w for w in info.warnings if w.startswith(("register", "logger"))]
    assert "loss" in info.output_schema["properties"]


def test_an_error_in_bundle_code_is_internal_with_an_error_id(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    torch_zip(store)
    server = start_server(store)

    with _client(server) as client, pytest.raises(InternalError) as caught:
        client.predict("torch-net", {"image": PIXELS.astype(np.float32)})  # preprocess: uint8

    assert "error id" in str(caught.value)


def test_several_inputs_without_an_image_name_are_invalid_argument(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    torch_zip(store)
    server = start_server(store)

    with _client(server) as client, pytest.raises(InvalidArgumentError, match="'image' or 'input'"):
        client.predict("torch-net", {"left": PIXELS, "right": np.zeros(3)})


NOT_IMAGES = {
    "text": ("a chest x-ray", "got text"),
    "random bytes": (bytes(range(7, 64)), "got 57 bytes that are not a PNG or JPEG file"),
    "a JSON object": ({"pixels": [1, 2, 3]}, "got a JSON object"),
    "a JSON number": (3.5, "got a JSON number"),
    "a string tensor": (np.array([["a", "b"], ["c", "d"]]), "got a tensor of <U1"),
    "a 1-D tensor": (np.arange(12, dtype=np.uint8), "got a tensor of shape [12]"),
}


@pytest.mark.parametrize("sent", NOT_IMAGES.values(), ids=NOT_IMAGES.keys())
def test_an_image_model_refuses_a_value_that_is_no_image_naming_the_input(
    start_server: Callable[..., Server], tmp_path: Path, sent: tuple[Any, str]
) -> None:
    value, got = sent
    store = _store(tmp_path)
    torch_zip(store)
    server = start_server(store)

    with _client(server) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            client.predict("torch-net", {"scan": value})
        prediction = client.predict("torch-net", {"image": gf.png(PIXELS)})  # still serving

    assert "input 'scan' must be a PNG or JPEG image (bytes) or an image tensor" in str(
        caught.value
    )
    assert got in str(caught.value)
    assert prediction.structured["logits"] == pytest.approx(LOGITS)


def test_an_undecodable_image_in_a_batch_fails_only_its_own_request(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    store = _store(tmp_path)
    settings = "batching: {max_batch_size: 4, max_queue_delay_ms: 1000}\n"
    onnx_zip(store, **{"modelrt-gesund.yaml": settings})
    server = start_server(store)
    images = [gf.image(4 + i, 4) for i in range(3)]
    broken = gf.png(PIXELS)[:40]  # a PNG cut short: its header, then nothing

    def send(value: Any) -> Any:
        try:
            return client.predict("onnx-net", {"image": value})
        except InvalidArgumentError as exc:
            return exc

    with _client(server) as client:
        client.predict("onnx-net", {"image": PIXELS})  # warm up: the first call pays the load
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, [gf.png(p) for p in images] + [broken]))

    *good, refused = answers
    assert isinstance(refused, InvalidArgumentError)
    assert "input 'image' is not a readable PNG/JPEG image" in str(refused)
    assert max(a.structured["batch_size"] for a in good) > 1
    for answer, pixels in zip(good, images, strict=True):
        assert answer.structured["logits"] == pytest.approx(gf.expected_logits(pixels))
