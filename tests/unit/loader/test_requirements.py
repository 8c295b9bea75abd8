"""Tests for loader.requirements against the packages really installed in this environment."""

from __future__ import annotations

import logging
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from loader.errors import RequirementsError
from loader.requirements import (
    PROVIDERS,
    RequirementProblem,
    check_requirements,
    describe_import_error,
    enforce_requirements,
)
from registry.errors import ErrorCode

NUMPY = metadata.version("numpy")
MISSING = "modelrt-surely-not-installed-pkg"


def write_requirements(tmp_path: Path, text: str, name: str = "requirements.txt") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_satisfied_requirements_give_no_problems(tmp_path: Path) -> None:
    path = write_requirements(
        tmp_path,
        """
        numpy>=1.0
        PyYAML>=5,<100
        pyyaml
        Packaging
        numpy[extra]>=1
        """,
    )

    assert check_requirements(path) == []


def test_wrong_version_is_reported_with_installed_version(tmp_path: Path) -> None:
    path = write_requirements(tmp_path, "numpy==0.0.1\n")

    assert check_requirements(path) == [
        RequirementProblem(
            name="numpy",
            wanted="==0.0.1",
            found=NUMPY,
            message=f"numpy==0.0.1 is required but {NUMPY} is installed",
        )
    ]


def test_missing_package_is_reported_with_found_none(tmp_path: Path) -> None:
    path = write_requirements(tmp_path, f"{MISSING}>=2\n{MISSING}-two\n")

    problems = check_requirements(path)

    assert [(p.name, p.wanted, p.found) for p in problems] == [
        (MISSING, ">=2", None),
        (f"{MISSING}-two", "", None),
    ]
    assert problems[0].message == f"{MISSING}>=2 is required but {MISSING} is not installed"
    assert problems[1].message == f"{MISSING}-two is required but is not installed"


def test_requirements_whose_markers_do_not_apply_are_skipped(tmp_path: Path) -> None:
    path = write_requirements(
        tmp_path,
        f"""
        {MISSING}==1; python_version < "3.0"
        numpy==0.0.1 ; sys_platform == "no-such-platform"
        {MISSING}; extra == "gpu"
        numpy>=1; python_version >= "3.0"
        """,
    )

    assert check_requirements(path) == []


def test_comments_options_urls_and_paths_are_skipped(tmp_path: Path) -> None:
    path = write_requirements(
        tmp_path,
        f"""
        # a comment
        -r other.txt
        -c constraints.txt
        -e git+https://github.com/acme/pkg.git#egg=pkg
        --index-url https://pypi.example.com/simple
        --extra-index-url https://pypi.example.com/extra
        --find-links ./wheels
        -f ./wheels

        numpy>=1  # trailing comment
        git+https://github.com/acme/{MISSING}.git
        {MISSING} @ https://example.com/{MISSING}-1.0.whl
        ./vendor/{MISSING}
        {MISSING}-1.0-py3-none-any.whl
        """,
    )

    assert check_requirements(path) == []


def test_hash_options_and_continuations_do_not_hide_the_requirement(tmp_path: Path) -> None:
    path = write_requirements(
        tmp_path,
        """
        numpy==0.0.1 \\
            --hash=sha256:0123456789abcdef
        """,
    )

    assert [(p.name, p.found) for p in check_requirements(path)] == [("numpy", NUMPY)]


def test_unparsable_line_is_reported_not_raised(tmp_path: Path) -> None:
    path = write_requirements(tmp_path, "numpy>=1\nnumpy=>>1\n", name="reqs.txt")

    [problem] = check_requirements(path)

    assert problem.found is None
    assert problem.message.startswith("reqs.txt line 2: cannot parse 'numpy=>>1'")


def test_installed_prerelease_satisfies_a_specifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    dist = site / "modelrt_fake_pre-2.0rc1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: modelrt-fake-pre\nVersion: 2.0rc1\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    path = write_requirements(tmp_path, "Modelrt.Fake_Pre>=1.5\nmodelrt-fake-pre>=2.0\n")

    problems = check_requirements(path)

    assert [(p.name, p.found) for p in problems] == [("modelrt-fake-pre", "2.0rc1")]


def test_ignored_names_are_not_checked(tmp_path: Path) -> None:
    path = write_requirements(tmp_path, "register\nLogger==1.0\nnumpy==0.0.1\n")

    problems = check_requirements(path, ignore=["register", "logger", "NumPy"])

    assert problems == []


def test_missing_requirements_file_has_no_problems(tmp_path: Path) -> None:
    assert check_requirements(tmp_path / "requirements.txt") == []


def test_strict_enforcement_raises_naming_package_and_installed_version(tmp_path: Path) -> None:
    path = write_requirements(tmp_path, f"numpy==0.0.1\n{MISSING}>=2\n")

    with pytest.raises(RequirementsError) as caught:
        enforce_requirements(check_requirements(path), strict=True)

    message = str(caught.value)
    assert f"numpy==0.0.1 is required but {NUMPY} is installed" in message
    assert f"{MISSING}>=2 is required but {MISSING} is not installed" in message
    assert caught.value.metadata == {"packages": f"numpy,{MISSING}"}
    assert caught.value.code is ErrorCode.FAILED_PRECONDITION
    assert caught.value.reason == "REQUIREMENTS_NOT_MET"


