"""``gridwatch cases``: the remediation ledger (整治台账) for people without the API."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import click

from core.clock import LOCAL_TZ, parse_as_of
from gridwatch.context import emit_object, emit_rows, format_options, session, settings
from monitoring.cases import service

LIST_COLUMNS = ["case_id", "asset_type", "asset_id", "status", "opened_at", "measures",
                "responsible_unit", "due_date", "completion_date", "verification_note",
                "signed_off_at"]
SHOW_FIELDS = ["case_id", "asset_type", "asset_id", "status", "opened_at", "opened_count_365",
               "opened_max_60", "measures", "responsible_unit", "due_date", "completion_date",
               "verification_note", "verified_by", "verified_at", "internal_note",
               "signed_off_at", "signed_off_by", "sign_off_note", "updated_at"]


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): still say something
        return "unknown"


def _local(v: Any) -> Any:
    return v.astimezone(LOCAL_TZ).isoformat(timespec="seconds") if hasattr(v, "astimezone") else v


def _text(case: dict[str, Any]) -> str:
    width = max(len(f) for f in SHOW_FIELDS)
    lines = [f"{f.ljust(width)}  {'' if case.get(f) is None else _local(case[f])}"
             for f in SHOW_FIELDS]
    lines.append("")
    lines.append("history:")
    for h in case.get("history", []):
        lines.append(f"  {_local(h['at'])}  {h['actor']}  {h['field']}: "
                     f"{h['old_value'] if h['old_value'] is not None else '-'} -> "
                     f"{h['new_value'] if h['new_value'] is not None else '-'}")
    return "\n".join(lines) + "\n"


def _emit(case: dict[str, Any], fmt: str, out: Path | None) -> None:
    emit_object(case, "json" if fmt == "json" else "text", out, _text(case))


_by = click.option("--by", "by", default=None, help="Who makes the change (default: login name).")
_at = click.option("--at", "at", default=None, help="When (ISO 8601; default now). For back-filling.")
_fmt = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                    show_default=True)
_out = click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)


@click.group("cases")
def cases() -> None:
    """Remediation cases: list, show, update, complete, verify and sign off (销号)."""


@cases.command("list")
@click.option("--status", type=click.Choice(list(service.STATUSES)), default=None)
@format_options
def list_(status: str | None, fmt: str, out: Path | None) -> None:
    """List cases, newest first."""
    with session() as s:
        rows = service.list_cases(session=s, status=status)
    emit_rows(rows, LIST_COLUMNS if fmt == "table" else SHOW_FIELDS, fmt, out, title="cases")


@cases.command("show")
@click.argument("case_id", type=int)
@_fmt
@_out
def show(case_id: int, fmt: str, out: Path | None) -> None:
    """Show one case with its audit trail."""
    with session() as s:
        case = service.get_case(session=s, case_id=case_id)
    _emit(case, fmt, out)


@cases.command("open")
@_at
def open_(at: str | None) -> None:
    """Open cases for `frequent` assets without one (what `monitor run` does)."""
    with session() as s:
        opened = service.open_cases(session=s, settings=settings(), at=parse_as_of(at))
    click.echo(f"opened {len(opened)} case(s)"
               + "".join(f"\n  {c['case_id']}  {c['asset_type']} {c['asset_id']}" for c in opened))


def _update(case_id: int, changes: dict[str, Any], by: str | None, at: str | None,
            fmt: str, out: Path | None) -> None:
    with session() as s:
        case = service.update_case(session=s, case_id=case_id, changes=changes, actor=_who(by),
                                   at=parse_as_of(at))
    _emit(case, fmt, out)


@cases.command("update")
@click.argument("case_id", type=int)
@click.option("--status", type=click.Choice(["open", "in_progress", "completed", "closed"]))
@click.option("--measures", help="整治措施: what is done about it.")
@click.option("--unit", "responsible_unit", help="The responsible unit (责任单位).")
@click.option("--due", "due_date", help="Due date, e.g. 2026-09-30.")
@click.option("--completion-date", "completion_date", help="Completion date (with --status completed).")
@click.option("--verification-note", "verification_note", help="Site or customer visit note.")
@click.option("--internal-note", "internal_note", help="Internal note (left out of --public lists).")
@_by
@_at
@_fmt
@_out
def update(case_id: int, by: str | None, at: str | None, fmt: str, out: Path | None,
           **fields: str | None) -> None:
    """Change a case's status or fields; every change is audited."""
    changes = {k: v for k, v in fields.items() if v is not None}
    if not changes:
        raise click.UsageError("nothing to change: give --status, --measures, --unit, --due, ...")
    _update(case_id, changes, by, at, fmt, out)


@cases.command("complete")
@click.argument("case_id", type=int)
@click.option("--date", "day", required=True, help="The completion date, e.g. 2026-06-15.")
@_by
@_at
@_fmt
@_out
def complete(case_id: int, day: str, by: str | None, at: str | None, fmt: str,
             out: Path | None) -> None:
    """Mark the remediation work completed on a date."""
    _update(case_id, {"status": "completed", "completion_date": day}, by, at, fmt, out)


@cases.command("verify")
@click.argument("case_id", type=int)
@click.option("--note", required=True, help="The verification note (site visit or customer visit).")
@_by
@_at
@_fmt
@_out
def verify(case_id: int, note: str, by: str | None, at: str | None, fmt: str,
           out: Path | None) -> None:
    """Record the verification of the remediation's effect."""
    _update(case_id, {"verification_note": note}, by, at, fmt, out)


@cases.command("sign-off")
@click.argument("case_id", type=int)
@click.option("--note", default=None, help="A sign-off remark.")
@_by
@_at
@_fmt
@_out
def sign_off(case_id: int, note: str | None, by: str | None, at: str | None, fmt: str,
             out: Path | None) -> None:
    """Close the case (销号) if the verification period passed, with no new interruption and a note."""
    with session() as s:
        case = service.sign_off(session=s, settings=settings(), case_id=case_id, actor=_who(by),
                                at=parse_as_of(at), note=note)
    _emit(case, fmt, out)


def register(cli: click.Group) -> None:
    """Add the ``cases`` group."""
    cli.add_command(cases)
