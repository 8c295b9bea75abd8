"""Upload progress for the CLI: a redrawn bar (bytes, rate, ETA) on a terminal, plain lines else.

>>> progress = UploadProgress(stream=io.StringIO(), interactive=False)  # doctest: +SKIP
>>> progress(512, 1024)  # doctest: +SKIP
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
LINE_EVERY_S = 2.0  # how often a non-terminal gets a line


def human_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"``.

    >>> human_bytes(3 * 1024 * 1024)
    '3.0 MiB'
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    return f"{seconds // 60}:{seconds % 60:02d}"


class UploadProgress:
    """A ``progress(sent, total)`` callback that reports to ``stream`` (stderr by default)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._clock = clock
        self._start = clock()
        self._last_line = self._start

    def describe(self, sent: int, total: int) -> str:
        """``"[#####.....]  50%  1.0 MiB / 2.0 MiB  3.2 MiB/s  ETA 0:01"``."""
        elapsed = max(self._clock() - self._start, 1e-6)
        rate = sent / elapsed
        fraction = sent / total if total else 1.0
        eta = (total - sent) / rate if rate > 0 else 0.0
        filled = int(BAR_WIDTH * fraction)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return (
            f"[{bar}] {100 * fraction:3.0f}%  {human_bytes(sent)} / {human_bytes(total)}  "
            f"{human_bytes(rate)}/s  ETA {_duration(eta)}"
        )

    def __call__(self, sent: int, total: int) -> None:
        done = sent >= total
        if self.interactive:
            self.stream.write("\r" + self.describe(sent, total) + ("\n" if done else ""))
            self.stream.flush()
            return
        now = self._clock()
        if done or now - self._last_line >= LINE_EVERY_S:
            self._last_line = now
            self.stream.write(f"uploaded {self.describe(sent, total)}\n")
            self.stream.flush()
