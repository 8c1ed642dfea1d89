"""The command line's tables and progress (issue 17, part 3): display width, not characters;
progress bars on a terminal only."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from rich.cells import cell_len
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from gridwatch.context import _table
from tests.builders import add_area, add_feeder, add_meters

GRIDWATCH = Path(sys.executable).with_name("gridwatch")


def test_table_columns_line_up_in_display_columns_with_chinese_names() -> None:
    rows = [{"id": "A1", "name": "花溪区0037号台区", "n": 5},
            {"id": "A22", "name": "Huaxi 37", "n": 12}]
    lines = _table(rows, ["id", "name", "n"]).splitlines()
    # The third column starts at the same display column on every line.
    starts = {cell_len(line[: line.rindex(" ") + 1]) for line in lines}
    assert len(starts) == 1, lines
    assert lines[2].startswith("A1   花溪区0037号台区  5")   # 20 columns wide, padded to 20


def test_table_shows_times_in_beijing_time_with_the_offset() -> None:
    # Stored 2026-11-03 17:30 UTC is 2026-11-04 01:30 in Beijing: the date a person means.
    from datetime import UTC, datetime

    rows = [{"id": "X", "at": datetime(2026, 11, 3, 17, 30, tzinfo=UTC), "day": None}]
    line = _table(rows, ["id", "at", "day"]).splitlines()[2]
    assert "2026-11-04 01:30:00+08:00" in line, line
    assert "+00:00" not in line


def test_report_table_is_aligned_through_the_cli(cli, fresh_db: str, base: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(bind=eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A-1", "F1", lon=106.70)
        add_area(s, "A-2", "F1", lon=106.80)
        s.commit()
    eng.dispose()

    def square(lon: float) -> list[list[list[float]]]:
        return [[[lon - 0.02, 26.48], [lon + 0.02, 26.48], [lon + 0.02, 26.52],
                 [lon - 0.02, 26.52], [lon - 0.02, 26.48]]]

    layer = base / "villages.geojson"
    layer.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": name, "id": fid},
         "geometry": {"type": "Polygon", "coordinates": square(lon)}}
        for name, fid, lon in (("花溪区青岩镇龙井村", "V1", 106.70), ("Longjing", "V2", 106.80))]},
        ensure_ascii=False))
    assert cli("load", "overlay", "weak_supply_village", str(layer)).exit_code == 0
    done = cli("report", "tags")
    assert done.exit_code == 0, done.output
    lines = [ln for ln in done.output.splitlines() if ln.startswith("area")]
    assert len(lines) == 2, done.output
    # The column after the names starts at the same display column on both rows.
    starts = []
    for line in lines:
        name = "花溪区青岩镇龙井村" if "花溪" in line else "Longjing"
        i = line.index(name) + len(name)
        starts.append(cell_len(line[:i]) + len(line[i:]) - len(line[i:].lstrip(" ")))
    assert starts[0] == starts[1], done.output


def _events(path: Path, meters: list[str], n: int) -> None:
    with path.open("w") as f:
        f.write("meter_id,time,kind\n")
        for i in range(n):
            m = meters[i % len(meters)]
            f.write(f"{m},2026-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}+08:00,"
                    f"{'off' if (i // len(meters)) % 2 == 0 else 'on'}\n")


def _run_on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command with standard error on a pseudo-terminal; its exit code and what it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=follower,
                            stdin=subprocess.DEVNULL)
    os.close(follower)
    drawn = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=120)
    os.close(leader)
    return proc.returncode, drawn.decode("utf-8", "replace")


def test_ingest_draws_a_progress_bar_on_a_terminal_and_nothing_in_a_pipe(fresh_db: str, base: Path) -> None:
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(bind=eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        meters = add_meters(s, "A1", 50)
        s.commit()
    events = base / "events.csv"
    _events(events, meters, 40_000)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GRIDWATCH_NO_PROGRESS")}
    env.update(GRIDWATCH_DATABASE_URL=fresh_db, TERM="xterm", COLUMNS="120")
    code, drawn = _run_on_terminal(
        [str(GRIDWATCH), "ingest", "meter-events", str(events), "--format", "json"], env)
    assert code == 0, drawn
    assert "ingest meter-events" in drawn and "rows" in drawn and "ETA" in drawn, drawn
    assert "40,000 rows" in drawn, drawn                  # every data row counted, not the header
    # The same command in a pipe (and in CI) draws nothing on standard error.
    for extra in ({}, {"CI": "true"}):
        piped = subprocess.run(
            [str(GRIDWATCH), "ingest", "meter-events", str(events), "--format", "json"],
            env={**env, **extra}, capture_output=True, text=True, timeout=120)
        assert piped.returncode == 0, piped.stderr
        assert "rows/s" not in piped.stderr and "ETA" not in piped.stderr and "\x1b[" not in piped.stderr
        assert '"duplicates": 40000' in piped.stdout       # the second load stores nothing twice
    with eng.connect() as c:
        assert c.execute(text("SELECT count(*) FROM meter_event")).scalar() == 40_000
    eng.dispose()


def test_load_meters_draws_a_progress_bar_on_a_terminal(fresh_db: str, base: Path) -> None:
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(bind=eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        s.commit()
    registry = base / "meters.csv"
    registry.write_text("meter_id,area_id\n" + "".join(f"M{i},A1\n" for i in range(30_000)))
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GRIDWATCH_NO_PROGRESS")}
    env.update(GRIDWATCH_DATABASE_URL=fresh_db, TERM="xterm", COLUMNS="120")
    code, drawn = _run_on_terminal([str(GRIDWATCH), "load", "meters", str(registry)], env)
    assert code == 0, drawn
    assert "load meters" in drawn and "30,000 rows" in drawn, drawn
    with eng.connect() as c:
        assert c.execute(text("SELECT count(*) FROM meter")).scalar() == 30_000
    eng.dispose()
