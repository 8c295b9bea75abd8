"""Tests for loader.layout: recognising a native bundle in a folder and finding its root."""

from __future__ import annotations

from pathlib import Path

import pytest

from loader.errors import BundleError
from loader.layout import bundle_root, detect_layout
from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.timeout(10)

MODEL = "ANSWER = 42\n"


def test_native_folder_is_detected_with_its_config(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, "echo", MODEL)

    layout = detect_layout(bundle)

    assert layout.format == "native"
    assert layout.code_root == bundle
    assert layout.config_file == bundle / "modelrt.yaml"


@pytest.mark.parametrize("config_name", ["modelrt.yml", "config.yaml"])
def test_native_folder_accepts_the_other_config_names(tmp_path: Path, config_name: str) -> None:
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / config_name).write_text("name: echo\n", encoding="utf-8")

    assert detect_layout(tmp_path).config_file == tmp_path / config_name


def test_modelrt_yaml_wins_over_config_yaml(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, "echo", MODEL, files={"config.yaml": "name: other\n"})
    assert detect_layout(bundle).config_file == bundle / "modelrt.yaml"


def test_a_single_wrapping_folder_is_looked_into(tmp_path: Path) -> None:
    unpacked = tmp_path / "unpacked"
    inner = write_bundle(unpacked, "echo", MODEL, folder="echo-v1")
    (unpacked / ".DS_Store").write_bytes(b"")
    (unpacked / "__MACOSX").mkdir()

    layout = detect_layout(unpacked)

    assert bundle_root(unpacked) == inner
    assert layout.code_root == inner
    assert layout.config_file == inner / "modelrt.yaml"


def test_a_single_numbered_folder_is_not_unwrapped(tmp_path: Path) -> None:
    write_bundle(tmp_path, "echo", MODEL, folder="1")
    assert bundle_root(tmp_path) == tmp_path
    with pytest.raises(BundleError, match=r"found 1$"):
        detect_layout(tmp_path)


def test_folder_with_several_entries_is_its_own_root(tmp_path: Path) -> None:
    write_bundle(tmp_path, "echo", MODEL, folder="a")
    (tmp_path / "b").mkdir()
    assert bundle_root(tmp_path) == tmp_path


def test_folder_without_model_py_lists_what_it_found(tmp_path: Path) -> None:
    bundle = tmp_path / "mybundle"
    bundle.mkdir()
    (bundle / "modelrt.yaml").write_text("name: echo\n", encoding="utf-8")
    (bundle / "main.py").write_text(MODEL, encoding="utf-8")
    (bundle / "weights").mkdir()

    with pytest.raises(BundleError) as caught:
        detect_layout(bundle)

    message = str(caught.value)
    assert message.startswith("mybundle: not a model bundle: expected model.py")
    assert message.endswith("found main.py, modelrt.yaml, weights")
    assert caught.value.reason == "INVALID_BUNDLE"


def test_model_py_without_a_config_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    with pytest.raises(BundleError, match=r"found model\.py$"):
        detect_layout(tmp_path)


def test_empty_folder_says_it_found_nothing(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"found nothing$"):
        detect_layout(tmp_path)


def test_listing_of_a_large_folder_is_capped_at_ten_names(tmp_path: Path) -> None:
    for index in range(15):
        (tmp_path / f"file{index:02d}.txt").write_text("", encoding="utf-8")
    with pytest.raises(BundleError) as caught:
        detect_layout(tmp_path)
    assert "file09.txt" in str(caught.value)
    assert "file10.txt" not in str(caught.value)
