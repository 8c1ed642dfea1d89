"""``gridwatch cases``: the ledger from the command line, refusals as one-line reasons."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from tests.builders import add_area, add_feeder


def test_case_lifecycle_from_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]
    eng = create_engine(cli.url)
    with Session(eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        s.execute(text("INSERT INTO asset_status VALUES "
                       "('area', 'A1', '2026-04-10T00:00+08:00', 6, 4, 'frequent')"))
        s.commit()
    eng.dispose()
    opened = cli("cases", "open", "--at", "2026-04-10T08:00")
    assert opened.exit_code == 0 and "opened 1 case" in opened.output
    rows = json.loads(cli("cases", "list", "--format", "json").stdout)
    assert [(r["asset_id"], r["status"]) for r in rows] == [("A1", "open")]
    cid = str(rows[0]["case_id"])

    r = cli("cases", "update", cid, "--status", "in_progress", "--measures", "更换导线",
            "--unit", "花溪供电局", "--due", "2026-09-30", "--by", "李工", "--at", "2026-04-11T09:00")
    assert r.exit_code == 0, r.output
    bad = cli("cases", "update", cid, "--status", "open", "--by", "李工")
    assert bad.exit_code == 1 and "cannot move from in_progress to open" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert cli("cases", "complete", cid, "--date", "2026-05-01", "--by", "李工",
               "--at", "2026-05-01T18:00").exit_code == 0

    refused = cli("cases", "sign-off", cid, "--by", "张处", "--at", "2026-07-15")
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        "gridwatch: sign-off refused: no verification note (site visit or customer visit) recorded"]

    assert cli("cases", "verify", cid, "--note", "现场核查正常", "--by", "王工",
               "--at", "2026-07-01").exit_code == 0
    done = cli("cases", "sign-off", cid, "--by", "张处", "--at", "2026-07-15", "--format", "json")
    assert done.exit_code == 0, done.output
    case = json.loads(done.stdout)
    assert case["status"] == "closed" and case["signed_off_by"] == "张处"
    shown = cli("cases", "show", cid)
    assert "李工  status: open -> in_progress" in shown.output
    assert "张处  status: completed -> closed" in shown.output
    missing = cli("cases", "show", "999")
    assert missing.exit_code == 1 and "no remediation case 999" in missing.stderr
