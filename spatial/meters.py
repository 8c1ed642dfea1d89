"""Bulk load of the meter registry: the file staged by COPY, checked and merged set-based in SQL.

Memory stays flat as the file grows. Plain CSV goes to the server as it is and PostgreSQL
parses it (``spatial.meter_stage``); whatever needs Python's reading (quotes, stray
whitespace, JSON Lines, a malformed chunk) is read and checked row by row as before. Then:

* into an **empty** registry, one parallel pass finds the rows that cannot be stored, the rest
  is inserted in one statement; a bulk load drops meter's keys and indexes first and builds
  them once after (the primary key's build is what finds in-file duplicates);
* into a registry that holds meters, one parallel hash join with ``meter`` finds the rows that
  are **not identical** to a stored meter (a daily resync finds a few), and only those are
  checked, de-duplicated (the last line of a meter_id wins) and written.

A meter identical to the stored one is not rewritten and counts as a duplicate. The load
never deletes a meter. SQL: ``spatial/sql/meters.sql``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from sqlalchemy.orm import Session

from core import sqlfiles
from core.accounting import Accounting
from core.records import detect_format, open_binary
from spatial.meter_stage import Stage

log = logging.getLogger(__name__)

CHUNK_ROWS = 200_000
BULK_ROWS = 20_000  # writes at least this large (and larger than the table) rebuild keys and indexes
LONGEST_ID = 200     # characters; a longer meter_id is rejected (a btree key must fit a page)
_SPOOL = 64 << 20


class _Merge:
    """The SQL phase of one load: rejects found in the stage, then the meters written."""

    def __init__(self, cur: psycopg.Cursor[Any], stage: Stage, label: str) -> None:
        self.cur = cur
        self.stage = stage
        self.label = label
        delta = stage.name.as_string(cur).replace("_meter_stage_", "_meter_delta_")
        self.names: dict[str, sql.Composable] = {"stage": stage.name, "delta": sql.SQL(delta),
                                                 "kind": stage.kind}
        self.names["fields"] = sql.SQL(", ").join(
            sql.SQL("s.{}").format(sql.Identifier(c)) for c in stage.columns)
        self.rejects: list[tuple[int, str, str]] = []
        self.skipped = 0   # blank rows (every field empty): not rows at all, as in the Python reader
        self.started = time.perf_counter()

    def sql(self, name: str) -> sql.Composed:
        return sql.SQL(sqlfiles.statements("spatial.sql", "meters.sql")[name]).format(**self.names)

    def run(self, name: str, params: Any = None) -> int:
        self.cur.execute(self.sql(name), params)
        return self.cur.rowcount

    def parallel(self, name: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run a big read of the stage allowing parallel workers (the stage is an UNLOGGED table).

        The planner cannot know that few rows pass the filter (a resync is mostly identical
        rows), so it would think gathering them costs too much; the statement lowers that cost.
        """
        self.cur.execute("SET LOCAL parallel_tuple_cost = 0.001")
        self.cur.execute(self.sql(name), params)
        rows = self.cur.fetchall()
        self.cur.execute("SET LOCAL parallel_tuple_cost TO DEFAULT")
        return rows

    def took(self, what: str) -> None:
        now = time.perf_counter()
        log.info("meters %s: %s in %.1f s", self.label, what, now - self.started)
        self.started = now

    def classify(self, rows: list[tuple[Any, ...]]) -> list[str]:
        """Turn attention rows into rejects (or skipped blank rows); return their row ids."""
        for _sid, line, no_meter, filled, too_long, area_id, known, lon, lat in rows:
            if no_meter:
                if filled == 0:
                    self.skipped += 1
                else:
                    self.rejects.append((line, "meter_id", "required field 'meter_id' is empty"))
            elif too_long:
                self.rejects.append((line, "meter_id", f"meter_id is longer than {LONGEST_ID} characters"))
            elif area_id is None:
                self.rejects.append((line, "area_id", "required field 'area_id' is empty"))
            elif not known:
                self.rejects.append((line, "area_id", f"unknown area '{area_id}' (load the areas first)"))
            elif (lon is None) != (lat is None):
                self.rejects.append((line, "lon", "lon and lat must both be numbers"))
            else:
                self.rejects.append((line, "lon", "lon/lat out of range"))
        return [str(r[0]) for r in rows]

    def into_empty(self) -> tuple[int, int]:
        """Insert the staged rows into an empty registry: (accepted, updated)."""
        gone = self.classify(self.parallel("attention", {"longest": LONGEST_ID}))
        if gone:
            self.run("forget", (gone,))
        valid = self.stage.rows - len(gone)
        self.took(f"{len(gone)} row(s) set aside (checked in one pass)")
        if valid < BULK_ROWS:
            return self.run("insert_last"), 0
        keys, indexes = self.drop_for_bulk(valid, keys=True)
        primary = next((k for k in keys if k[2]), None)
        accepted = -1
        if primary is not None:
            self.cur.execute("SAVEPOINT meter_bulk")
            inserted = self.run("insert_all")
            try:
                self.add_key(primary)
                self.cur.execute("RELEASE SAVEPOINT meter_bulk")
                accepted = inserted
            except psycopg.errors.UniqueViolation:   # the file names some meter twice
                self.cur.execute("ROLLBACK TO SAVEPOINT meter_bulk")
        if accepted < 0:
            accepted = self.run("insert_last")
            if primary is not None:
                self.add_key(primary)
        self.took(f"{accepted} meters inserted, primary key built")
        self.restore([k for k in keys if not k[2]], indexes)
        return accepted, 0

    def into_stored(self) -> tuple[int, int]:
        """Merge the staged rows into a registry that holds meters: (accepted, updated)."""
        cur = self.cur
        self.run("delta_table")
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as spool:
            cur.execute("SET LOCAL parallel_tuple_cost = 0.001")   # as in ``parallel``
            with cur.copy(self.sql("delta")) as out:
                for data in out:
                    spool.write(data)
            cur.execute("SET LOCAL parallel_tuple_cost TO DEFAULT")
            spool.seek(0)
            with cur.copy(self.sql("delta_load")) as cp:
                while data := spool.read(1 << 20):
                    cp.write(data)
            delta = cur.rowcount
        self.took(f"{delta} staged row(s) differ from the stored meters")
        if not delta:
            return 0, 0
        cur.execute(self.sql("delta_attention"), {"longest": LONGEST_ID})
        gone = self.classify(cur.fetchall())
        if gone:
            self.run("forget", (gone,))
            self.run("delta_forget", (gone,))
        superseded: list[str] = []
        if delta - len(gone):
            superseded = [str(r[0]) for r in self.parallel("superseded")]
            if superseded:
                self.run("delta_forget", (superseded,))
        self.took(f"{len(gone)} row(s) set aside, {len(superseded)} overridden by a later line")
        written = delta - len(gone) - len(superseded)
        keys: list[tuple[str, str, bool]] = []
        indexes: list[str] = []
        if written >= BULK_ROWS:
            cur.execute(self.sql("existing"), {"limit": written})
            row = cur.fetchone()
            if row is not None and int(row[0]) < written:
                keys, indexes = self.drop_for_bulk(written, keys=False)
        cur.execute(self.sql("delta_counts"))
        counts = cur.fetchone()
        assert counts is not None
        # Statements that would write nothing are not run: meter_registry's version (migration
        # 0093) then moves only when the registry does.
        accepted = self.run("insert_new") if counts[0] else 0
        updated = self.run("update_changed") if counts[1] else 0
        self.took(f"{accepted} meters inserted, {updated} updated")
        self.restore(keys, indexes)
        return accepted, updated

    def drop_for_bulk(self, rows: int, *, keys: bool) -> tuple[list[tuple[str, str, bool]], list[str]]:
        """Drop meter's foreign keys (and primary key, when ``keys``) and secondary indexes.

        Returns their definitions, built again after the write in the same transaction: one
        sort and one anti-join instead of a btree, GiST and foreign-key check per row.
        """
        cur = self.cur
        cur.execute(self.sql("constraints"))
        constraints = [(str(n), str(d), bool(p)) for n, d, p in cur.fetchall() if keys or not p]
        cur.execute(self.sql("secondary_indexes"))
        indexes = cur.fetchall()
        for name, _, _ in constraints:
            cur.execute(sql.SQL("ALTER TABLE meter DROP CONSTRAINT {}").format(sql.Identifier(name)))
        for name, _ in indexes:
            cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        log.info("meters: %d rows to write; rebuilding %d index(es) after the load, and %s", rows,
                 len(indexes), ", ".join(n for n, _, _ in constraints) or "no key")
        return constraints, [str(d) for _, d in indexes]

    def add_key(self, key: tuple[str, str, bool]) -> None:
        self.cur.execute(sql.SQL("ALTER TABLE meter ADD CONSTRAINT {} {}").format(
            sql.Identifier(key[0]), sql.SQL(key[1])))

    def restore(self, keys: list[tuple[str, str, bool]], indexes: list[str]) -> None:
        if not (keys or indexes):
            return
        for key in keys:
            self.add_key(key)
        for definition in indexes:
            self.cur.execute(definition)
        self.run("analyze")
        self.took(f"{len(keys)} key(s) and {len(indexes)} index(es) rebuilt, meter analysed")


