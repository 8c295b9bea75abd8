"""Tests for clients.cli_progress: the bar on a terminal, timed plain lines otherwise."""

from __future__ import annotations

import io

from clients.cli_progress import UploadProgress, human_bytes


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_describe_shows_bar_bytes_rate_and_eta() -> None:
    clock = _Clock()
    progress = UploadProgress(io.StringIO(), interactive=True, clock=clock)
    clock.now += 2.0

    text = progress.describe(2 * 1024 * 1024, 4 * 1024 * 1024)

    assert text == ("[############............]  50%  2.0 MiB / 4.0 MiB  1.0 MiB/s  ETA 0:02")


def test_a_terminal_gets_one_redrawn_line_ending_at_100_percent() -> None:
    out = io.StringIO()
    progress = UploadProgress(out, interactive=True, clock=_Clock())
    progress(1, 4)
    progress(4, 4)
    assert out.getvalue().count("\r") == 2
    assert out.getvalue().rstrip("\n").split("\r")[-1].startswith("[########################] 100%")


def test_a_pipe_gets_a_line_every_few_seconds_and_the_last_one() -> None:
    out = io.StringIO()
    clock = _Clock()
    progress = UploadProgress(out, interactive=False, clock=clock)
    for sent in range(1, 10):
        clock.now += 0.5
        progress(sent, 10)
    progress(10, 10)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 3  # at 2 s, at 4 s, and the end
    assert lines[-1].startswith("uploaded [########################] 100%")


def test_human_bytes_picks_the_unit() -> None:
    assert [human_bytes(n) for n in (12, 2048, 5 * 1024**3)] == ["12 B", "2.0 KiB", "5.0 GiB"]
