"""Tests for loader.weights.loading: bundles with weights and a config but no model.py
are native bundles, and their config check says what is missing before any code runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from loader.bundle import prepare_bundle
from loader.errors import BundleError
from loader.unpack import UnpackLimits
from tests import framework_models as fm

pytestmark = pytest.mark.timeout(30)


def _prepare(folder: Path, tmp_path: Path):  # -> PreparedBundle
    return prepare_bundle(folder, tmp_path / "work", UnpackLimits())


def test_a_config_and_weights_without_model_py_is_a_native_bundle(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", inputs=[fm.X_INPUT])
    (bundle / "models").mkdir()
    fm.write_onnx(bundle / "models")

    prepared = _prepare(bundle, tmp_path)

    assert prepared.format == "native"
    assert prepared.config.weights == "models/model.onnx"
    assert prepared.config.framework == "onnx"


def test_config_yaml_works_as_the_config_name_too(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "config.yaml").write_text("name: tiny\n")
    fm.write_sklearn(bundle, "model.pkl")

    assert _prepare(bundle, tmp_path).config.framework == "sklearn"


def test_several_weights_without_a_weights_key_are_listed(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny")
    fm.write_onnx(bundle, "a.onnx")
    fm.write_state_dict(bundle, "b.pt")

    with pytest.raises(BundleError) as caught:
        _prepare(bundle, tmp_path)

    message = str(caught.value)
    assert message.startswith("modelrt.yaml: a bundle without model.py serves its weights:")
    assert "several weights found in the bundle (a.onnx, b.pt)" in message
    assert "`weights:`" in message


def test_the_weights_key_picks_one_of_several(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", weights="b.pt")
    fm.write_onnx(bundle, "a.onnx")
    fm.write_state_dict(bundle, "b.pt")

    assert _prepare(bundle, tmp_path).config.framework == "pytorch"


def test_weights_that_are_not_there_are_named(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", weights="missing.onnx")
    fm.write_onnx(bundle)

    with pytest.raises(BundleError, match=r"weights 'missing\.onnx' not found in the bundle"):
        _prepare(bundle, tmp_path)


def test_a_config_without_weights_or_model_py_is_not_a_bundle(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny")

    with pytest.raises(BundleError, match=r"not a model bundle.*weights file and no model\.py"):
        _prepare(bundle, tmp_path)


def test_a_framework_that_contradicts_the_weights_is_refused(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", framework="pytorch")
    fm.write_onnx(bundle)

    with pytest.raises(BundleError, match=r"framework is 'pytorch' but model\.onnx is onnx"):
        _prepare(bundle, tmp_path)


def test_an_architecture_module_the_bundle_lacks_is_named(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", architecture="net:TinyNet")
    fm.write_state_dict(bundle)

    with pytest.raises(BundleError, match=r"architecture 'net:TinyNet': the bundle has no net\.py"):
        _prepare(bundle, tmp_path)


def test_an_architecture_for_non_pytorch_weights_is_refused(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", architecture="net:TinyNet")
    fm.write_onnx(bundle)

    with pytest.raises(BundleError, match="architecture applies to PyTorch state dicts only"):
        _prepare(bundle, tmp_path)


def test_a_folder_with_model_py_one_level_down_is_left_to_other_formats(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    (bundle / "1").mkdir(parents=True)
    (bundle / "config.yaml").write_text("model: {id: tiny}\n")
    (bundle / "1" / "model.py").write_text("")
    fm.write_onnx(bundle / "1")

    from loader.layout import native_layout

    assert native_layout(bundle) is None
