"""Upload progress for the CLI, phase by phase: pack, send, check, load.

On a terminal a live display (rich) shows each phase with its time and, while sending, a bar with
bytes, rate and ETA; elsewhere (a pipe, a log, ``--json``) plain lines go to stderr. The clock of
the rate and ETA starts when the first byte is sent, not while the bundle is zipped and hashed.

>>> progress = UploadProgress(stream=io.StringIO(), interactive=False)  # doctest: +SKIP
>>> progress.phase("send"); progress(512, 1024); progress.close()  # doctest: +SKIP
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import TaskID

BAR_WIDTH = 24
LINE_EVERY_S = 2.0  # how often a non-terminal gets a line while sending
#: What each phase is, as the display names it.
PHASES = {
    "pack": "zipping and hashing the bundle",
    "send": "sending the bundle",
    "check": "the server unpacks, imports and stores it",
    "load": "the server loads the model",
}
#: Short labels for the live display (it must fit 80 columns).
_LABELS = {
    "pack": "pack zip+hash",
    "send": "send",
    "check": "check (server)",
    "load": "load (server)",
}
_LIVE_BAR_WIDTH = 12


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


class _LiveView:
    """The terminal display: one rich task per phase, a spinner until it ends, then its time."""

    def __init__(self, stream: TextIO) -> None:
        # Imported here, on a terminal only: every `modelrt` command imports this module, and
        # `modelrt serve` would otherwise carry rich (about 5 MiB) for nothing.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(file=stream, force_terminal=True)
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]done"),
            TextColumn("{task.description}"),
            BarColumn(bar_width=_LIVE_BAR_WIDTH),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def start(self, name: str) -> None:
        if self._task is None:
            self._progress.start()
        label = f"{_LABELS.get(name, name):<14}"
        self._task = self._progress.add_task(label, total=None, detail="")

    def update(self, sent: int, total: int, detail: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=sent, total=total or 1, detail=detail)

    def end(self) -> None:
        if self._task is not None:
            task = self._task
            total = self._progress.tasks[-1].total or 1
            self._progress.update(task, total=total, completed=total)

    def fail(self) -> None:
        if self._task is not None:
            label = self._progress.tasks[-1].description
            self._progress.update(self._task, description=f"{label} [red]failed")

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()


class UploadProgress:
    """``phase(name)`` as the upload moves on and ``progress(sent, total)`` as bytes go out;
    reports to ``stream`` (stderr by default). ``close()`` ends the display."""

    def __init__(
        self,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._clock = clock
        self._phase = ""
        self._phase_start = 0.0
        self._send_start: float | None = None
        self._last_line = 0.0
        self._live = _LiveView(self.stream) if self.interactive else None

    def describe(self, sent: int, total: int) -> str:
        """``"[#####.....]  50%  1.0 MiB / 2.0 MiB  3.2 MiB/s  ETA 0:01"``, timed from the send."""
        start = self._send_start if self._send_start is not None else self._clock()
        elapsed = max(self._clock() - start, 1e-6)
        rate = sent / elapsed
        fraction = sent / total if total else 1.0
        eta = (total - sent) / rate if rate > 0 else 0.0
        filled = int(BAR_WIDTH * fraction)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return (
            f"[{bar}] {100 * fraction:3.0f}%  {human_bytes(sent)} / {human_bytes(total)}  "
            f"{human_bytes(rate)}/s  ETA {_duration(eta)}"
        )

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def _end_phase(self, ok: bool = True) -> None:
        if not self._phase:
            return
        took = self._clock() - self._phase_start
        if self._live is not None and ok:
            self._live.end()
        elif self._live is not None:
            self._live.fail()
        else:
            self._write(f"{self._phase}: {'done in' if ok else 'failed after'} {took:.1f} s")
        self._phase = ""

    def phase(self, name: str) -> None:
        """End the current phase and start ``name`` ("pack", "send", "check" or "load")."""
        self._end_phase()
        self._phase, self._phase_start = name, self._clock()
        if name == "send":
            self._send_start = self._phase_start
            self._last_line = self._phase_start
        if self._live is not None:
            self._live.start(name)
        else:
            self._write(f"{name}: {PHASES.get(name, '')}")

    def __call__(self, sent: int, total: int) -> None:
        if self._send_start is None:  # bytes without a "send" phase: the clock starts now
            self._send_start = self._last_line = self._clock()
        done = sent >= total
        if self._live is not None:
            # The live bar draws the fraction: the text keeps bytes, rate and ETA.
            self._live.update(sent, total, self.describe(sent, total).split("%  ", 1)[1])
            return
        now = self._clock()
        if done or now - self._last_line >= LINE_EVERY_S:
            self._last_line = now
            self._write(f"send: {self.describe(sent, total)}")

    def close(self, ok: bool = True) -> None:
        """End the last phase (as failed unless ``ok``) and the display; call it in every case."""
        self._end_phase(ok)
        if self._live is not None:
            self._live.close()
            self._live = None
