"""Tests for loader.gesund: detection and config without running code, the per-bundle platform
modules (register, logger, core.engine.base_models) and the requirement names they stand for."""

from __future__ import annotations

import builtins
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loader.bundle import import_bundle, prepare_bundle
from loader.errors import BundleError
from loader.formats import FORMATS, format_named
from loader.gesund import GesundPackage, gesund_config, gesund_layout
from loader.gesund.detect import namespace_of, scan_registrations
from loader.layout import detect_layout
from loader.requirements import check_requirements
from loader.unpack import UnpackLimits
from registry.errors import DuplicateNamespaceError, ErrorCode, RegistrationError
from tests import gesund_factory

pytestmark = pytest.mark.timeout(30)

Mount = Callable[[Path], GesundPackage]

MODEL = """
    from register.register import modelservice

    @modelservice.register_module(name='{ns}', default=False)
    class Net:
        def __init__(self, model_path):
            self.model_path = model_path
"""


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = folder / relative
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return folder


def gesund_folder(folder: Path, ns: str = "ns", **extra: str | bytes) -> Path:
    return write(folder, {"model.py": MODEL.format(ns=ns), "model.onnx": b"onnx", **extra})


@pytest.fixture
def mount() -> Iterator[Mount]:
    """Mount Gesund-style bundles; every package is unmounted after the test."""
    packages: list[GesundPackage] = []

    def _mount(root: Path) -> GesundPackage:
        package = GesundPackage(root)
        packages.append(package)
        return package

    yield _mount
    for package in packages:
        package.unmount()


# -- detection -------------------------------------------------------------------------------


def test_layout_recognises_a_folder_importing_register_register(tmp_path: Path) -> None:
    layout = gesund_layout(gesund_folder(tmp_path))

    assert layout is not None
    assert layout.format == "gesund"
    assert layout.config_file is None


