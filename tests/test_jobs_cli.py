"""`gridwatch monitor run`, `report frequent-outages`, `alerts list` / `ack` through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from tests.builders import add_area, add_feeder, add_outage

T = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)


def _seed(url: str) -> None:
    eng = create_engine(url, poolclass=pool.NullPool)
    with Session(eng) as s:
        add_feeder(s, "F1", name="10kV 一号线")
        add_area(s, "A1", "F1", name="台区一")
        add_area(s, "A2", "F1", name="台区二")
        for i in range(6):
            st = T - timedelta(days=5 + 40 * i)
            add_outage(s, f"o{i}", "area", "A1", st, st + timedelta(hours=1))
        for i in range(3):
            st = T - timedelta(days=5 + 10 * i)
            add_outage(s, f"p{i}", "area", "A2", st, st + timedelta(hours=1), cause="planned")
        s.commit()
    eng.dispose()


def test_monitor_run_report_and_alerts(cli) -> None:  # type: ignore[no-untyped-def]
    _seed(cli.url)
    res = cli("monitor", "run", "--as-of", T.isoformat())
    assert res.exit_code == 0, res.output
    assert "frequent_outage" in res.output

    res = cli("report", "frequent-outages", "--as-of", T.isoformat(), "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [(r["asset_id"], r["status"], r["count_365"], r["max_60"]) for r in rows] == [
        ("A1", "frequent", 6, 2), ("A2", "at_risk", 3, 3)]
    assert set(rows[0]) == {"asset_type", "asset_id", "name", "county", "prefecture", "tags",
                            "count_365", "max_60", "status", "county_adcode", "prefecture_adcode"}
    assert rows[0]["name"] == "台区一"

    res = cli("report", "frequent-outages", "--as-of", T.isoformat(), "--all", "--format", "json")
    assert {r["asset_id"]: r["status"] for r in json.loads(res.output)} == {
        "A1": "frequent", "A2": "at_risk", "F1": "ok"}

    eng = create_engine(cli.url, poolclass=pool.NullPool)
    with eng.connect() as c:
        stored = dict(c.execute(text("SELECT asset_id, status FROM asset_status")).all())
        runs = dict(c.execute(text("SELECT job, outcome FROM job_run")).all())
    eng.dispose()
    assert stored == {"A1": "frequent", "A2": "at_risk", "F1": "ok"}
    assert runs["frequent_outage"] == "success" and runs["alerts"] == "success"

    res = cli("alerts", "list", "--format", "json")
    alerts = json.loads(res.output)
    by_rule = {(a["rule"], a["subject_id"]): a for a in alerts}
    assert by_rule[("frequent_outage", "A1")]["severity"] == "critical"
    assert by_rule[("frequent_outage_risk", "A2")]["severity"] == "warning"
    assert all(a["state"] == "firing" for a in alerts)

    # evaluating again keeps one alert per fingerprint
    assert cli("monitor", "run", "--as-of", T.isoformat()).exit_code == 0
    assert len(json.loads(cli("alerts", "list", "--format", "json").output)) == len(alerts)

    alert_id = by_rule[("frequent_outage", "A1")]["id"]
    res = cli("alerts", "ack", str(alert_id), "--by", "张工")
    assert res.exit_code == 0, res.output
    assert "张工" in res.output
    acked = {a["id"]: a for a in json.loads(cli("alerts", "list", "--format", "json").output)}
    assert acked[alert_id]["acknowledged_by"] == "张工"
    assert acked[alert_id]["acknowledged_at"]

    res = cli("alerts", "ack", "999999", "--by", "x")
    assert res.exit_code == 1
    assert "no alert 999999" in res.output

    # a year later nothing holds: every alert resolves
    later = T + timedelta(days=400)
    assert cli("monitor", "run", "--as-of", later.isoformat()).exit_code == 0
    firing = json.loads(cli("alerts", "list", "--state", "firing", "--format", "json").output)
    assert [a for a in firing if a["rule"].startswith("frequent")] == []
    resolved = json.loads(cli("alerts", "list", "--state", "resolved", "--format", "json").output)
    assert {(a["rule"], a["subject_id"]) for a in resolved} >= {
        ("frequent_outage", "A1"), ("frequent_outage_risk", "A2")}


def test_monitor_run_bad_as_of_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("monitor", "run", "--as-of", "yesterday-ish")
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_report_csv_has_bom(cli) -> None:  # type: ignore[no-untyped-def]
    _seed(cli.url)
    res = cli("report", "frequent-outages", "--as-of", T.isoformat(), "--format", "csv")
    assert res.exit_code == 0
    assert res.stdout_bytes.startswith(b"\xef\xbb\xbf")
    assert b"asset_type,asset_id,name,county,prefecture,tags,count_365,max_60,status," in \
        res.stdout_bytes


def test_a_failing_alert_rule_fails_the_run_but_keeps_the_others(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from monitoring.alerts import conditions

    _seed(cli.url)

    def broken(**_: object) -> list[conditions.Condition]:
        raise RuntimeError("rule data unavailable")

    evaluators = [(broken if "zero_perception_miss" in rules else ev, rules)
                  for ev, rules in conditions.EVALUATORS]
    monkeypatch.setattr(conditions, "EVALUATORS", evaluators)
    res = cli("monitor", "run", "--as-of", T.isoformat())
    assert res.exit_code == 1
    assert "alerts" in res.output and "Traceback" not in res.output
    eng = create_engine(cli.url, poolclass=pool.NullPool)
    with eng.connect() as conn:
        rules = {r[0] for r in conn.execute(text("SELECT rule FROM alert WHERE state = 'firing'"))}
        outcome, detail = conn.execute(text(
            "SELECT outcome, detail FROM job_run WHERE job = 'alerts' ORDER BY id DESC LIMIT 1")).one()
    eng.dispose()
    assert "frequent_outage" in rules  # the rules that worked still raised their alerts
    assert outcome == "error" and "rule data unavailable" in detail
