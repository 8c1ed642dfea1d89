"""``gridwatch monitor run``: evaluate every rule once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from core.clock import parse_as_of
from core.errors import GridwatchError
from gridwatch.context import emit_object, engine, settings


class EvaluationFailed(GridwatchError):
    """A monitoring step failed (the others still ran)."""


def _summary(result: dict[str, Any]) -> str:
    lines = [f"monitoring evaluated as of {result['as_of'].isoformat()}"]
    for step in result["steps"]:
        res = step["result"]
        if isinstance(res, dict):
            detail = ", ".join(f"{k} {v}" for k, v in res.items()
                               if isinstance(v, (int, float, str)) and not isinstance(v, bool))
        elif isinstance(res, list):
            detail = f"{len(res)} row(s)"
        elif res is None:
            detail = "nothing to do"
        else:
            detail = str(res)
        if step["outcome"] != "success":
            detail = step["error"] or "failed"
        lines.append(f"  {step['job']:<16} {step['outcome']:<8} {step['seconds']:>7.2f}s  {detail}")
    return "\n".join(lines)


@click.group("monitor")
def monitor() -> None:
    """Run the monitoring rules."""


@monitor.command("run")
@click.option("--as-of", "as_of", default=None,
              help="As-of time (ISO 8601; a date means the end of that local day). Default: now.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format of the summary.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the output to this file instead of standard output.")
def run(as_of: str | None, fmt: str, out: Path | None) -> None:
    """Evaluate every rule once: statuses, remediation cases, alerts and notifications."""
    from monitoring.jobs import run_all

    when = parse_as_of(as_of)
    result = run_all(engine=engine(), settings=settings(), as_of=when)
    emit_object(result, fmt, out, _summary(result) + "\n")
    failed = [s["job"] for s in result["steps"]
              if s["outcome"] != "success" and s["job"] not in ("notify", "push")]
    if failed:
        raise EvaluationFailed(f"monitoring step(s) failed: {', '.join(failed)} (see the log)")


def register(cli: click.Group) -> None:
    """Add the ``monitor`` group."""
    cli.add_command(monitor)
