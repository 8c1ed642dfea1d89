"""Time the connection reports (SPEC section 16) on 1,000,000 applications against the 10 s target.

Builds its own database on the configured (embedded) cluster and COPYs a synthetic province:
88 counties (admin divisions), 20,000 areas with their county, and 1,000,000 connection
applications booked from 2025-11-01 to 2026-11-27 (some 77,000 a month):
- classes 58 % lv_resident, 15 % lv_three_zero, 17 % lv_other, 7 % hv_single, 3 % hv_dual;
  20 % with external works;
- 70 % name their county (an adcode), the rest only their area (the county comes from it);
- energized after an exponential number of calendar days (mean 5, or 25 for high voltage),
  so about a quarter of a month's rows are over their limit; those not energized by 2026-11-27
  are open;
- 3 % of the low-voltage ones wait on a 10 kV+ upgrade estimated at 3 to 60 working days.
The monthly ledgers of 2025-11 to 2026-10 are then marked filed at 10:00 on their deadlines, and
500 low-voltage applications booked in August and September 2026 get a late upgrade assessment
(30 working days): the 2026-11 ledger carries them over (前期漏报).

It times, best of ``--repeat``, each beside the target (ratio = time / 10 s):
- filling the working-day calendar table from scratch (2004-2026);
- ``report connection-times --month 2026-10 --as-of 2026-11-27`` (the rows and the summary),
  rendered as json, ``--by county``, and its xlsx;
- ``report upgrade-filing --month 2026-11 --as-of 2026-11-05`` and its xlsx;
- ``--mark-filed`` of one month (the 2026-10 marking, done once);
- the alert evaluator (connection_at_risk, connection_over_limit) at 2026-11-27.

Usage: .venv/bin/python benchmarks/connections.py [--applications 1000000] [--repeat 2] [--keep-db]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import create, drop, libpq, loadavg, server, timed  # noqa: E402

TARGET_S = 10.0
AREAS = 20_000
COUNTIES = [f"52{p:02d}{c:02d}" for p in (1, 2, 3, 4, 5, 6, 23, 26, 27) for c in range(1, 11)][:88]
START = datetime(2025, 10, 31, 16, 0, tzinfo=UTC)        # 2025-11-01 00:00 Beijing
NOW = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)           # 2026-11-27 12:00 Beijing
CLASSES = [("lv_resident", 58), ("lv_three_zero", 15), ("lv_other", 17), ("hv_single", 7),
           ("hv_dual", 3)]


def square(lon: float, lat: float, size: float) -> str:
    x2, y2 = lon + size, lat + size
    return f"SRID=4326;MULTIPOLYGON((({lon} {lat},{x2} {lat},{x2} {y2},{lon} {y2},{lon} {lat})))"


def load(url: str, n: int, seed: int = 16) -> dict[str, int]:
    """COPY the synthetic province into the database; the counts of what was written."""
    rng = random.Random(seed)
    names = [c for c, _ in CLASSES]
    weights = [w for _, w in CLASSES]
    span = (NOW - START).total_seconds()
    counts = {"areas": AREAS, "applications": n, "open": 0, "upgrades": 0}
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY admin_division (adcode, name, level, geom) FROM STDIN") as cp:
            for i, code in enumerate(COUNTIES):
                cp.write_row((code, f"县{i}", "county", square(104 + i % 10, 25 + i // 10, 0.9)))
        cur.execute("INSERT INTO feeder (feeder_id, name, geom) VALUES ('F1', 'F1', "
                    "'SRID=4326;MULTILINESTRING((104 25,105 26))')")
        with cur.copy("COPY area (area_id, feeder_id, customers, name, geom) FROM STDIN") as cp:
            for a in range(AREAS):
                cp.write_row((f"A{a:06d}", "F1", 100, f"台区{a}", square(104 + (a % 200) * 0.01,
                                                                       25 + (a // 200) * 0.01, 0.009)))
        with cur.copy("COPY asset_region (asset_type, asset_id, county_adcode) FROM STDIN") as cp:
            for a in range(AREAS):
                cp.write_row(("area", f"A{a:06d}", COUNTIES[a % len(COUNTIES)]))
        with cur.copy("COPY application (app_id, area_id, county, customer_class, external_works, "
                      "booked_at, energized_at, needs_upgrade, upgrade_estimated_days, upgrade_due) "
                      "FROM STDIN") as cp:
            for i in range(n):
                cls = rng.choices(names, weights)[0]
                booked = START + timedelta(seconds=rng.random() * span)
                mean = 25.0 if cls.startswith("hv") else 5.0
                energized: datetime | None = booked + timedelta(days=rng.expovariate(1 / mean))
                upgrade = cls.startswith("lv") and rng.random() < 0.03
                estimate = rng.randint(3, 60) if upgrade else None
                if upgrade and estimate:
                    energized = booked + timedelta(days=estimate * 1.4 + rng.uniform(0, 10))
                if energized is not None and energized > NOW:
                    energized = None
                    counts["open"] += 1
                counts["upgrades"] += upgrade
                area = f"A{rng.randrange(AREAS):06d}"
                county = rng.choice(COUNTIES) if rng.random() < 0.7 else None
                cp.write_row((f"YK{i:08d}", area, county, cls, rng.random() < 0.2, booked, energized,
                              upgrade, estimate,
                              (booked + timedelta(days=estimate * 1.4)).date() if estimate else None))
        conn.commit()
        conn.execute("ANALYZE")
    return counts


def main() -> None:
    """Build the database, time the reports, the filing and the alert evaluator, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    from core.clock import parse_timestamp
    from core.settings import Settings
    from core.workdays import calendar, ensure_table
    from monitoring.alerts import conditions
    from monitoring.connections import filing
    from monitoring.reports import connection_times, upgrade_filing

    url = create(server().sqlalchemy_url(), f"gw_bench_connections_{uuid.uuid4().hex[:6]}")
    try:
        t0 = time.perf_counter()
        counts = load(url, args.applications)
        load_s = time.perf_counter() - t0
        settings = Settings(database_url=url)
        engine = create_engine(url)
        cal = calendar()
        before = loadavg()
        with Session(engine) as s:
            def fill() -> bool:
                s.execute(text("DELETE FROM workday_calendar_meta"))
                return ensure_table(session=s, cal=cal)

            cal_s, _ = timed(fill, args.repeat)
            s.commit()
            for m in range(10, 22):                         # 2025-11 .. 2026-10
                label = f"{2025 + m // 12}-{m % 12 + 1:02d}"
                due = filing.deadline(cal, filing.month_period(label))
                at = parse_timestamp(f"{due}T10:00:00+08:00")
                t = time.perf_counter()
                done = filing.mark_filed(session=s, settings=settings, month=label, filed_by="bench",
                                         at=at)
                mark_s, marked = time.perf_counter() - t, done["filed"]
            s.execute(text(
                "UPDATE application SET needs_upgrade = true, upgrade_estimated_days = 30 "
                "WHERE app_id IN (SELECT app_id FROM application WHERE NOT needs_upgrade "
                "AND customer_class LIKE 'lv%' AND booked_at >= '2026-08-01T00:00+08:00' "
                "AND booked_at < '2026-10-01T00:00+08:00' ORDER BY app_id LIMIT 500)"))
            s.commit()
            ct_s, ct = timed(lambda: connection_times.build(
                session=s, settings=settings, month="2026-10", as_of=NOW), args.repeat)
            cc_s, cc = timed(lambda: connection_times.build(
                session=s, settings=settings, month="2026-10", as_of=NOW, by_county=True),
                args.repeat)
            ctj_s, _ = timed(lambda: ct.render("json"), 1)
            ctx_s, _ = timed(lambda: ct.render("xlsx"), 1)
            nov5 = datetime(2026, 11, 5, 2, tzinfo=UTC)
            uf_s, uf = timed(lambda: upgrade_filing.build(session=s, settings=settings,
                                                          month="2026-11", as_of=nov5), args.repeat)
            ufx_s, _ = timed(lambda: uf.render("xlsx"), 1)
            al_s, al = timed(lambda: conditions.connection_times(session=s, settings=settings,
                                                                 as_of=NOW), args.repeat)
            filed = s.execute(text("SELECT count(*) FROM upgrade_filing_item")).scalar_one()
            s.rollback()
        engine.dispose()
        total = next(r for r in ct.meta["summary"] if r["customer_class"] == "all")
        rows = [
            ("calendar table, filled from scratch (2004-2026)", cal_s, "8401 days"),
            ("connection-times --month 2026-10 (rows + summary)", ct_s,
             f"{len(ct.rows)} rows, {total['over_limit']} over, {total['at_risk']} at risk"),
            ("  ... as json", ctj_s, ""),
            ("  ... as xlsx", ctx_s, ""),
            ("connection-times --month 2026-10 --by county", cc_s, f"{len(cc.meta['summary'])} rows"),
            ("upgrade-filing --month 2026-11 --as-of 2026-11-05", uf_s,
             f"{len(uf.rows)} rows, {uf.meta['carried_over']} carried over"),
            ("  ... as xlsx", ufx_s, ""),
            ("upgrade-filing --month 2026-10 --mark-filed", mark_s,
             f"{marked} filed ({filed} in 12 filings)"),
            ("alerts connection_* at 2026-11-27", al_s, f"{len(al)} open applications"),
        ]
        print(f"# connections benchmark: {counts['applications']} applications ({counts['open']} open "
              f"on 2026-11-27, {counts['upgrades']} waiting on upgrades), {counts['areas']} areas "
              f"(load {load_s:.0f} s); Python {platform.python_version()}, {os.cpu_count()} CPUs, "
              f"best of {args.repeat}; loadavg before {before}, after {loadavg()}")
        print(f"{'run':<56}{'seconds':>9}{'target':>8}{'ratio':>7}  result")
        for name, secs, note in rows:
            print(f"{name:<56}{secs:>9.2f}{TARGET_S:>8.1f}{secs / TARGET_S:>7.2f}  {note}")
    finally:
        if not args.keep_db:
            drop(url)


if __name__ == "__main__":
    main()
