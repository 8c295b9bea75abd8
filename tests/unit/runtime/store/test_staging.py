"""Tests for runtime.store.staging: a staged folder's owner, and when it counts as abandoned."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime.store.staging import STALE_STAGING_S, is_abandoned, staging_owner

pytestmark = pytest.mark.timeout(10)


def test_the_owner_names_this_host_and_process(tmp_path: Path) -> None:
    host, pid, start = staging_owner().rsplit("_", 2)
    staged = tmp_path / f"{staging_owner()}_0a1b"
    staged.mkdir()

    assert host
    assert int(pid) == os.getpid()
    assert start.isdigit()
    assert is_abandoned(staged, STALE_STAGING_S) is False


def test_a_reused_pid_does_not_keep_a_dead_owners_folder(tmp_path: Path) -> None:
    host, pid, start = staging_owner().rsplit("_", 2)
    staged = tmp_path / f"{host}_{pid}_{int(start) + 1}_0a1b"  # this pid, another process's start
    staged.mkdir()

    assert is_abandoned(staged, STALE_STAGING_S) is True


def test_a_folder_that_is_gone_is_not_judged_abandoned(tmp_path: Path) -> None:
    assert is_abandoned(tmp_path / "elsewhere_7_99_aaaa", stale_after_s=0) is False
