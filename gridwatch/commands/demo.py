"""``gridwatch demo``: load the Guizhou demo dataset and run everything once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
from sqlalchemy import text

from core.clock import LOCAL_TZ, parse_timestamp, utcnow
from core.errors import UsageError
from gridwatch import progress
from gridwatch.context import engine, session, settings
from monitoring.interruptions import refresh_committed
from monitoring.jobs import run_all

log = logging.getLogger(__name__)

DEMO_STEPS = 21
"""What the progress bar counts: generate; in load_demo 6 loads and refreshes (admin, feeders,
areas, meters, overlays, tags) and 9 ingests (outages, works, meter events, planning outages
and works, disconnections, area loads, PV, applications); the upgrade filings; commit, inferred
interruptions, statistics, monitoring."""


@click.command("demo")
@click.option("--scale", type=click.Choice(["county", "province"]), default="county", show_default=True,
              help="county: a few hundred areas (Guiyang, Zunyi, Gui'an, Kaili, Sandu); "
                   "province: about 200,000 areas, 10,000 feeders and 10 million meters.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed of the dataset.")
@click.option("--anchor", default=None,
              help="The data ends here (ISO 8601; default: the start of today, Asia/Shanghai). "
                   "The same seed and anchor give the same data.")
def demo(scale: str, seed: int, anchor: str | None) -> None:
    """Load the Guizhou demo dataset (real boundaries, synthetic grid, ~14 months of data) and
    run monitoring once."""
    started = time.perf_counter()
    try:
        at: datetime | None = parse_timestamp(anchor) if anchor else None
    except ValueError as exc:
        raise UsageError(f"--anchor: {exc}") from None
    cfg = settings()
    click.echo(f"gridwatch demo: generating and loading the {scale} dataset (seed {seed}) …", err=True)
    with progress.steps(f"demo {scale}", total=DEMO_STEPS) as advance:
        counts = _load(scale, seed, at, cfg, _reporter(advance))
    monitoring = counts["monitoring"]
    gen = counts["generated"]
    today = utcnow().astimezone(LOCAL_TZ)
    quarter, month = f"{today.year}Q{(today.month - 1) // 3 + 1}", f"{today:%Y-%m}"
    click.echo(
        f"Loaded the Guizhou demo ({scale}, seed {seed}, data up to {counts['anchor']}) "
        f"in {time.perf_counter() - started:.0f} s:\n"
        f"  {counts['admin_divisions']} admin divisions, {counts['feeders']} feeders, "
        f"{counts['areas']} areas (台区), {counts['meters']} meters, "
        f"{counts['overlay_features']} overlay features\n"
        f"  {counts['outages']} outage records, {counts['works']} maintenance works, "
        f"{counts['meter_events']} meter events (generated: {gen['meter_events']})\n"
        f"  monitoring run: {monitoring}\n"
        f"  files: {counts['dir']}\n"
        f"  storm to replay: {counts['storm']} ({gen['storm_events']} meter events, not loaded)\n"
        "Next:\n"
        "  gridwatch report tags                   # tagged areas and feeders\n"
        "  gridwatch report frequent-outages       # frequent-outage list\n"
        f"  gridwatch report hosting-capacity --quarter {quarter}   # PV hosting capacity by grade\n"
        f"  gridwatch report upgrade-filing --month {month}      # this month's ledger to the regulator\n"
        "  gridwatch keys create --role planner    # an API key to sign in with (printed once)\n"
        "  gridwatch serve                         # then open http://127.0.0.1:8000/login\n"
        "                                          # and the map at http://127.0.0.1:8000/maps/\n"
        "  gridwatch broker start                  # then, while 'gridwatch serve' runs, a storm:\n"
        f"  gridwatch replay {counts['storm']} --now --speed 10"
    )


def _load(scale: str, seed: int, at: datetime | None, cfg: Any,
          report: Callable[[str, Any, float], None]) -> dict[str, Any]:
    """Generate and load the dataset, refresh, analyse and run monitoring; the counts."""
    from spatial.demo import LOADED_TABLES, load_demo

    with session() as s:
        counts = load_demo(session=s, settings=cfg, scale=scale, seed=seed, anchor=at, progress=report)
        step = time.perf_counter()
        counts["upgrade_filings"] = _upgrade_filings(s, cfg, counts["connections"])
        report("upgrade_filings", counts["upgrade_filings"], time.perf_counter() - step)
        step = time.perf_counter()
    report("commit", "done", time.perf_counter() - step)
    step = time.perf_counter()
    refresh_committed(engine=engine(), settings=cfg)
    report("inferred_interruptions", "refreshed", time.perf_counter() - step)
    step = time.perf_counter()
    # Planner statistics for the freshly loaded tables: the monitoring run comes next, and
    # autovacuum would only catch up during it.
    with engine().begin() as conn:
        conn.execute(text(f"ANALYZE {', '.join(LOADED_TABLES)}"))
    report("statistics", "analyzed", time.perf_counter() - step)
    step = time.perf_counter()
    result = run_all(engine=engine(), settings=cfg)
    monitoring = "ok" if result.get("ok") else "finished with errors (see gridwatch monitor run)"
    report("monitoring", monitoring, time.perf_counter() - step)
    counts["monitoring"] = monitoring
    return counts


def _upgrade_filings(s: Any, cfg: Any, conn: dict[str, Any]) -> int:
    """The demo's monthly filings (SPEC section 16): the past months' ledgers marked filed on
    their deadlines, then the late upgrade assessments arrive, so this month's ledger has
    carried-over rows (前期漏报). Returns the applications filed."""
    from pathlib import Path

    from ingest.service import ingest
    from monitoring.connections.filing import mark_filed

    filed = 0
    for month, at in conn["filings"]:
        when = parse_timestamp(at)
        if when <= utcnow():
            filed += mark_filed(session=s, settings=cfg, month=month, filed_by="demo", at=when)["filed"]
    ingest(session=s, kind="applications", source=Path(conn["late"]))
    return filed


def _reporter(advance: Callable[..., None]) -> Callable[[str, Any, float], None]:
    """One line on stderr as each step of the demo finishes, and the bar moved on a terminal."""
    loaded = 0

    def report(step: str, value: Any, seconds: float) -> None:
        nonlocal loaded
        if isinstance(value, int) and not isinstance(value, bool):
            loaded += value
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        click.echo(f"  {step}: {value} ({seconds:.1f} s)", err=True)
        advance(rows=loaded, note=step)

    return report


def register(cli: click.Group) -> None:
    """Add ``demo``."""
    cli.add_command(demo)
