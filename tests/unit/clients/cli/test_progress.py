"""Tests for clients.cli.progress: upload phases, a live display on a terminal, lines elsewhere."""

from __future__ import annotations

import io

from clients.cli.progress import UploadProgress, human_bytes

MiB = 1024 * 1024


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_describe_shows_bar_bytes_rate_and_eta() -> None:
    clock = _Clock()
    progress = UploadProgress(io.StringIO(), interactive=False, clock=clock)
    progress.phase("send")
    clock.now += 2.0

    text = progress.describe(2 * MiB, 4 * MiB)

    assert text == ("[############............]  50%  2.0 MiB / 4.0 MiB  1.0 MiB/s  ETA 0:02")


def test_the_clock_starts_at_send_not_while_packing() -> None:
    clock = _Clock()
    progress = UploadProgress(io.StringIO(), interactive=False, clock=clock)
    progress.phase("pack")
    clock.now += 600.0  # ten minutes of zipping and hashing
    progress.phase("send")
    clock.now += 1.0
    assert progress.describe(MiB, 2 * MiB).endswith("1.0 MiB / 2.0 MiB  1.0 MiB/s  ETA 0:01")


def test_a_pipe_gets_each_phase_with_its_time_and_timed_send_lines() -> None:
    out = io.StringIO()
    clock = _Clock()
    progress = UploadProgress(out, interactive=False, clock=clock)
    progress.phase("pack")
    clock.now += 3.0
    progress.phase("send")
    for sent in range(1, 10):
        clock.now += 0.5
        progress(sent, 10)
    progress(10, 10)
    progress.phase("check")
    clock.now += 2.0
    progress.phase("load")
    clock.now += 1.0
    progress.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split(":")[0] for line in lines] == [
        "pack", "pack", "send", "send", "send", "send", "send", "check", "check", "load", "load",
    ]  # fmt: skip
    assert lines[1] == "pack: done in 3.0 s"
    assert lines[5].startswith("send: [########################] 100%")
    assert lines[8] == "check: done in 2.0 s"
    assert lines[10] == "load: done in 1.0 s"


def test_a_terminal_gets_a_live_display_of_the_phases() -> None:
    out = io.StringIO()
    progress = UploadProgress(out, interactive=True)
    progress.phase("pack")
    progress.phase("send")
    progress(3 * MiB, 4 * MiB)
    progress(4 * MiB, 4 * MiB)
    progress.phase("check")
    progress.close()
    shown = out.getvalue()
    for label in ("pack", "send", "check (server)", "4.0 MiB / 4.0 MiB"):
        assert label in shown
    assert "done in" not in shown  # the plain lines are for pipes only


def test_a_failed_upload_ends_its_phase_as_failed_not_done() -> None:
    out = io.StringIO()
    clock = _Clock()
    progress = UploadProgress(out, interactive=False, clock=clock)
    progress.phase("check")
    clock.now += 1.5
    progress.close(ok=False)
    assert out.getvalue().splitlines()[-1] == "check: failed after 1.5 s"
    live = io.StringIO()
    shown = UploadProgress(live, interactive=True)
    shown.phase("send")
    shown.close(ok=False)
    assert "failed" in live.getvalue()


def test_close_without_any_phase_writes_nothing() -> None:
    out = io.StringIO()
    UploadProgress(out, interactive=True).close()
    UploadProgress(out, interactive=False).close()
    assert out.getvalue() == ""


def test_human_bytes_picks_the_unit() -> None:
    assert [human_bytes(n) for n in (12, 2048, 5 * 1024**3)] == ["12 B", "2.0 KiB", "5.0 GiB"]
