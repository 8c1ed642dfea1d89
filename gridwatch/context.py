"""Shared plumbing for commands: settings, engine, sessions and output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.cells import cell_len
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.db import check_database, get_engine, session_scope
from core.errors import DatabaseError, UsageError
from core.settings import Settings, get_settings

F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    """Settings from the environment, with a one-line error when they are invalid."""
    try:
        return get_settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ())) or "settings"
        raise UsageError(f"invalid setting GRIDWATCH_{where.upper()}: {err['msg']}") from None


def engine() -> Engine:
    """The engine, checked to be reachable."""
    eng = get_engine(settings())
    check_database(eng)
    return eng


@contextmanager
def session() -> Iterator[Session]:
    """A session committed when the command succeeds."""
    with session_scope(engine()) as s:
        yield s


@contextmanager
def writing_session(action: str, unit: str) -> Iterator[Session]:
    """A session committed when the block succeeds, for a command that stores one input.

    Should the database stop on the way, the error says what happened to the input: nothing
    of it was stored (the transaction died with the connection), or, when the connection was
    lost during the commit itself, that it may or may not be stored. Either way running the
    command again is safe, as what is already stored counts as duplicates.
    """
    from ingest.service import database_lost

    eng = engine()  # an unreachable database is a DatabaseError saying how to start it
    committing = False
    try:
        with session_scope(eng) as s:
            yield s
            committing = True
    except Exception as exc:
        if not database_lost(exc):
            raise
        if committing:
            raise DatabaseError(
                f"the database stopped while {action} was being committed; this {unit} may or "
                "may not have been stored; run the same command again once the database is "
                "back (what is already stored counts as duplicates)"
            ) from None
        raise DatabaseError(
            f"the database stopped during {action}; nothing from this {unit} was stored; "
            "run the same command again once the database is back"
        ) from None


def format_options(func: F) -> F:
    """Add ``--format`` and ``--out`` to a command."""
    func = click.option(
        "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="Write to this file instead of standard output.",
    )(func)
    func = click.option(
        "--format", "fmt", type=click.Choice(["table", "json", "csv", "xlsx"]), default="table",
        show_default=True, help="Output format.",
    )(func)
    return func


def emit_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, out: Path | None,
    title: str = "",
) -> None:
    """Write rows in the chosen format (json array, csv with BOM, xlsx, or a text table)."""
    from monitoring.export import render

    if fmt == "table":
        text = _table(rows, columns)
        if out:
            out.write_text(text, encoding="utf-8")
        else:
            click.echo(text, nl=False)
        return
    if fmt == "xlsx" and out is None and sys.stdout.isatty():
        raise UsageError("xlsx is binary; give --out FILE")
    data = render(rows, columns, fmt, title=title)
    if out:
        out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def json_default(value: Any) -> Any:
    """JSON for values json does not know: ISO 8601 for times and dates, text otherwise."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def emit_object(obj: dict[str, Any], fmt: str, out: Path | None, text: str) -> None:
    """Write one object as JSON, or a human-readable text."""
    data = (
        json.dumps(obj, ensure_ascii=False, indent=2, default=json_default) + "\n"
        if fmt == "json" else text
    )
    if out:
        out.write_text(data, encoding="utf-8")
    else:
        click.echo(data, nl=False)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return ",".join(_cell(x) for x in v)
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, datetime) and v.tzinfo is not None:
        # A person reads the table: Beijing time, with its offset so that it cannot be mistaken
        # (json, csv and xlsx keep the stored UTC instant).
        return v.astimezone(LOCAL_TZ).isoformat(sep=" ", timespec="seconds")
    return str(v)


def _pad(value: str, width: int) -> str:
    """``value`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    return value + " " * (width - cell_len(value))


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain aligned text table, measured in display columns, not characters."""
    if not rows:
        return "(no rows)\n"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(cell_len(c), *(cell_len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(_pad(c, w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(_pad(v, w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines) + "\n"


def emit_report(report: object, fmt: str, out: Path | None) -> None:
    """Write a ``monitoring.reports.Report`` in the chosen format."""
    from monitoring.reports import Report

    assert isinstance(report, Report)
    if fmt == "table":
        emit_rows(report.rows, report.columns, "table", out)
        return
    if fmt == "xlsx" and out is None and sys.stdout.isatty():
        raise UsageError("xlsx is binary; give --out FILE")
    data = report.render(fmt)
    if out:
        out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
