"""The launch line a helper front end reads: every setting, tokens included, survives it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from runtime.api.frontend_process import Launch
from runtime.settings import ServerSettings


def test_the_launch_line_carries_every_setting_and_the_tokens_in_clear(tmp_path: Path) -> None:
    settings = ServerSettings(
        port=0,
        model_store=tmp_path,
        frontends=3,
        max_message_bytes=4096,
        admin_token=SecretStr("admin-secret"),
        inference_token=SecretStr("infer-secret"),
    )
    launch = Launch(settings, "127.0.0.1:5000", tmp_path / "g.sock", tmp_path / "p.sock", 2)
    line = launch.to_json()
    assert "\n" not in line
    back = Launch.from_json(line)
    assert back == launch
    assert back.settings.admin_token is not None
    assert back.settings.admin_token.get_secret_value() == "admin-secret"


def test_auto_frontends_is_one_per_available_core() -> None:
    assert ServerSettings(frontends="auto").frontend_count == len(os.sched_getaffinity(0))
    assert ServerSettings().frontend_count == 1


@pytest.mark.parametrize("count", [0, -1, 257])
def test_a_front_end_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="frontends must be auto or a number from 1 to 256"):
        ServerSettings(frontends=count)
