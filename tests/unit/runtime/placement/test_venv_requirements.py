"""Tests for runtime.placement.venv_requirements: the keep filter and the requirements plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.errors import ErrorCode
from runtime.placement.venv_installers import VenvError
from runtime.placement.venv_requirements import KEEP, plan_requirements


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.timeout(10)
def test_keep_holds_frameworks_serving_stack_numpy_and_platform_modules() -> None:
    expected = {"torch", "tensorflow", "jax", "onnxruntime", "numpy", "grpcio", "protobuf"}
    assert expected | {"pydantic", "pydantic-core", "modelrt", "register", "logger"} <= KEEP


@pytest.mark.timeout(10)
def test_plan_skips_kept_packages_with_a_note_naming_the_server_version(tmp_path: Path) -> None:
    reqs = write(tmp_path / "requirements.txt", "Torch==1.10.2\nsix==1.16.0\njax>=0.4\nregister\n")

    plan = plan_requirements(reqs, provided={"torch": "2.13.0"})

    assert plan.install == ("six==1.16.0",)
    assert plan.notes == (
        "torch==1.10.2 not installed: the server provides torch 2.13.0",
        "jax>=0.4 not installed: jax is left to the server, which does not provide it",
        "register not installed: register is left to the server, which does not provide it",
    )


@pytest.mark.timeout(10)
def test_plan_normalises_lines_inlines_includes_and_drops_foreign_markers(tmp_path: Path) -> None:
    write(tmp_path / "extra" / "more.txt", "click==8.1.7\n")
    reqs = write(
        tmp_path / "requirements.txt",
        "# pins\n\nSix == 1.16.0   # comment\n-r extra/more.txt\n"
        "colorama==0.4.6 ; python_version < '3'\n"
        "--extra-index-url   https://example.invalid/simple\n"
        "./wheels/tiny-1.0-py3-none-any.whl\nattrs\\\n>=23\n",
    )

    plan = plan_requirements(reqs, provided={})

    assert plan.install == (
        "six==1.16.0",
        "click==8.1.7",
        "--extra-index-url https://example.invalid/simple",
        str(tmp_path / "wheels" / "tiny-1.0-py3-none-any.whl"),
        "attrs>=23",
    )
    assert plan.notes == ()


@pytest.mark.timeout(10)
def test_a_kept_pin_names_the_other_build_the_server_provides(tmp_path: Path) -> None:
    reqs = write(tmp_path / "reqs.txt", "tensorflow==2.9.0\nonnxruntime-gpu\n")

    plan = plan_requirements(reqs, provided={"tensorflow-cpu": "2.16.1", "onnxruntime": "1.18"})

    assert plan.install == ()
    assert plan.notes == (
        "tensorflow==2.9.0 not installed: the server provides tensorflow-cpu 2.16.1",
        "onnxruntime-gpu not installed: the server provides onnxruntime 1.18",
    )


@pytest.mark.timeout(10)
def test_plan_rejects_a_line_that_cannot_be_parsed(tmp_path: Path) -> None:
    reqs = write(tmp_path / "requirements.txt", "six=>1.16\n")

    with pytest.raises(VenvError, match="cannot parse") as caught:
        plan_requirements(reqs)

    assert caught.value.code is ErrorCode.FAILED_PRECONDITION
    assert caught.value.reason == "REQUIREMENTS_INSTALL_FAILED"
