"""Benchmark the frequent-outage rule on a synthetic province; compare with a pandas reference.

Usage: .venv/bin/python benchmarks/rules.py [--areas 250000] [--feeders 10000]
       [--interruptions 1000000] [--keep]
Builds its own database (gw_bench_rules) on the configured server, drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import create, drop, server  # noqa: E402
from core.settings import Settings  # noqa: E402
from monitoring.rules.frequent_outage import evaluate  # noqa: E402
from monitoring.rules.status import refresh_status  # noqa: E402

DB = "gw_bench_rules"
T = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
SPAN = timedelta(days=425)  # 14 months
CAUSES = np.array(["fault", "planned", "weather", "external", "customer", "unknown"])
CAUSE_P = [0.6, 0.15, 0.1, 0.05, 0.05, 0.05]


def _copy(conn: psycopg.Connection, sql: str, lines: list[str]) -> None:
    with conn.cursor().copy(sql) as cp:
        step = 50_000
        for i in range(0, len(lines), step):
            cp.write("".join(lines[i:i + step]))


def _times(rng: np.random.Generator, n: int, start: datetime) -> tuple[np.ndarray, np.ndarray]:
    secs = rng.uniform(0, SPAN.total_seconds(), n)
    length = rng.choice([60.0, 180.0, 900.0, 3600.0, 4 * 3600.0], n, p=[0.03, 0.02, 0.35, 0.4, 0.2])
    length = length * rng.uniform(0.5, 1.5, n)
    length[length < 181] = np.floor(length[length < 181])
    base = np.datetime64(start.replace(tzinfo=None), "s")
    st = base + secs.astype("timedelta64[s]")
    en = st + length.astype("timedelta64[s]")
    return st, en


def build(conn: psycopg.Connection, areas: int, feeders: int, n: int, seed: int = 7) -> dict:
    """Fill the database: assets, outage records (area and feeder) and inferred intervals."""
    rng = np.random.default_rng(seed)
    start = T - SPAN
    lines = [f"F{f}\tSRID=4326;MULTILINESTRING(({100 + f % 100 * 0.05} {24 + f // 100 * 0.05},"
             f"{100.04 + f % 100 * 0.05} {24.04 + f // 100 * 0.05}))\n" for f in range(feeders)]
    _copy(conn, "COPY feeder (feeder_id, geom) FROM STDIN", lines)
    side = int(np.ceil(np.sqrt(areas)))
    lines = []
    for a in range(areas):
        x, y = 100 + (a % side) * 0.01, 24 + (a // side) * 0.01
        lines.append(f"A{a}\tF{a % feeders}\t{50 + a % 200}\tSRID=4326;MULTIPOLYGON((({x} {y},"
                     f"{x + 0.009} {y},{x + 0.009} {y + 0.009},{x} {y + 0.009},{x} {y})))\n")
    _copy(conn, "COPY area (area_id, feeder_id, customers, geom) FROM STDIN", lines)
    n_feeder, n_inferred = n * 3 // 100, n * 20 // 100
    n_area = n - n_feeder - n_inferred
    counts = {}
    for kind, m in (("area", n_area), ("feeder", n_feeder)):
        st, en = _times(rng, m, start)
        ids = rng.integers(0, areas if kind == "area" else feeders, m)
        causes = rng.choice(CAUSES, m, p=CAUSE_P)
        open_ = rng.random(m) < 0.002
        prefix = "A" if kind == "area" else "F"
        null = "\\N"
        ends = [null if open_[i] else f"{en[i]}Z" for i in range(m)]
        lines = [f"{kind[0]}{i}\t{kind}\t{prefix}{ids[i]}\t{st[i]}Z\t{ends[i]}\t{causes[i]}"
                 "\t2026-01-01Z\n" for i in range(m)]
        _copy(conn, "COPY outage_record (outage_id, asset_type, asset_id, start_time, end_time, "
                    "cause, updated_at) FROM STDIN", lines)
        counts[kind] = m
    st, en = _times(rng, n_inferred, start)
    ids = rng.integers(0, areas, n_inferred)
    order = np.lexsort((st, ids))
    seen: set[tuple[int, np.datetime64]] = set()
    lines = []
    for i in order:
        key = (int(ids[i]), st[i])
        if key not in seen:
            seen.add(key)
            lines.append(f"A{ids[i]}\t{st[i]}Z\t{en[i]}Z\t2\t4\n")
    _copy(conn, "COPY inferred_interruption (area_id, start_time, end_time, meters_off, "
                "meters_total) FROM STDIN", lines)
    counts["inferred"] = len(lines)
    conn.execute("UPDATE area SET updated_at = '2026-01-01Z'")
    conn.execute("UPDATE feeder SET updated_at = '2026-01-01Z'")
    conn.execute("TRUNCATE monitor_change")
    conn.execute("ANALYZE")
    return counts


def one_day(conn: psycopg.Connection, areas: int, feeders: int, n: int, seed: int = 8) -> int:
    """Append one day of new records after T (the 'incremental' load)."""
    rng = np.random.default_rng(seed)
    m = max(n // 425, 1)
    secs = rng.uniform(0, 86400, m)
    base = np.datetime64(T.replace(tzinfo=None), "s")
    st = base + secs.astype("timedelta64[s]")
    en = st + np.full(m, 1800).astype("timedelta64[s]")
    kinds = np.where(rng.random(m) < 0.03, "feeder", "area")
    lines = []
    for i in range(m):
        asset = f"F{rng.integers(feeders)}" if kinds[i] == "feeder" else f"A{rng.integers(areas)}"
        lines.append(f"new{i}\t{kinds[i]}\t{asset}\t{st[i]}Z\t{en[i]}Z\tfault\n")
    _copy(conn, "COPY outage_record (outage_id, asset_type, asset_id, start_time, end_time, "
                "cause) FROM STDIN", lines)
    return m


def pandas_reference(engine, settings: Settings, as_of: datetime) -> tuple[dict, float, float]:  # type: ignore[no-untyped-def]
    """The same rule, straightforwardly in pandas: fetch the views, then vectorised steps."""
    t0 = time.perf_counter()
    with engine.connect() as c:
        raw = pd.read_sql(text(
            "SELECT 'area' AS asset_type, area_id AS asset_id, start_time, end_time, cause "
            "FROM area_interruption UNION ALL SELECT 'feeder', feeder_id, start_time, end_time, "
            "cause FROM feeder_interruption"), c)
        assets = pd.read_sql(text("SELECT 'area' AS asset_type, area_id AS asset_id FROM area "
                                  "UNION ALL SELECT 'feeder', feeder_id FROM feeder"), c)
    t1 = time.perf_counter()
    ts = pd.Timestamp(as_of)
    year_start = ts - pd.Timedelta(days=settings.frequent_year_days)
    raw["start_time"] = pd.to_datetime(raw.start_time, utc=True).dt.as_unit("us")
    raw["end_time"] = pd.to_datetime(raw.end_time, utc=True).dt.as_unit("us")
    df = raw[(raw.start_time <= ts) & raw.cause.isin(["fault", "planned", "unknown"])].copy()
    df.loc[df.end_time > ts, "end_time"] = pd.NaT
    short = pd.Timedelta(minutes=settings.short_interruption_minutes)
    df = df[df.end_time.isna() | ((df.end_time - df.start_time) > short)]
    df["key"] = df.asset_type + ":" + df.asset_id
    df = df.sort_values(["key", "start_time", "end_time"], na_position="last")
    end_filled = df.end_time.fillna(pd.Timestamp("9999-12-31", tz="UTC").as_unit("us"))
    prev_end = end_filled.groupby(df.key).cummax().groupby(df.key).shift(1)
    df["grp"] = (prev_end.isna() | (df.start_time > prev_end)).cumsum()
    merged = df.groupby("grp").agg(key=("key", "first"), start=("start_time", "min"))
    merged = merged[merged.start > year_start].sort_values(["key", "start"])
    keys = merged.key.to_numpy()
    codes, uniq = pd.factorize(keys)
    us = merged.start.dt.as_unit("us").astype("int64").to_numpy()
    rel = (us - (us.min() if len(us) else 0)).astype(np.uint64)
    span = np.uint64(1_000_000 * 86400 * settings.frequent_window_days)
    width = np.uint64(int(rel.max() if len(rel) else 0) + int(span) + 1)
    # starts are sorted within each asset; each asset gets its own stretch of the number line,
    # so a window [s, s + 60 days) never reaches the next asset (microseconds, unsigned 64-bit)
    combined = rel + codes.astype(np.uint64) * width
    hi = np.searchsorted(combined, combined + span, side="left")
    in_window = hi - np.arange(len(combined))
    per = pd.DataFrame({"key": keys, "w": in_window}).groupby("key").agg(
        count_365=("w", "size"), max_60=("w", "max"))
    assets["key"] = assets.asset_type + ":" + assets.asset_id
    out = assets.merge(per, left_on="key", right_index=True, how="left").fillna(
        {"count_365": 0, "max_60": 0})
    yl, wl = settings.frequent_year_limit, settings.frequent_window_limit
    status = np.where((out.count_365 > yl) | (out.max_60 > wl), "frequent",
                      np.where((out.count_365 == yl) | (out.max_60 == wl), "at_risk", "ok"))
    result = {(a, i): (int(c), int(m), s) for a, i, c, m, s in
              zip(out.asset_type, out.asset_id, out.count_365, out.max_60, status, strict=True)}
    t2 = time.perf_counter()
    return result, t1 - t0, t2 - t1


def main() -> None:
    """Build, time, compare, print."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--areas", type=int, default=250_000)
    ap.add_argument("--feeders", type=int, default=10_000)
    ap.add_argument("--interruptions", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()
    base = server()
    url = create(base.sqlalchemy_url(), DB, replace=True)
    settings = Settings(database_url=url)
    try:
        t0 = time.perf_counter()
        with psycopg.connect(settings.libpq_url()) as conn:
            counts = build(conn, args.areas, args.feeders, args.interruptions)
            conn.commit()
        t_build = time.perf_counter() - t0
        engine = create_engine(url)
        with Session(engine) as s:
            t0 = time.perf_counter()
            rows = evaluate(session=s, settings=settings, as_of=T)
            t_select = time.perf_counter() - t0
            t0 = time.perf_counter()
            refresh_status(session=s, settings=settings, as_of=T, full=True)
            s.commit()
            t_full = time.perf_counter() - t0
        sql_result = {(r["asset_type"], r["asset_id"]): (r["count_365"], r["max_60"], r["status"])
                      for r in rows}
        with psycopg.connect(settings.libpq_url()) as conn:
            new = one_day(conn, args.areas, args.feeders, args.interruptions)
            conn.commit()
        later = T + timedelta(days=1)
        with Session(engine) as s:
            t0 = time.perf_counter()
            inc = refresh_status(session=s, settings=settings, as_of=later)
            s.commit()
            t_inc = time.perf_counter() - t0
            stored = {(r[0], r[1]): (r[2], r[3], r[4]) for r in s.execute(text(
                "SELECT asset_type, asset_id, count_365, max_60, status FROM asset_status"))}
            check = {(r["asset_type"], r["asset_id"]): (r["count_365"], r["max_60"], r["status"])
                     for r in evaluate(session=s, settings=settings, as_of=later)}
        ref, t_fetch, t_pandas = pandas_reference(engine, settings, T)
        engine.dispose()
        agree = ref == sql_result
        inc_agree = stored == check
        statuses = pd.Series([v[2] for v in sql_result.values()]).value_counts().to_dict()
        print(f"conditions: {platform.node()} {os.cpu_count()} cpu, python "
              f"{platform.python_version()}, PostgreSQL server {base.sqlalchemy_url().split('@')[-1]}")
        print(f"province: {args.areas} areas, {args.feeders} feeders, records {counts}, "
              f"14 months ending {T.isoformat()} (built in {t_build:.1f}s)")
        print(f"statuses at T: {statuses}")
        print(f"{'step':<44}{'seconds':>10}")
        print(f"{'full evaluation (SQL, select all assets)':<44}{t_select:>10.2f}")
        print(f"{'full refresh of asset_status (SQL + upsert)':<44}{t_full:>10.2f}")
        print(f"{'incremental after one day (' + str(new) + ' records)':<44}{t_inc:>10.2f}"
              f"   mode={inc['mode']} assets={inc['assets']}")
        print(f"{'pandas reference: fetch views':<44}{t_fetch:>10.2f}")
        print(f"{'pandas reference: compute':<44}{t_pandas:>10.2f}")
        print(f"ratio pandas (fetch+compute) / SQL select: {(t_fetch + t_pandas) / t_select:.2f}x; "
              f"pandas compute only / SQL: {t_pandas / t_select:.2f}x")
        print(f"SQL and pandas agree on every asset: {agree}; incremental equals full: {inc_agree}")
        if not agree:
            diff = [k for k in sql_result if sql_result[k] != ref.get(k)][:5]
            print("differences:", [(k, sql_result[k], ref.get(k)) for k in diff])
    finally:
        if not args.keep:
            drop(url)


if __name__ == "__main__":
    main()