def load_meters(*, session: Session, path: str | Path | IO[bytes], name: str | None = None,
                chunk_rows: int = CHUNK_ROWS) -> Accounting:
    """Load or update the meter registry from CSV/JSONL (meter_id, area_id, lon, lat).

    ``path`` may be an open binary stream; ``name`` (default: the path) then names the input
    in messages and tells its format by its ending.
    """
    label = name or str(path)
    acct = Accounting(source=label)
    conn = session.connection().connection.driver_connection
    assert conn is not None
    raw = open_binary(path)
    started = time.perf_counter()
    try:
        with conn.cursor() as cur:
            stage = Stage(cur, chunk_rows)
            stage.fill(raw, label, detect_format(label) == "jsonl", acct.warnings)
            merge = _Merge(cur, stage, label)
            merge.started = started
            merge.took(f"{stage.rows} rows staged ({stage.fast} chunk(s) by COPY as they are, "
                       f"{stage.slow} read in Python)")
            rejects = stage.rejects
            if stage.bad_lon_lat:
                cur.execute(merge.sql("known_areas"), (sorted({a for _, a, _ in stage.bad_lon_lat}),))
                known = {r[0] for r in cur.fetchall()}
                rejects += [(line, "lon", reason) if area_id in known else
                            (line, "area_id", f"unknown area '{area_id}' (load the areas first)")
                            for line, area_id, reason in stage.bad_lon_lat]
            cur.execute(merge.sql("lock"))
            if stage.rows:
                cur.execute(merge.sql("empty"))
                row = cur.fetchone()
                acct.accepted, acct.updated = merge.into_empty() if row and row[0] else merge.into_stored()
            acct.duplicates = (stage.rows - len(merge.rejects) - merge.skipped
                               - acct.accepted - acct.updated)
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {delta}, {stage}").format(**merge.names))
    finally:
        if raw is not path:
            raw.close()
    for line, field_name, reason in sorted(rejects + merge.rejects, key=lambda r: r[0]):
        acct.reject(line, field_name, reason)
    log.info("meters %s: %d accepted, %d updated, %d duplicates, %d rejected in %.1f s", label,
             acct.accepted, acct.updated, acct.duplicates, acct.rejected,
             time.perf_counter() - started)
    return acct