def test_lenient_enforcement_returns_and_logs_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_requirements(tmp_path, "numpy==0.0.1\n")

    with caplog.at_level(logging.WARNING, logger="loader.requirements"):
        warnings = enforce_requirements(check_requirements(path), strict=False)

    assert warnings == [f"numpy==0.0.1 is required but {NUMPY} is installed"]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert warnings[0] in caplog.records[0].getMessage()


def test_enforcement_without_problems_passes_even_when_strict() -> None:
    assert enforce_requirements([], strict=True) == []


def test_describe_import_error_names_module_and_requirement() -> None:
    problems = [
        RequirementProblem("numpy", "==0.0.1", NUMPY, "..."),
        RequirementProblem("Foo_Bar", ">=2", None, "..."),
    ]
    error = ModuleNotFoundError("No module named 'foo_bar'", name="foo_bar")

    message = describe_import_error(error, problems)

    assert message == (
        "bundle code imports 'foo_bar', which is not installed "
        "(requirements.txt asks for Foo_Bar>=2)"
    )


def test_describe_import_error_matches_the_top_level_of_a_submodule() -> None:
    problems = [RequirementProblem("numpy", "==0.0.1", NUMPY, "...")]
    error = ModuleNotFoundError("No module named 'numpy.gone'", name="numpy.gone")

    message = describe_import_error(error, problems)

    assert "'numpy.gone'" in message
    assert f"(requirements.txt asks for numpy==0.0.1; {NUMPY} is installed)" in message


def test_describe_import_error_without_matching_requirement() -> None:
    error = ModuleNotFoundError("No module named 'cv2'", name="cv2")

    assert describe_import_error(error, []) == "bundle code imports 'cv2', which is not installed"


def test_describe_import_error_for_a_missing_name_or_no_module_name() -> None:
    from_error = ImportError("cannot import name 'x' from 'numpy'", name="numpy")
    bare = ImportError("something odd")

    assert describe_import_error(from_error, []).startswith(
        "bundle code failed to import from 'numpy': cannot import name 'x'"
    )
    assert describe_import_error(bare, []) == "bundle code failed to import: something odd"


def fake_distributions(site: Path, versions: dict[str, str]) -> None:
    for name, version in versions.items():
        dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
        dist.mkdir(parents=True)
        text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        (dist / "METADATA").write_text(text, encoding="utf-8")


@pytest.fixture
def other_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU, GPU and headless builds that stand in for the names bundles usually ask for."""
    fake_distributions(
        tmp_path / "site",
        {
            "tensorflow-cpu": "2.16.1",
            "onnxruntime-gpu": "1.18.0",
            "opencv-python-headless": "4.10.0.84",
            "pillow-simd": "9.0.0.post1",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


@pytest.mark.usefixtures("other_builds")
def test_a_requirement_is_met_by_another_build_of_the_same_package(tmp_path: Path) -> None:
    path = write_requirements(
        tmp_path,
        """
        tensorflow>=2.16
        tensorflow-gpu>=2
        onnxruntime==1.18.0
        opencv-python>=4.10
        pillow==9.0.0.post1
        """,
    )

    assert check_requirements(path) == []


@pytest.mark.usefixtures("other_builds")
def test_another_build_at_a_wrong_version_is_named_in_the_problem(tmp_path: Path) -> None:
    path = write_requirements(tmp_path, "tensorflow==2.9.0\nopencv-contrib-python\n", "reqs.txt")

    assert check_requirements(path) == [
        RequirementProblem(
            name="tensorflow",
            wanted="==2.9.0",
            found="2.16.1",
            message="tensorflow==2.9.0 is required but tensorflow-cpu 2.16.1 is installed",
            source="reqs.txt",
        ),
        RequirementProblem(  # the headless build lacks the contrib modules
            name="opencv-contrib-python",
            wanted="",
            found=None,
            message="opencv-contrib-python is required but is not installed",
            source="reqs.txt",
        ),
    ]


def test_providers_table_uses_canonical_names_and_never_names_a_package_for_itself() -> None:
    for name, others in PROVIDERS.items():
        assert canonicalize_name(name) == name
        assert all(canonicalize_name(other) == other != name for other in others)
    assert set(PROVIDERS["tensorflow"]) >= {"tensorflow-cpu", "tensorflow-gpu"}
    assert "onnxruntime-gpu" in PROVIDERS["onnxruntime"]
    assert "opencv-python" not in PROVIDERS["opencv-contrib-python"]


def test_describe_import_error_names_the_file_that_asks(tmp_path: Path) -> None:
    path = write_requirements(tmp_path, f"{MISSING}>=2\n", "reqs.txt")
    error = ModuleNotFoundError(f"No module named {MISSING!r}", name=MISSING)

    message = describe_import_error(error, check_requirements(path))

    assert message.endswith(f"(reqs.txt asks for {MISSING}>=2)")