def test_layout_recognises_preprocess_and_postprocess_without_the_import(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": "class Net: ...\n", "preprocess.py": "", "postprocess.py": ""})

    assert gesund_layout(tmp_path) is not None


def test_layout_leaves_native_bundles_and_plain_model_py_alone(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain", {"model.py": "class Net: ...\n"})
    native = gesund_folder(tmp_path / "native", **{"modelrt.yaml": "name: ns\n"})

    assert gesund_layout(plain) is None
    assert gesund_layout(native) is None
    assert detect_layout(native, [kind.detect for kind in FORMATS]).format == "native"


def test_a_bundle_inside_one_top_level_folder_is_detected(tmp_path: Path) -> None:
    gesund_folder(tmp_path / "unzipped" / "my_model")

    layout = detect_layout(tmp_path / "unzipped", [kind.detect for kind in FORMATS])

    assert layout.format == "gesund"
    assert layout.code_root == tmp_path / "unzipped" / "my_model"


# -- the namespace, statically ---------------------------------------------------------------


def test_namespace_comes_from_the_keyword_or_the_first_argument(tmp_path: Path) -> None:
    gesund_folder(
        tmp_path,
        ns="ISIC_TF",
        **{
            "schema.py": """
                from register import outschema

                @outschema.register_module('ISIC_TF', default=False)
                class Response: ...
            """
        },
    )

    found = scan_registrations(tmp_path)

    assert sorted((r.registry, r.namespace) for r in found) == [
        ("modelservice", "ISIC_TF"),
        ("outschema", "ISIC_TF"),
    ]
    assert namespace_of(found) == "ISIC_TF"


def test_no_registered_model_class_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": "class Net: ...\n", "preprocess.py": "", "m.pt": b""})

    with pytest.raises(BundleError, match=r"@modelservice.register_module\(name='NS'"):
        gesund_config(gesund_layout(tmp_path))  # type: ignore[arg-type]


def test_several_namespaces_are_refused_naming_each(tmp_path: Path) -> None:
    gesund_folder(tmp_path, ns="one", **{"other.py": MODEL.format(ns="two")})

    with pytest.raises(BundleError, match=r"several are registered: 'one'.*'two'"):
        namespace_of(scan_registrations(tmp_path))


def test_a_namespace_registered_twice_is_already_exists(tmp_path: Path) -> None:
    gesund_folder(tmp_path, ns="twice", **{"other.py": MODEL.format(ns="twice")})

    with pytest.raises(DuplicateNamespaceError, match="'twice' is registered twice") as caught:
        namespace_of(scan_registrations(tmp_path))
    assert caught.value.code is ErrorCode.ALREADY_EXISTS


def test_default_true_is_refused_before_any_code_runs(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": MODEL.format(ns="ns").replace("default=False", "default=True")})

    with pytest.raises(BundleError, match=r"default=True.*not supported"):
        namespace_of(scan_registrations(tmp_path))


# -- config ----------------------------------------------------------------------------------


def test_config_takes_framework_from_the_weights_and_type_from_the_schema(tmp_path: Path) -> None:
    gesund_folder(
        tmp_path,
        **{"schema.py": "class Response:\n    prediction_class: int\n    confidence: float\n"},
    )

    config = gesund_config(gesund_layout(tmp_path))  # type: ignore[arg-type]

    assert (config.name, config.framework, config.model_type) == ("ns", "onnx", "classification")
    assert config.weights == "model.onnx"
    assert config.batching.max_batch_size == 0
    assert [group.kind for group in config.instances] == ["cpu"]


def test_settings_file_turns_batching_on(tmp_path: Path) -> None:
    settings = "batching: {max_batch_size: 4, max_queue_delay_ms: 50}\n"
    gesund_folder(tmp_path, **{"modelrt-gesund.yaml": settings})

    config = gesund_config(gesund_layout(tmp_path))  # type: ignore[arg-type]

    assert config.batching.max_batch_size == 4


def test_settings_file_cannot_rename_the_model(tmp_path: Path) -> None:
    gesund_folder(tmp_path, **{"modelrt-gesund.yaml": "name: other\n"})

    with pytest.raises(BundleError, match="'other' differs from the namespace 'ns'"):
        gesund_config(gesund_layout(tmp_path))  # type: ignore[arg-type]


# -- platform modules ------------------------------------------------------------------------


def test_registration_at_import_fills_this_bundles_registry(tmp_path: Path, mount: Mount) -> None:
    package = mount(gesund_folder(tmp_path))

    package.import_code("model")

    assert list(package.platform.modelservice.modules) == ["ns"]
    assert "register" not in sys.modules or not hasattr(sys.modules["register"], "modelservice")


def test_default_true_raises_when_the_code_runs(tmp_path: Path, mount: Mount) -> None:
    model = MODEL.format(ns="ns").replace("default=False", "default=True")
    package = mount(write(tmp_path, {"model.py": model}))

    with pytest.raises(RegistrationError, match="default=True"):
        package.import_code("model")


def test_registering_a_taken_namespace_raises_already_exists(tmp_path: Path, mount: Mount) -> None:
    package = mount(gesund_folder(tmp_path, **{"other.py": MODEL.format(ns="ns")}))
    package.import_code("model")

    with pytest.raises(DuplicateNamespaceError, match="'ns' is already registered"):
        package.import_code("other")


def test_outschema_accepts_pydantic_models_only(tmp_path: Path, mount: Mount) -> None:
    schema = """
        from register import outschema

        @outschema.register_module('ns', default=False)
        class Response:
            label: str
    """
    package = mount(gesund_folder(tmp_path, **{"schema.py": schema}))

    with pytest.raises(RegistrationError, match="must be a pydantic model"):
        package.import_code("schema")


def test_two_bundles_get_their_own_platform_modules(tmp_path: Path, mount: Mount) -> None:
    left = mount(gesund_folder(tmp_path / "left", ns="same"))
    right = mount(gesund_folder(tmp_path / "right", ns="same"))

    left_model = left.import_code("model")
    right_model = right.import_code("model")

    assert left.platform.modelservice.get("same") is left_model.Net
    assert right.platform.modelservice.get("same") is right_model.Net
    assert left_model.modelservice is not right_model.modelservice


def test_platform_modules_resolve_every_way_bundles_import_them(
    tmp_path: Path, mount: Mount
) -> None:
    probe = """
        import register.register
        import core.engine.base_models as base_models
        from register import outschema
        from core.engine import base_models as same_models
        from logger import AppLogger

        REGISTRY = register.register.modelservice
        SCHEMAS = outschema
        BASES = (base_models.PytorchModel, same_models.OnnxModel, base_models.TensorflowModel)
        LOG_NAME = AppLogger(__name__).get_logger().name
    """
    package = mount(gesund_folder(tmp_path, **{"probe.py": probe}))

    module = package.import_code("probe")

    assert module.REGISTRY is package.platform.modelservice
    assert module.SCHEMAS is package.platform.outschema
    assert [base.__name__ for base in module.BASES] == [
        "PytorchModel",
        "OnnxModel",
        "TensorflowModel",
    ]
    assert module.LOG_NAME == "modelrt.gesund.probe"


def test_a_submodule_the_platform_lacks_is_module_not_found(tmp_path: Path, mount: Mount) -> None:
    package = mount(gesund_folder(tmp_path, **{"probe.py": "import core.engine.trainer\n"}))

    with pytest.raises(BundleError, match=r"imports 'core\.engine\.trainer'"):
        package.import_code("probe")


def test_app_logger_and_np_resolve_without_import_in_bundle_code_only(
    tmp_path: Path, mount: Mount
) -> None:
    probe = """
        logger = AppLogger(__name__).get_logger()
        ZEROS = np.zeros(2).tolist()
        import numpy
        SAME = np is numpy
    """
    package = mount(gesund_folder(tmp_path, **{"probe.py": probe}))

    module = package.import_code("probe")

    assert module.ZEROS == [0.0, 0.0]
    assert module.SAME
    assert not hasattr(builtins, "AppLogger")
    assert not hasattr(builtins, "np")


def test_a_failing_init_py_is_a_bundle_error_and_leaves_nothing_mounted(tmp_path: Path) -> None:
    gesund_folder(tmp_path, **{"__init__.py": "from .model import *\nimport not_installed_xyz\n"})
    finders = list(sys.meta_path)
    mounted = {name for name in sys.modules if name.startswith("_modelrt_bundle_")}

    with pytest.raises(BundleError, match="'not_installed_xyz', which is not installed"):
        GesundPackage(tmp_path)

    assert sys.meta_path == finders
    assert {name for name in sys.modules if name.startswith("_modelrt_bundle_")} == mounted


# -- requirements ----------------------------------------------------------------------------


def test_reqs_txt_is_the_requirements_file_and_platform_names_are_not_checked(
    tmp_path: Path,
) -> None:
    gesund_folder(tmp_path, **{"reqs.txt": "register\nlogger\nnot-installed-xyz==1.0\n"})
    kind = format_named("gesund")

    requirements = kind.requirements(tmp_path)
    assert requirements == tmp_path / "reqs.txt"
    problems = check_requirements(requirements, ignore=kind.provided)

    assert [problem.name for problem in problems] == ["not-installed-xyz"]


def test_old_framework_pins_only_warn_by_default(tmp_path: Path) -> None:
    bundle = gesund_factory.write_gesund(
        tmp_path / "pinned",
        "pinned",
        gesund_factory.ONNX_MODEL,
        ("model.onnx", gesund_factory.onnx_weights()),
        loss_method="__call__",
    )
    prepared = prepare_bundle(bundle, tmp_path / "work", UnpackLimits())

    spec = import_bundle(prepared, strict_requirements=False)
    try:
        assert any(w.startswith("pydantic==1.9.0 is required but") for w in spec.warnings)
        assert any(w.startswith("torch==1.10.2 is required but") for w in spec.warnings)
        assert not [w for w in spec.warnings if w.startswith(("register", "logger"))]
    finally:
        spec.package.unmount()


def test_a_bundle_venv_never_installs_the_pinned_frameworks_or_platform_names(
    tmp_path: Path,
) -> None:
    from runtime.placement.venv_requirements import plan_requirements

    pins = "pydantic==1.9.0\ntorch==1.10.2\ntensorflow==2.9.0\nregister\nlogger\nsix==1.16.0\n"
    gesund_folder(tmp_path, **{"reqs.txt": pins})
    requirements = format_named("gesund").requirements(tmp_path)
    assert requirements is not None

    plan = plan_requirements(requirements, provided={"torch": "2.13.0", "pydantic": "2.14.3"})

    assert plan.install == ("six==1.16.0",)
    assert len(plan.notes) == 5
