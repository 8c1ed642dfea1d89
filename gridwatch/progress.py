"""Progress bars for long commands, on a terminal only (rich, on standard error).

A command that reads a large file (``ingest``, ``load meters``) or runs long steps (``demo``,
``replay``) shows rows read, rows/s and the time left while it runs on a terminal. In a pipe,
a log file or CI (standard error is not a terminal, or ``CI`` / ``GRIDWATCH_NO_PROGRESS`` is
set) nothing is drawn and the output is exactly what it was without progress.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from core.records import open_binary


def enabled() -> bool:
    """True when a progress bar may be drawn: standard error is a terminal, not CI."""
    if os.environ.get("GRIDWATCH_NO_PROGRESS") or os.environ.get("CI"):
        return False
    return _console().is_terminal


def _console() -> Console:
    return Console(stderr=True)


class RowsColumn(ProgressColumn):
    """``12,345 rows · 4,567 rows/s`` from the task's ``rows`` field and its elapsed time."""

    def render(self, task: Task) -> Text:
        """The rows so far and their rate (once there is half a second to measure)."""
        rows = int(task.fields.get("rows", 0))
        elapsed = task.elapsed or 0.0
        rate = f" · {rows / elapsed:,.0f} rows/s" if elapsed > 0.5 else ""
        return Text(f"{rows:,} rows{rate}", style="progress.data.speed")


class _Counting(io.RawIOBase):
    """A binary file that tells how many bytes and lines have been read so far."""

    def __init__(self, raw: IO[bytes], seen: Callable[[int, int], None]) -> None:
        self._raw = raw
        self._seen = seen

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n:
            self._seen(n, data.count(b"\n"))
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


@contextmanager
def reading(path: Path, what: str) -> Iterator[Path | IO[bytes]]:
    """``path`` itself, or on a terminal a stream of it that drives a progress bar.

    The bar shows the bytes read against the file's size (hence the time left), and the rows
    (lines) read with their rate.
    """
    if not enabled() or not path.is_file():
        yield path
        return
    total = path.stat().st_size
    with _progress() as bar:
        task = bar.add_task(what, total=total, rows=0)
        lines = 0

        def seen(n: int, newlines: int) -> None:
            nonlocal lines
            lines += newlines
            bar.update(task, advance=n, rows=max(lines - 1, 0))   # less the header

        stream = io.BufferedReader(_Counting(open_binary(path), seen), buffer_size=1 << 20)
        try:
            yield stream
        finally:
            stream.close()
            bar.update(task, completed=total)


@contextmanager
def steps(what: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A bar for a command made of steps or items; yields ``advance(n=1, rows=None, note=None)``.

    Draws nothing (and ``advance`` does nothing) off a terminal.
    """
    if not enabled():
        yield lambda *args, **kwargs: None
        return
    with _progress() as bar:
        task = bar.add_task(what, total=total, rows=0)

        def advance(n: float = 1, rows: int | None = None, note: str | None = None) -> None:
            fields: dict[str, Any] = {}
            if rows is not None:
                fields["rows"] = rows
            if note is not None:
                fields["description"] = f"{what}: {note}"
            bar.update(task, advance=n, **fields)

        yield advance


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        RowsColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=_console(),
        transient=False,
    )
