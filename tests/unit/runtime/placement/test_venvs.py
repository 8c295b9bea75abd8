"""Tests for runtime.placement.venvs: the requirements key, the server probe, real venvs."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import pytest

from runtime.placement.venv_installers import InstallerChoice, find_uv, pick_installer
from runtime.placement.venvs import (
    COMPLETE_MARKER,
    BundleEnv,
    ServerEnv,
    VenvError,
    ensure_venv,
    probe_server,
    requirements_key,
)
from tests.wheel_factory import write_wheel

slow = [pytest.mark.slow, pytest.mark.timeout(300)]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run_in(env: BundleEnv, code: str, cwd: Path) -> str:
    done = subprocess.run(
        [str(env.python), "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def server_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def building(records: list[logging.LogRecord]) -> list[str]:
    messages = [
        record.getMessage() for record in records if record.name == "runtime.placement.venvs"
    ]
    return [message for message in messages if ": building for " in message]


# --- the key (no venv) --------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_requirements_key_ignores_comments_whitespace_case_and_order(tmp_path: Path) -> None:
    one = write(tmp_path / "a" / "requirements.txt", "six==1.16.0\nclick==8.1.7\ntorch==1.10\n")
    two = write(
        tmp_path / "b" / "requirements.txt",
        "# the same, reordered\n  Click == 8.1.7  \n\nSIX==1.16.0   # pinned\n",
    )

    assert requirements_key(one) == requirements_key(two)
    assert len(requirements_key(one)) == 16


@pytest.mark.timeout(10)
def test_requirements_key_changes_when_a_pin_or_the_server_changes(tmp_path: Path) -> None:
    one = write(tmp_path / "a" / "requirements.txt", "six==1.16.0\n")
    two = write(tmp_path / "b" / "requirements.txt", "six==1.15.0\n")
    server = ServerEnv("3.11.7", ("/srv/venv/site-packages",), {"torch": "2.13.0"})
    upgraded = ServerEnv("3.11.7", ("/srv/venv/site-packages",), {"torch": "2.14.0"})

    assert requirements_key(one) != requirements_key(two)
    assert requirements_key(one, server=server) != requirements_key(one, server=upgraded)


@pytest.mark.timeout(30)
def test_only_kept_packages_need_no_venv_and_notes_name_them(tmp_path: Path) -> None:
    reqs = write(tmp_path / "requirements.txt", "torch==1.10.2\nnumpy\n")
    cache = tmp_path / "venvs"

    env = ensure_venv(reqs, cache)

    assert env.python == Path(sys.executable)
    assert env.key == "system"
    assert env.notes[0].startswith("torch==1.10.2 not installed: ")
    numpy_note = f"numpy not installed: the server provides numpy {metadata.version('numpy')}"
    assert env.notes[1] == numpy_note
    assert not cache.exists()


# --- real venvs (slow) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> tuple[BundleEnv, Path, Path]:
    """A venv pinning six (absent from the server venv) and click (present at another version)."""
    root = tmp_path_factory.mktemp("pinned")
    reqs = write(root / "bundle" / "requirements.txt", "six==1.16.0\nclick==8.1.7\ntorch==1.10.2\n")
    cache = root / "venvs"
    return ensure_venv(reqs, cache), reqs, cache


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_pinned_packages_shadow_the_server_versions(
    pinned: tuple[BundleEnv, Path, Path], tmp_path: Path
) -> None:
    env, _, cache = pinned
    versions = "import importlib.metadata as m; print(m.version('six'), m.version('click'))"

    assert server_version("six") != "1.16.0"  # none in the server venv (its base python has 1.17)
    assert server_version("click") != "8.1.7"
    assert run_in(env, versions, tmp_path) == "1.16.0 8.1.7"
    assert env.python.is_relative_to(cache)
    assert len(env.notes) == 1
    assert env.notes[0].startswith("torch==1.10.2 not installed: ")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_venv_imports_server_packages_and_the_editable_install(
    pinned: tuple[BundleEnv, Path, Path], tmp_path: Path
) -> None:
    env, _, _ = pinned
    code = "import numpy, registry.errors; print(numpy.__version__, registry.errors.__file__)"

    numpy_version, errors_file = run_in(env, code, tmp_path).split()

    assert numpy_version == metadata.version("numpy")
    assert Path(errors_file) == Path(__file__).parents[4] / "registry" / "errors.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_same_requirements_reuse_the_complete_venv_without_pip(
    pinned: tuple[BundleEnv, Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env, reqs, cache = pinned
    marker = env.python.parents[1] / COMPLETE_MARKER
    built_at = marker.stat().st_mtime_ns
    elsewhere = write(tmp_path / "other" / "requirements.txt", "click==8.1.7\n\nsix==1.16.0\n")
    caplog.set_level(logging.INFO, logger="runtime.placement.venvs")

    started = time.monotonic()
    again = ensure_venv(reqs, cache)
    shared = ensure_venv(elsewhere, cache)

    assert time.monotonic() - started < 10
    assert again.python == shared.python == env.python
    assert marker.stat().st_mtime_ns == built_at
    assert building(caplog.records) == []


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_callers_at_once_build_one_venv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reqs = write(tmp_path / "requirements.txt", "six==1.16.0\n")
    cache = tmp_path / "venvs"
    caplog.set_level(logging.INFO, logger="runtime.placement.venvs")
    results: list[BundleEnv] = []
    callers = [
        threading.Thread(target=lambda: results.append(ensure_venv(reqs, cache))) for _ in range(2)
    ]

    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=280)

    assert len(results) == 2
    assert results[0] == results[1]
    assert len(building(caplog.records)) == 1
    assert run_in(results[0], "import six; print(six.__version__)", tmp_path) == "1.16.0"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_unknown_package_raises_pip_reason_and_leaves_only_the_lock(tmp_path: Path) -> None:
    reqs = write(tmp_path / "requirements.txt", "nosuchpackage-modelrt-test==9.9.9\n")
    cache = tmp_path / "venvs"

    with pytest.raises(VenvError) as caught:
        ensure_venv(reqs, cache)

    message = str(caught.value)
    assert "No matching distribution found for nosuchpackage-modelrt-test==9.9.9" in message
    assert caught.value.reason == "REQUIREMENTS_INSTALL_FAILED"
    key = requirements_key(reqs, server=probe_server(sys.executable))
    assert [path.name for path in cache.iterdir()] == [f"{key}.lock"]


# --- installers: uv when found, pip as the fallback (offline: local wheels) ----------------------


def built_with(records: list[logging.LogRecord]) -> list[str]:
    messages = [
        record.getMessage() for record in records if record.name == "runtime.placement.venvs"
    ]
    return [
        message.split(" built with ")[1].split()[0]
        for message in messages
        if " built with " in message
    ]


def local_wheel_requirements(root: Path, requires: tuple[str, ...] = ()) -> Path:
    write_wheel(root / "bundle" / "wheels", "tinyone", "1.0", requires)
    return write(root / "bundle" / "requirements.txt", "./wheels/tinyone-1.0-py3-none-any.whl\n")


def own_packages(env: BundleEnv) -> set[str]:
    site_packages = sorted(env.python.parents[1].glob("lib/python*/site-packages"))
    return {dist.metadata["Name"] for dist in metadata.distributions(path=[str(site_packages[0])])}


@pytest.mark.timeout(10)
def test_find_uv_takes_the_one_on_path_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = write(tmp_path / "bin" / "uv", "#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))

    assert find_uv() == str(fake)
    assert pick_installer("auto") == str(fake)
    assert pick_installer("pip") is None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_auto_builds_with_uv_and_keeps_the_server_numpy_for_a_dependency(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reqs = local_wheel_requirements(tmp_path, ("numpy>=1.20",))
    caplog.set_level(logging.INFO, logger="runtime.placement.venvs")

    env = ensure_venv(reqs, tmp_path / "venvs")

    assert built_with(caplog.records) == ["uv"]
    assert own_packages(env) == {"tinyone"}
    code = "import numpy, tinyone; print(tinyone.VERSION, numpy.__version__)"
    assert run_in(env, code, tmp_path) == f"1.0 {metadata.version('numpy')}"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_pip_installer_builds_the_same_venv_without_uv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    reqs = local_wheel_requirements(tmp_path, ("numpy>=1.20",))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no uv on PATH; the uv package is not asked
    caplog.set_level(logging.INFO, logger="runtime.placement.venvs")

    env = ensure_venv(reqs, tmp_path / "venvs", installer="pip")

    assert built_with(caplog.records) == ["pip"]
    assert "tinyone" in own_packages(env)
    assert "numpy" not in own_packages(env)
    assert run_in(env, "import tinyone; print(tinyone.VERSION)", tmp_path) == "1.0"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_uv_refuses_a_dependency_that_needs_another_version_of_a_kept_package(
    tmp_path: Path,
) -> None:
    reqs = local_wheel_requirements(tmp_path, ("numpy<1.0",))

    with pytest.raises(VenvError) as caught:
        ensure_venv(reqs, tmp_path / "venvs", installer="uv")

    numpy = metadata.version("numpy")
    assert f"tinyone 1.0 needs numpy<1.0 but the server provides numpy {numpy}" in str(caught.value)
    assert [path.suffix for path in (tmp_path / "venvs").iterdir()] == [".lock"]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_relative_requirements_and_cache_paths_build_a_working_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installer: InstallerChoice
) -> None:
    local_wheel_requirements(tmp_path)
    monkeypatch.chdir(tmp_path)

    env = ensure_venv(Path("bundle/requirements.txt"), Path("venvs"), installer=installer)

    assert env.python.is_absolute()
    assert run_in(env, "import tinyone; print(tinyone.VERSION)", tmp_path / "bundle") == "1.0"
