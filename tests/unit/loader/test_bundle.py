"""Tests for loader.bundle: preparing real bundle folders and zips, then importing their code."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loader.bundle import BundleSpec, PreparedBundle, import_bundle, prepare_bundle
from loader.errors import BundleError, RequirementsError, UnsafeBundleError
from loader.unpack import UnpackLimits
from registry.errors import DuplicateNamespaceError, ErrorCode, RegistrationError
from tests.bundle_factory import write_bundle, zip_folder

pytestmark = pytest.mark.timeout(10)

ECHO = textwrap.dedent(
    """\
    import pydantic
    from registry import ModelRunner, outschema, register

    @outschema("echo")
    class EchoOutput(pydantic.BaseModel):
        text: str

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            return {"text": request["text"]}
"""
)

ImportBundle = Callable[..., BundleSpec]


def bundle_modules() -> set[str]:
    return {key for key in sys.modules if key.startswith("_modelrt_bundle_")}


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def load() -> Iterator[ImportBundle]:
    """import_bundle, with every imported package unmounted after the test."""
    specs: list[BundleSpec] = []

    def _load(prepared: PreparedBundle, *, strict_requirements: bool = False) -> BundleSpec:
        spec = import_bundle(prepared, strict_requirements=strict_requirements)
        specs.append(spec)
        return spec

    yield _load
    for spec in specs:
        spec.package.unmount()


def test_prepare_bundle_checks_a_folder_in_place(tmp_path: Path, work_dir: Path) -> None:
    bundle = write_bundle(tmp_path, "echo", ECHO, config={"version": 3})

    prepared = prepare_bundle(bundle, work_dir, UnpackLimits())

    assert prepared.source == bundle
    assert prepared.root == bundle
    assert prepared.format == "native"
    assert (prepared.name, prepared.version) == ("echo", "3")
    assert prepared.unpacked is False
    assert not work_dir.exists()


def test_prepare_bundle_unpacks_a_zip_into_the_work_dir(tmp_path: Path, work_dir: Path) -> None:
    folder = write_bundle(tmp_path / "src", "echo", ECHO, files={"weights/w.bin": b"\x00\x01"})
    archive = zip_folder(folder, tmp_path / "echo.zip")

    prepared = prepare_bundle(archive, work_dir, UnpackLimits())

    assert prepared.source == archive
    assert prepared.unpacked is True
    assert prepared.root.parent == work_dir
    assert prepared.root.name.startswith("echo-")
    assert (prepared.root / "weights" / "w.bin").read_bytes() == b"\x00\x01"
    assert prepared.name == "echo"


def test_prepare_bundle_finds_a_bundle_wrapped_in_one_folder_of_a_zip(
    tmp_path: Path, work_dir: Path
) -> None:
    src = tmp_path / "src"
    write_bundle(src, "echo", ECHO, folder="echo-main")
    archive = zip_folder(src, tmp_path / "wrapped.zip")

    prepared = prepare_bundle(archive, work_dir, UnpackLimits())

    assert prepared.root.name == "echo-main"
    assert prepared.root.parent.parent == work_dir
    assert (prepared.root / "model.py").is_file()


def test_preparing_the_same_zip_twice_reuses_the_unpacked_folder(
    tmp_path: Path, work_dir: Path
) -> None:
    archive = zip_folder(write_bundle(tmp_path / "src", "echo", ECHO), tmp_path / "echo.zip")

    first = prepare_bundle(archive, work_dir, UnpackLimits())
    second = prepare_bundle(archive, work_dir, UnpackLimits())

    assert first.root == second.root
    assert len(list(work_dir.iterdir())) == 1


@pytest.mark.parametrize("name", ["echo.tar.gz", "model.py", "missing.zip"])
def test_prepare_bundle_refuses_what_is_not_a_folder_or_zip(
    tmp_path: Path, work_dir: Path, name: str
) -> None:
    source = tmp_path / name
    if name != "missing.zip":
        source.write_bytes(b"data")
    with pytest.raises(BundleError, match=rf"^{name}: a bundle is a folder or a \.zip file"):
        prepare_bundle(source, work_dir, UnpackLimits())


def test_prepare_bundle_removes_the_unpacked_folder_of_a_zip_that_is_not_a_bundle(
    tmp_path: Path, work_dir: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "readme.txt").write_text("hello", encoding="utf-8")
    archive = zip_folder(src, tmp_path / "notes.zip")

    with pytest.raises(BundleError, match="not a model bundle"):
        prepare_bundle(archive, work_dir, UnpackLimits())

    assert list(work_dir.iterdir()) == []


def test_prepare_bundle_names_a_bad_config_key(tmp_path: Path, work_dir: Path) -> None:
    bundle = write_bundle(tmp_path, "echo", ECHO, config={"batching": {"max_batch_sz": 2}})
    with pytest.raises(BundleError, match=r"modelrt\.yaml: unknown key 'batching\.max_batch_sz'"):
        prepare_bundle(bundle, work_dir, UnpackLimits())


def test_prepare_bundle_applies_the_limits_to_a_folder(tmp_path: Path, work_dir: Path) -> None:
    bundle = write_bundle(tmp_path, "echo", ECHO, files={"a.txt": "a", "b.txt": "b"})
    with pytest.raises(UnsafeBundleError, match="more than 2 files"):
        prepare_bundle(bundle, work_dir, UnpackLimits(max_files=2))


def test_import_bundle_finds_the_runner_and_schema_for_the_config_name(
    tmp_path: Path, work_dir: Path, load: ImportBundle
) -> None:
    prepared = prepare_bundle(write_bundle(tmp_path, "echo", ECHO), work_dir, UnpackLimits())

    spec = load(prepared)

    assert spec.prepared is prepared
    assert spec.runner_cls.__name__ == "Echo"
    assert spec.schema_cls is not None
    assert spec.schema_cls.__name__ == "EchoOutput"
    assert spec.capabilities == ("predict",)
    assert spec.warnings == []


def test_import_bundle_collects_runners_defined_in_sibling_modules(
    tmp_path: Path, work_dir: Path, load: ImportBundle
) -> None:
    bundle = write_bundle(
        tmp_path,
        "talker",
        "from runners import Talker\n",
        files={
            "runners.py": """\
                from registry import ModelRunner, register

                @register("talker")
                class Talker(ModelRunner):
                    def generate(self, request):
                        yield {"token": "hi"}
            """
        },
    )

    spec = load(prepare_bundle(bundle, work_dir, UnpackLimits()))

    assert spec.runner_cls.__name__ == "Talker"
    assert spec.schema_cls is None
    assert spec.capabilities == ("generate",)


def test_import_bundle_of_a_zip_loads_the_unpacked_code(
    tmp_path: Path, work_dir: Path, load: ImportBundle
) -> None:
    archive = zip_folder(write_bundle(tmp_path / "src", "echo", ECHO), tmp_path / "echo.zip")
    spec = load(prepare_bundle(archive, work_dir, UnpackLimits()))
    assert spec.runner_cls.__name__ == "Echo"


def test_import_bundle_names_the_registered_namespaces_when_none_matches(
    tmp_path: Path, work_dir: Path
) -> None:
    bundle = write_bundle(tmp_path, "wanted", ECHO)
    prepared = prepare_bundle(bundle, work_dir, UnpackLimits())
    before = bundle_modules()

    with pytest.raises(BundleError) as caught:
        import_bundle(prepared, strict_requirements=False)

    message = str(caught.value)
    assert "config names model 'wanted'" in message
    assert "(registered: echo)" in message
    assert "@register('wanted')" in message
    assert bundle_modules() == before


def test_import_bundle_with_nothing_registered_says_none(tmp_path: Path, work_dir: Path) -> None:
    prepared = prepare_bundle(write_bundle(tmp_path, "x", "X = 1\n"), work_dir, UnpackLimits())
    with pytest.raises(BundleError, match=r"\(registered: none\)"):
        import_bundle(prepared, strict_requirements=False)


def test_model_py_raising_at_import_is_a_bundle_error_with_the_exception_type(
    tmp_path: Path, work_dir: Path
) -> None:
    bundle = write_bundle(tmp_path, "boom", "raise KeyError('weights')\n")
    prepared = prepare_bundle(bundle, work_dir, UnpackLimits())
    before = bundle_modules()

    with pytest.raises(BundleError, match=r"importing model\.py failed: KeyError: 'weights'"):
        import_bundle(prepared, strict_requirements=False)

    assert bundle_modules() == before


def test_bad_registration_in_model_py_keeps_its_own_error(tmp_path: Path, work_dir: Path) -> None:
    bundle = write_bundle(
        tmp_path,
        "lazy",
        """\
        from registry import ModelRunner, register

        @register("lazy")
        class Lazy(ModelRunner):
            pass
        """,
    )
    prepared = prepare_bundle(bundle, work_dir, UnpackLimits())
    with pytest.raises(RegistrationError, match="implements none of"):
        import_bundle(prepared, strict_requirements=False)


def test_two_classes_claiming_one_namespace_is_a_duplicate_namespace_error(
    tmp_path: Path, work_dir: Path
) -> None:
    bundle = write_bundle(
        tmp_path,
        "echo",
        """\
        from registry import ModelRunner, register

        @register("echo")
        class First(ModelRunner):
            def predict(self, request):
                return {}

        @register("echo")
        class Second(ModelRunner):
            def predict(self, request):
                return {}
        """,
    )
    prepared = prepare_bundle(bundle, work_dir, UnpackLimits())
    before = bundle_modules()

    with pytest.raises(DuplicateNamespaceError) as caught:
        import_bundle(prepared, strict_requirements=False)

    assert caught.value.code is ErrorCode.ALREADY_EXISTS
    assert bundle_modules() == before
    assert "First" in str(caught.value)
    assert "Second" in str(caught.value)


def test_unmet_requirements_are_warnings_when_lenient(
    tmp_path: Path, work_dir: Path, load: ImportBundle
) -> None:
    bundle = write_bundle(tmp_path, "echo", ECHO, files={"requirements.txt": "numpy<1\n"})

    spec = load(prepare_bundle(bundle, work_dir, UnpackLimits()))

    assert len(spec.warnings) == 1
    assert spec.warnings[0].startswith("numpy<1 is required but ")


def test_unmet_requirements_are_an_error_when_strict(tmp_path: Path, work_dir: Path) -> None:
    bundle = write_bundle(tmp_path, "echo", ECHO, files={"requirements.txt": "numpy<1\n"})
    prepared = prepare_bundle(bundle, work_dir, UnpackLimits())
    before = bundle_modules()

    with pytest.raises(RequirementsError, match="requirements not met: numpy<1") as caught:
        import_bundle(prepared, strict_requirements=True)

    assert caught.value.code is ErrorCode.FAILED_PRECONDITION
    assert bundle_modules() == before


def test_a_missing_module_is_named_in_the_error(tmp_path: Path, work_dir: Path) -> None:
    bundle = write_bundle(tmp_path, "echo", "import modelrt_surely_missing_module\n" + ECHO)
    prepared = prepare_bundle(bundle, work_dir, UnpackLimits())

    with pytest.raises(BundleError) as caught:
        import_bundle(prepared, strict_requirements=False)

    assert str(caught.value) == (
        "bundle code imports 'modelrt_surely_missing_module', which is not installed"
    )


def test_a_missing_module_listed_in_requirements_points_at_the_requirement(
    tmp_path: Path, work_dir: Path
) -> None:
    bundle = write_bundle(
        tmp_path,
        "echo",
        "import modelrt_surely_missing_module\n" + ECHO,
        files={"requirements.txt": "modelrt-surely-missing-module>=2\n"},
    )
    prepared = prepare_bundle(bundle, work_dir, UnpackLimits())

    with pytest.raises(BundleError, match=r"requirements\.txt asks for modelrt-surely-missing"):
        import_bundle(prepared, strict_requirements=False)


def test_two_bundles_with_the_same_module_names_import_side_by_side(
    tmp_path: Path, work_dir: Path, load: ImportBundle
) -> None:
    model = """\
        from helpers import NAME
        from registry import ModelRunner, register

        @register(NAME)
        class Runner(ModelRunner):
            def predict(self, request):
                return {"name": NAME}
    """
    specs = [
        load(
            prepare_bundle(
                write_bundle(tmp_path, name, model, files={"helpers.py": f"NAME = {name!r}\n"}),
                work_dir,
                UnpackLimits(),
            )
        )
        for name in ("first", "second")
    ]
    assert [spec.prepared.name for spec in specs] == ["first", "second"]
    assert specs[0].runner_cls is not specs[1].runner_cls
