"""Why a peer is skipped: the reason the comparison prints instead of a row."""

from pathlib import Path

import peer_servers
import pytest


def _venv(root: Path, script: str) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / script).write_text("#!/bin/sh\n")
    return root


def test_a_missing_venv_names_the_setup_target(tmp_path: Path) -> None:
    reason = peer_servers.unavailable("mlserver", tmp_path / "mlserver")
    assert "bin/mlserver is missing" in reason
    assert "make bench-peers-setup" in reason


def test_torchserve_without_java_on_path_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = _venv(tmp_path / "torchserve", "torchserve")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert "java is not on PATH" in peer_servers.unavailable("torchserve", venv)


def test_an_installed_mlserver_is_available(tmp_path: Path) -> None:
    assert peer_servers.unavailable("mlserver", _venv(tmp_path / "m", "mlserver")) == ""
