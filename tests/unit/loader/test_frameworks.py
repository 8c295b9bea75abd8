"""Tests for loader.frameworks: each framework's loader on a tiny model built here, the file-kind
table, finding a bundle's weights, and the errors a bundle author sees."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from loader.errors import BundleError
from loader.frameworks import (
    find_weights,
    framework_of,
    import_framework,
    load_bundle_weights,
    load_weights,
)
from loader.frameworks.onnx import providers
from loader.frameworks.torch import is_torchscript
from registry.runner import ModelContext
from tests import framework_models as fm

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def keras_files(models: Path) -> tuple[Any, dict[str, Path]]:
    """One Keras model saved as .keras and as .h5 (TensorFlow is imported once per module)."""
    model = fm.keras_model()
    return model, {s: fm.write_keras(models, f"model{s}", model) for s in (".keras", ".h5")}


# -- the file-kind table -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "framework"),
    [
        ("m.onnx", "onnx"),
        ("m.pt", "pytorch"),
        ("m.PTH", "pytorch"),
        ("m.h5", "keras"),
        ("m.keras", "keras"),
        ("m.joblib", "sklearn"),
        ("m.pkl", "sklearn"),
        ("m.sklearn", "sklearn"),
    ],
)
def test_framework_of_names_the_framework_of_each_weights_suffix(name, framework) -> None:
    assert framework_of(Path(name)) == framework


def test_framework_of_a_folder_with_saved_model_pb_is_tensorflow(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"")
    assert framework_of(tmp_path) == "tensorflow"


def test_framework_of_an_unknown_extension_lists_the_known_ones() -> None:
    with pytest.raises(BundleError, match=r"model\.bin: not a weights file.*\.onnx") as caught:
        framework_of(Path("model.bin"))
    assert caught.value.reason == "UNKNOWN_WEIGHTS_FORMAT"


def test_load_weights_with_a_framework_the_table_lacks_lists_the_known_ones(
    models: Path,
) -> None:
    path = fm.write_onnx(models, "for-mxnet.onnx")
    with pytest.raises(BundleError, match=r"no weights loader for framework 'mxnet'.*onnx"):
        load_weights(path, framework="mxnet")


def test_a_missing_framework_library_names_the_extra_to_install() -> None:
    with pytest.raises(BundleError, match=r"pip install 'modelrt\[tensorflow\]'") as caught:
        import_framework("modelrt_no_such_framework", "tensorflow")
    assert caught.value.reason == "FRAMEWORK_NOT_INSTALLED"
    assert caught.value.metadata == {"module": "modelrt_no_such_framework", "extra": "tensorflow"}


def test_load_weights_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        load_weights(tmp_path / "gone.onnx")


# -- ONNX ----------------------------------------------------------------------------------------


def test_onnx_weights_load_as_a_cpu_session_that_matches_onnxruntime(models: Path) -> None:
    path = fm.write_onnx(models)
    session = load_weights(path, "cpu")
    assert session.get_providers() == ["CPUExecutionProvider"]
    (probabilities,) = session.run(["probabilities"], {"x": fm.X})
    np.testing.assert_allclose(probabilities, fm.onnx_outputs(path)["probabilities"])


def test_onnx_on_a_gpu_device_falls_back_to_cpu_when_onnxruntime_has_no_cuda() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        assert providers("cuda:1")[0] == ("CUDAExecutionProvider", {"device_id": "1"})
    else:
        assert providers("cuda:1") == ["CPUExecutionProvider"]
    assert providers("cpu") == ["CPUExecutionProvider"]


# -- PyTorch -------------------------------------------------------------------------------------


def test_torchscript_weights_load_with_jit_in_eval_mode(models: Path) -> None:
    path = fm.write_torchscript(models)
    assert is_torchscript(path)
    model = load_weights(path)
    assert isinstance(model, torch.jit.ScriptModule)
    assert not model.training
    np.testing.assert_allclose(fm.torch_output(model), fm.torch_output(fm.tiny_net()), rtol=1e-6)


def test_a_pickled_module_loads_although_torch_load_refuses_it_by_default(models: Path) -> None:
    path = fm.write_pickled_module(models)
    assert not is_torchscript(path)
    with pytest.raises(Exception, match="weights_only"):
        torch.load(path)  # what published bundles call, refused by current torch
    model = load_weights(path, "cpu")
    assert isinstance(model, fm.TinyNet)
    assert not model.training
    np.testing.assert_allclose(fm.torch_output(model), fm.torch_output(fm.tiny_net()), rtol=1e-6)


def test_a_state_dict_is_loaded_into_the_architecture_built_with_the_config(
    models: Path,
) -> None:
    path = fm.write_state_dict(models, "hidden8.pt", hidden=8)
    model = load_weights(path, architecture=fm.TinyNet, config={"hidden": 8})
    assert isinstance(model, fm.TinyNet)
    assert model.hidden.out_features == 8
    assert not model.training
    np.testing.assert_allclose(fm.torch_output(model), fm.torch_output(fm.tiny_net(8)), rtol=1e-6)


def test_a_checkpoint_holding_a_state_dict_loads_into_the_architecture(models: Path) -> None:
    path = models / "checkpoint.pth"
    torch.save({"epoch": 3, "state_dict": fm.tiny_net().state_dict()}, path)
    model = load_weights(path, architecture=fm.TinyNet)
    np.testing.assert_allclose(fm.torch_output(model), fm.torch_output(fm.tiny_net()), rtol=1e-6)


def test_a_state_dict_without_an_architecture_says_to_pass_one(models: Path) -> None:
    path = fm.write_state_dict(models)
    with pytest.raises(BundleError, match=r"state dict.*architecture=") as caught:
        load_weights(path)
    assert caught.value.reason == "ARCHITECTURE_REQUIRED"


def test_a_state_dict_that_does_not_fit_the_architecture_names_it(models: Path) -> None:
    path = fm.write_state_dict(models, "hidden4.pt", hidden=4)
    with pytest.raises(BundleError, match="does not fit TinyNet"):
        load_weights(path, architecture=fm.TinyNet, config={"hidden": 5})


def test_a_torch_save_zip_is_not_mistaken_for_torchscript(models: Path) -> None:
    path = fm.write_state_dict(models, "plain.pt")
    assert zipfile.is_zipfile(path)
    assert not is_torchscript(path)


# -- scikit-learn ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.joblib", "model.pkl", "model.sklearn"])
def test_sklearn_weights_load_as_the_fitted_estimator(models: Path, name: str) -> None:
    reference = fm.sklearn_classifier()
    estimator = load_weights(fm.write_sklearn(models, name, reference))
    assert list(estimator.predict(fm.X)) == list(reference.predict(fm.X))
    np.testing.assert_allclose(estimator.predict_proba(fm.X), reference.predict_proba(fm.X))


# -- Keras and TensorFlow ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_files_load_as_a_keras_model(keras_files, suffix: str) -> None:
    reference, paths = keras_files
    model = load_weights(paths[suffix])
    np.testing.assert_allclose(np.asarray(model(fm.X)), np.asarray(reference(fm.X)), rtol=1e-6)


def test_a_saved_model_folder_loads_with_its_serving_signature(models: Path) -> None:
    path = fm.write_saved_model(models)
    loaded = load_weights(path)
    scores = loaded.signatures["serving_default"](x=fm.X)["scores"]
    np.testing.assert_allclose(np.asarray(scores), fm.X @ fm.SAVED_MODEL_W, rtol=1e-6)


# -- finding a bundle's weights -------------------------------------------------------------------


def test_find_weights_returns_the_only_weights_file_of_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("hi")
    (tmp_path / "sub").mkdir()
    fm.write_onnx(tmp_path / "sub")
    assert find_weights(tmp_path) == tmp_path / "sub" / "model.onnx"


def test_find_weights_treats_a_saved_model_folder_as_one_candidate(tmp_path: Path) -> None:
    saved = tmp_path / "export"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"")
    (saved / "variables" / "variables.h5").write_bytes(b"")  # belongs to the SavedModel
    assert find_weights(tmp_path) == saved


def test_find_weights_in_a_bundle_without_weights_lists_what_it_expects(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(BundleError, match=r"no weights found.*\.onnx.*SavedModel"):
        find_weights(tmp_path)


def test_find_weights_with_several_candidates_lists_them_and_asks_for_a_name(
    tmp_path: Path,
) -> None:
    fm.write_onnx(tmp_path, "a.onnx")
    fm.write_onnx(tmp_path, "b.onnx")
    with pytest.raises(BundleError, match=r"several weights.*a\.onnx, b\.onnx.*`weights:`"):
        find_weights(tmp_path)
    assert find_weights(tmp_path, "b.onnx") == (tmp_path / "b.onnx").resolve()


def test_find_weights_refuses_a_name_outside_the_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    fm.write_onnx(tmp_path, "outside.onnx")
    with pytest.raises(BundleError, match="outside the bundle"):
        find_weights(bundle, "../outside.onnx")


# -- ModelContext.load_weights -------------------------------------------------------------------


def test_context_load_weights_finds_the_bundle_weights_in_one_call(tmp_path: Path) -> None:
    fm.write_state_dict(tmp_path, "net.pt")
    context = ModelContext(
        name="m", version="1", bundle_dir=tmp_path, weights_loader=load_bundle_weights
    )
    model = context.load_weights(architecture=fm.TinyNet)
    np.testing.assert_allclose(fm.torch_output(model), fm.torch_output(fm.tiny_net()), rtol=1e-6)


def test_context_load_weights_defaults_to_the_configured_weights(tmp_path: Path) -> None:
    fm.write_onnx(tmp_path, "a.onnx")
    fm.write_onnx(tmp_path, "b.onnx")
    context = ModelContext(
        name="m",
        version="1",
        bundle_dir=tmp_path,
        config={"weights": "b.onnx"},
        weights_loader=load_bundle_weights,
    )
    assert context.load_weights().get_outputs()[0].name == "logits"


def test_context_load_weights_without_a_runtime_loader_says_so(tmp_path: Path) -> None:
    context = ModelContext(name="m", version="1", bundle_dir=tmp_path)
    with pytest.raises(RuntimeError, match="runtime's loader"):
        context.load_weights()
