"""Tests for loader.importer: bundle code imported as a synthetic package, never via sys.path."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loader.importer import BundlePackage, sibling_names

pytestmark = pytest.mark.timeout(10)

Mount = Callable[[Path], BundlePackage]


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


@pytest.fixture
def mount() -> Iterator[Mount]:
    """Mount bundle folders; every package is unmounted after the test."""
    packages: list[BundlePackage] = []

    def _mount(root: Path) -> BundlePackage:
        package = BundlePackage(root)
        packages.append(package)
        return package

    yield _mount
    for package in packages:
        package.unmount()


def test_imports_model_py_under_the_bundle_package(tmp_path: Path, mount: Mount) -> None:
    write_files(tmp_path, {"model.py": "ANSWER = 42\n"})
    package = mount(tmp_path)

    model = package.import_module("model")

    assert model.ANSWER == 42
    assert model.__name__ == f"{package.name}.model"
    assert Path(model.__file__ or "") == tmp_path.resolve() / "model.py"
    assert package.name.startswith("_modelrt_bundle_")


def test_relative_import_of_a_sibling_resolves_to_the_bundle_copy(
    tmp_path: Path, mount: Mount
) -> None:
    write_files(
        tmp_path,
        {
            "model.py": "from . import helpers\nVALUE = helpers.VALUE\n",
            "helpers.py": "VALUE = 'mine'\n",
        },
    )
    package = mount(tmp_path)

    model = package.import_module("model")

    assert model.VALUE == "mine"
    assert model.helpers.__name__ == f"{package.name}.helpers"


def test_plain_import_of_a_sibling_resolves_to_the_bundle_copy(
    tmp_path: Path, mount: Mount
) -> None:
    write_files(
        tmp_path,
        {"model.py": "import helpers\nVALUE = helpers.VALUE\n", "helpers.py": "VALUE = 1\n"},
    )
    package = mount(tmp_path)

    model = package.import_module("model")

    assert model.VALUE == 1
    assert model.helpers is sys.modules[f"{package.name}.helpers"]
    assert "helpers" not in sys.modules


def test_from_sibling_import_name_resolves_to_the_bundle_copy(tmp_path: Path, mount: Mount) -> None:
    write_files(
        tmp_path,
        {
            "model.py": "from helpers import VALUE, double\nRESULT = double(VALUE)\n",
            "helpers.py": "VALUE = 21\ndef double(x):\n    return 2 * x\n",
        },
    )
    model = mount(tmp_path).import_module("model")
    assert model.RESULT == 42


def test_sibling_package_folder_and_its_submodules_resolve_to_the_bundle_copy(
    tmp_path: Path, mount: Mount
) -> None:
    write_files(
        tmp_path,
        {
            "model.py": """\
                import pkg.sub
                from pkg import sub as sub_again
                from pkg.sub import NAME
                VIA_DOTTED = pkg.sub.NAME
                SAME = sub_again is pkg.sub
                TOP = pkg.TOP
            """,
            "pkg/__init__.py": "TOP = 'top'\n",
            "pkg/sub.py": "NAME = 'sub'\n",
        },
    )
    package = mount(tmp_path)

    model = package.import_module("model")

    assert (model.VIA_DOTTED, model.NAME, model.SAME, model.TOP) == ("sub", "sub", True, "top")
    assert model.pkg.__name__ == f"{package.name}.pkg"
    assert "pkg" not in sys.modules
    assert "pkg.sub" not in sys.modules


def test_sibling_modules_import_each_other_inside_the_bundle(tmp_path: Path, mount: Mount) -> None:
    write_files(
        tmp_path,
        {
            "model.py": "import pre\nOUT = pre.run()\n",
            "pre.py": "import consts\ndef run():\n    return consts.X + 1\n",
            "consts.py": "X = 1\n",
        },
    )
    assert mount(tmp_path).import_module("model").OUT == 2


def test_modules_outside_the_bundle_still_import_normally(tmp_path: Path, mount: Mount) -> None:
    write_files(tmp_path, {"model.py": "import json\nfrom os import path\nOK = json.dumps([1])\n"})
    model = mount(tmp_path).import_module("model")
    assert model.OK == "[1]"
    assert model.json is sys.modules["json"]


def test_two_bundles_with_the_same_module_names_load_side_by_side(
    tmp_path: Path, mount: Mount
) -> None:
    for name, value in (("a", "from-a"), ("b", "from-b")):
        write_files(
            tmp_path / name,
            {
                "model.py": "import helpers\ndef value():\n    return helpers.VALUE\n",
                "helpers.py": f"VALUE = {value!r}\n",
            },
        )
    first = mount(tmp_path / "a")
    second = mount(tmp_path / "b")

    model_a = first.import_module("model")
    model_b = second.import_module("model")

    assert first.name != second.name
    assert (model_a.value(), model_b.value()) == ("from-a", "from-b")
    assert model_a.helpers is not model_b.helpers


def test_mounting_the_same_folder_twice_gives_independent_packages(
    tmp_path: Path, mount: Mount
) -> None:
    write_files(tmp_path, {"model.py": "STATE = []\n"})
    first = mount(tmp_path).import_module("model")
    second = mount(tmp_path).import_module("model")
    first.STATE.append(1)
    assert second.STATE == []


def test_importing_a_bundle_leaves_sys_path_unchanged(tmp_path: Path, mount: Mount) -> None:
    write_files(tmp_path, {"model.py": "import helpers\n", "helpers.py": "X = 1\n"})
    before = list(sys.path)

    package = mount(tmp_path)
    package.import_module("model")
    package.unmount()

    assert sys.path == before


def test_modules_lists_what_the_bundle_imported(tmp_path: Path, mount: Mount) -> None:
    write_files(tmp_path, {"model.py": "import helpers\n", "helpers.py": "X = 1\n"})
    package = mount(tmp_path)
    package.import_module("model")

    names = sorted(module.__name__ for module in package.modules())

    assert names == [f"{package.name}.helpers", f"{package.name}.model"]


def test_unmount_removes_the_bundle_modules_and_stops_resolving_the_package(
    tmp_path: Path, mount: Mount
) -> None:
    write_files(tmp_path, {"model.py": "import helpers\n", "helpers.py": "X = 1\n"})
    package = mount(tmp_path)
    package.import_module("model")

    package.unmount()

    assert [key for key in sys.modules if key.startswith(package.name)] == []
    assert package.modules() == []
    with pytest.raises(ModuleNotFoundError):
        package.import_module("model")
    package.unmount()  # a second unmount is harmless


def test_a_bundle_importing_a_missing_module_raises_module_not_found(
    tmp_path: Path, mount: Mount
) -> None:
    write_files(tmp_path, {"model.py": "import modelrt_surely_missing_module\n"})
    package = mount(tmp_path)

    with pytest.raises(ModuleNotFoundError) as caught:
        package.import_module("model")

    assert caught.value.name == "modelrt_surely_missing_module"


def test_a_bundle_importing_a_missing_name_from_a_sibling_raises_import_error(
    tmp_path: Path, mount: Mount
) -> None:
    write_files(tmp_path, {"model.py": "from helpers import NOPE\n", "helpers.py": "X = 1\n"})
    with pytest.raises(ImportError, match="NOPE"):
        mount(tmp_path).import_module("model")


def test_import_module_reaches_code_in_a_numbered_subfolder(tmp_path: Path, mount: Mount) -> None:
    write_files(tmp_path, {"1/model.py": "WHERE = 'one'\n"})
    model = mount(tmp_path).import_module("1.model")
    assert model.WHERE == "one"


def test_a_module_folder_resolves_plain_imports_of_its_modules_to_the_bundle_copy(
    tmp_path: Path, mount: Mount
) -> None:
    root = write_files(
        tmp_path / "bundle",
        {
            "shared.py": "WHERE = 'top'\n",
            "1/model.py": "import helpers\nimport shared\n",
            "1/helpers.py": "from shared import WHERE\nVALUE = 'one'\n",
            "1/shared.py": "WHERE = 'inside 1/'\n",
        },
    )
    package = mount(root)
    package.add_module_folder("1")
    model = package.import_module("1.model")
    assert model.helpers.__name__ == f"{package.name}.1.helpers"
    assert model.helpers.VALUE == "one"
    assert model.shared.WHERE == "top"  # a module at the bundle's top keeps its name
    assert "helpers" not in sys.modules


def test_sibling_names_lists_modules_and_package_folders(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "model.py": "",
            "helpers.py": "",
            "pkg/__init__.py": "",
            "data/readme.txt": "",
            "not-a-module.py": "",
            "notes.txt": "",
        },
    )
    assert sibling_names(tmp_path) == {"model", "helpers", "pkg"}
