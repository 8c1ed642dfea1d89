"""Alerts end to end: lifecycle, Alertmanager v4 webhook, repeats, retries, data-quality rules."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.settings import Settings
from monitoring import jobs
from monitoring.alerts.service import acknowledge, list_alerts
from tests.builders import add_area, add_feeder, add_meters, add_outage

T = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)


class Receiver:
    """A webhook receiver on 127.0.0.1 (ephemeral port) at ``path`` that records what it accepts.

    It answers ``status`` (200 accepts); with ``fail`` set or any other status it refuses with
    503 (or that status), records nothing and counts the refusal in ``refused``. ``keys`` holds
    each accepted request's ``Idempotency-Key``.
    """

    def __init__(self, path: str = "/hook") -> None:
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.keys: list[str] = []
        self.fail = False
        self.status = 200
        self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail or outer.status != 200:
                    outer.refused += 1
                    self.send_response(503 if outer.fail else outer.status)
                    self.end_headers()
                    return
                outer.messages.append(json.loads(body.decode("utf-8")))
                outer.paths.append(self.path)
                outer.keys.append(self.headers.get("Idempotency-Key", ""))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def engine(fresh_db: str) -> Iterator[Engine]:
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    yield eng
    eng.dispose()


def _frequent_area(eng: Engine) -> None:
    with Session(eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        for i in range(6):
            st = T - timedelta(days=5 + 40 * i)
            add_outage(s, f"o{i}", "area", "A1", st, st + timedelta(hours=1))
        s.commit()


def _deliveries(eng: Engine) -> list[tuple[str, str, int]]:
    with eng.connect() as c:
        return [tuple(r) for r in c.execute(text(
            "SELECT reason, status, attempts FROM alert_delivery ORDER BY id"))]


def test_fire_repeat_resolve_each_notify_once(engine: Engine, fresh_settings: Settings,
                                              receiver: Receiver) -> None:
    settings = fresh_settings.model_copy(update={"webhook_url": receiver.url,
                                                 "alert_repeat_hours": 2.0})
    _frequent_area(engine)
    result = jobs.run_all(engine=engine, settings=settings, as_of=T)
    assert result["ok"]
    assert len(receiver.messages) == 1
    msg = receiver.messages[0]
    assert msg["version"] == "4" and msg["status"] == "firing"
    assert set(msg) >= {"version", "groupKey", "status", "receiver", "groupLabels", "commonLabels",
                        "commonAnnotations", "externalURL", "alerts"}
    alert = msg["alerts"][0]
    assert set(alert) >= {"status", "labels", "annotations", "startsAt", "endsAt",
                          "generatorURL", "fingerprint"}
    assert alert["labels"]["alertname"] == "frequent_outage"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["subject_id"] == "A1"
    assert alert["startsAt"] == "2026-06-30T04:00:00Z"

    # still firing: no new message until the repeat interval has passed
    jobs.run_all(engine=engine, settings=settings, as_of=T + timedelta(minutes=15))
    assert len(receiver.messages) == 1
    jobs.notify(engine=engine, settings=settings, now=utcnow() + timedelta(hours=1))
    assert len(receiver.messages) == 1
    jobs.notify(engine=engine, settings=settings, now=utcnow() + timedelta(hours=2, minutes=1))
    assert len(receiver.messages) == 2
    assert receiver.messages[1]["status"] == "firing"
    assert receiver.messages[1]["alerts"][0]["fingerprint"] == alert["fingerprint"]

    # the rule stops holding: exactly one resolved message
    jobs.run_all(engine=engine, settings=settings, as_of=T + timedelta(days=400))
    jobs.run_all(engine=engine, settings=settings, as_of=T + timedelta(days=401))
    resolved = [m for m in receiver.messages if m["status"] == "resolved"]
    assert len(resolved) == 1
    assert resolved[0]["alerts"][0]["fingerprint"] == alert["fingerprint"]
    assert resolved[0]["alerts"][0]["endsAt"].startswith("2027-08-04")
    assert [r[:2] for r in _deliveries(engine)] == [
        ("first", "delivered"), ("repeat", "delivered"), ("resolved", "delivered")]

    # firing again later is a new alert with the same fingerprint
    jobs.run_all(engine=engine, settings=settings, as_of=T)
    with Session(engine) as s:
        rows = list_alerts(session=s, state="all")
    same = [a for a in rows if a["fingerprint"] == alert["fingerprint"]]
    assert sorted(a["state"] for a in same) == ["firing", "resolved"]


def test_failed_delivery_is_retried_with_backoff_and_never_fails_evaluation(
    engine: Engine, fresh_settings: Settings, receiver: Receiver,
) -> None:
    settings = fresh_settings.model_copy(update={"webhook_url": receiver.url})
    _frequent_area(engine)
    receiver.fail = True
    result = jobs.run_all(engine=engine, settings=settings, as_of=T)
    assert result["ok"]
    assert _deliveries(engine) == [("first", "pending", 1)]
    with engine.connect() as c:
        err, nxt, last = c.execute(text(
            "SELECT error, next_attempt_at, last_attempt_at FROM alert_delivery")).one()
    assert err == "HTTP 503" and nxt - last == timedelta(seconds=30)
    jobs.notify(engine=engine, settings=settings, now=utcnow())  # not due yet
    assert _deliveries(engine) == [("first", "pending", 1)]
    receiver.fail = False
    jobs.notify(engine=engine, settings=settings, now=utcnow() + timedelta(seconds=31))
    assert _deliveries(engine) == [("first", "delivered", 2)]
    assert len(receiver.messages) == 1

    # an unreachable webhook never fails the evaluation either
    dead = settings.model_copy(update={"webhook_url": "http://127.0.0.1:9/nowhere"})
    with Session(engine) as s:
        add_outage(s, "x", "area", "A1", T - timedelta(days=1), None)
        s.commit()
    result = jobs.run_all(engine=engine, settings=dead, as_of=T)
    assert result["ok"]


def test_acknowledge_records_who_and_when(engine: Engine, fresh_settings: Settings) -> None:
    _frequent_area(engine)
    jobs.run_all(engine=engine, settings=fresh_settings, as_of=T)
    with Session(engine) as s:
        (alert,) = list_alerts(session=s, state="firing")
        row = acknowledge(session=s, alert_id=alert["id"], actor="li", at=T)
        assert (row["acknowledged_by"], row["acknowledged_at"]) == ("li", T)
        assert row["state"] == "firing"


def test_data_quality_rules(engine: Engine, fresh_settings: Settings) -> None:
    with Session(engine) as s:
        add_feeder(s, "F1")
        add_area(s, "Q1", "F1")
        add_area(s, "Q2", "F1")
        m1 = add_meters(s, "Q1", 4)
        m2 = add_meters(s, "Q2", 4)
        add_outage(s, "stuck", "area", "Q2", T - timedelta(hours=73), None, cause="weather")
        add_outage(s, "recent", "area", "Q2", T - timedelta(hours=71), None, cause="weather")

        def ev(m: str, t: datetime, kind: str) -> None:
            s.execute(text("INSERT INTO meter_event (meter_id, time, kind) VALUES (:m, :t, :k)"),
                      {"m": m, "t": t, "k": kind})

        ev(m1[0], T - timedelta(hours=80), "off")  # silent for 80 h
        ev(m1[1], T - timedelta(hours=80), "off")
        ev(m1[1], T - timedelta(hours=79), "on")  # restored
        ev(m1[2], T - timedelta(hours=10), "off")  # off, but only 10 h
        ev(m2[0], T - timedelta(hours=10), "off")  # Q2 has a record in progress
        ev(m2[1], T - timedelta(hours=10), "off")
        s.commit()
    jobs.run_all(engine=engine, settings=fresh_settings, as_of=T)
    with Session(engine) as s:
        firing = {(a["rule"], a["subject_id"]) for a in list_alerts(session=s, state="firing")}
    assert ("open_outage", "stuck") in firing
    assert ("open_outage", "recent") not in firing
    assert ("silent_meter", m1[0]) in firing
    assert ("silent_meter", m1[1]) not in firing
    assert ("silent_meter", m1[2]) not in firing
    # Q1: 2 of 4 meters off (0.5 > 0.2) and no record explains it; Q2 has one in progress
    assert ("unexplained_off", "Q1") in firing
    assert ("unexplained_off", "Q2") not in firing
    # exactly at the rate does not fire
    strict = fresh_settings.model_copy(update={"unexplained_off_rate": 0.5})
    jobs.run_all(engine=engine, settings=strict, as_of=T)
    with Session(engine) as s:
        firing = {(a["rule"], a["subject_id"]) for a in list_alerts(session=s, state="firing")}
    assert ("unexplained_off", "Q1") not in firing


TOKEN = "tok-5ecret-9f3b1c"


def _delivery_text(eng: Engine) -> list[str]:
    """Every delivery row, all its columns, as text."""
    with eng.connect() as c:
        return list(c.execute(text("SELECT row_to_json(d)::text FROM alert_delivery d")).scalars())


def test_alerts_raised_without_a_webhook_are_sent_by_the_one_that_has_it(
    engine: Engine, fresh_settings: Settings, receiver: Receiver,
) -> None:
    """Issue 12 item 9: `monitor run` without GRIDWATCH_WEBHOOK_URL raises an alert; the
    serving leader, which has the URL (with a token in it), delivers it, repeats it and its
    resolution; no delivery row ever holds the URL or the token."""
    raising = fresh_settings.model_copy(update={"webhook_url": None, "alert_repeat_hours": 2.0})
    secret_url = receiver.url.replace("http://", f"http://hook:{TOKEN}-pw@") + f"?token={TOKEN}"
    sender = raising.model_copy(update={"webhook_url": secret_url})
    _frequent_area(engine)

    result = jobs.run_all(engine=engine, settings=raising, as_of=T)
    assert result["ok"]
    assert _deliveries(engine) == [("first", "pending", 0)]  # queued, although no URL here
    assert result["steps"][-1]["result"]["unsent"] == 1

    # the sender's receiver is down: the error it records names neither the URL nor the token
    receiver.fail = True
    jobs.notify(engine=engine, settings=sender, now=utcnow())
    dead = sender.model_copy(update={"webhook_url": f"http://127.0.0.1:9/hook?token={TOKEN}"})
    jobs.notify(engine=engine, settings=dead, now=utcnow() + timedelta(seconds=31))
    assert [r[:2] for r in _deliveries(engine)] == [("first", "pending")]
    receiver.fail = False
    jobs.notify(engine=engine, settings=sender, now=utcnow() + timedelta(minutes=5))
    assert _deliveries(engine) == [("first", "delivered", 3)]
    assert len(receiver.messages) == 1
    assert receiver.paths == [f"/hook?token={TOKEN}"]  # the URL was resolved at send time
    first = receiver.messages[0]["alerts"][0]
    assert first["labels"]["subject_id"] == "A1"
    assert first["annotations"]["notification_reason"] == "first"

    # repeats are queued by the process without a URL, after the interval and not before
    assert jobs.notify(engine=engine, settings=raising,
                       now=utcnow() + timedelta(hours=1))["result"]["repeats"] == 0
    later = utcnow() + timedelta(hours=2, minutes=10)
    queued = jobs.notify(engine=engine, settings=raising, now=later)["result"]
    assert (queued["repeats"], queued["unsent"]) == (1, 1)
    # ... once only, however many processes look while it waits
    assert jobs.notify(engine=engine, settings=raising, now=later)["result"]["repeats"] == 0
    jobs.notify(engine=engine, settings=sender, now=later)
    assert [m["alerts"][0]["annotations"]["notification_reason"] for m in receiver.messages] == [
        "first", "repeat"]

    # the resolution, raised without a URL, is delivered by the sender too
    jobs.run_all(engine=engine, settings=raising, as_of=T + timedelta(days=400))
    jobs.notify(engine=engine, settings=sender, now=utcnow())
    assert [m["status"] for m in receiver.messages] == ["firing", "firing", "resolved"]
    assert [r[:2] for r in _deliveries(engine)] == [
        ("first", "delivered"), ("repeat", "delivered"), ("resolved", "delivered")]

    rows = _delivery_text(engine)
    assert len(rows) == 3 and rows[0].startswith("{")
    assert not [r for r in rows if TOKEN in r or "127.0.0.1" in r]
    with engine.connect() as c:
        columns = set(c.execute(text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'alert_delivery'")).scalars())
    assert "url" not in columns


def test_retries_give_up_only_after_the_configured_time(
    engine: Engine, fresh_settings: Settings, receiver: Receiver,
) -> None:
    """Backoff doubles up to its cap, and a delivery is marked failed only after
    webhook_give_up_hours (default 24 h, so a receiver down for an hour still gets it)."""
    from monitoring.alerts.notify import backoff

    assert [backoff(n, fresh_settings).total_seconds() for n in (1, 2, 3, 8, 9, 30)] == [
        30, 60, 120, 3600, 3600, 3600]
    settings = fresh_settings.model_copy(update={"webhook_url": receiver.url})
    _frequent_area(engine)
    receiver.fail = True
    start = utcnow()
    jobs.run_all(engine=engine, settings=settings, as_of=T)
    now = start
    for _ in range(12):  # about 3 hours of failures: still pending
        with engine.connect() as c:
            now = c.execute(text("SELECT next_attempt_at FROM alert_delivery")).scalar_one()
        jobs.notify(engine=engine, settings=settings, now=now)
    assert now - start > timedelta(hours=1)
    assert [r[:2] for r in _deliveries(engine)] == [("first", "pending")]
    receiver.fail = False
    jobs.notify(engine=engine, settings=settings, now=now + timedelta(hours=1))
    assert [r[:2] for r in _deliveries(engine)] == [("first", "delivered")]
    # a receiver that never comes back: failed after the give-up time, then left alone
    receiver.fail = True
    jobs.run_all(engine=engine, settings=settings, as_of=T + timedelta(days=400))
    jobs.notify(engine=engine, settings=settings, now=utcnow() + timedelta(hours=25))
    assert _deliveries(engine)[-1][:2] == ("resolved", "failed")


def test_the_migration_drops_stored_urls_and_queues_lost_notifications(fresh_db: str) -> None:
    """Revision 0080 removes the URL (and any token) from old rows and queues the 'first'
    notification of firing alerts that never had one."""
    import migrations

    migrations.downgrade(fresh_db, "0030")
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    try:
        with eng.begin() as c:
            ids = c.execute(text(
                "INSERT INTO alert (fingerprint, rule, severity, subject_type, subject_id, state, "
                "starts_at, last_seen_at) VALUES ('f1', 'frequent_outage', 'critical', 'area', "
                "'A1', 'firing', now(), now()), ('f2', 'frequent_outage', 'critical', 'area', "
                "'A2', 'firing', now(), now()) RETURNING id")).scalars().all()
            c.execute(text(
                "INSERT INTO alert_delivery (alert_id, reason, next_attempt_at, url, created_at) "
                "VALUES (:a, 'first', now(), :u, now()), (:a, 'repeat', now(), :u, now()), "
                "(:a, 'repeat', now(), :u, now())"),
                {"a": ids[0], "u": f"https://hooks.example/x?token={TOKEN}"})
        migrations.upgrade(fresh_db)
        rows = _delivery_text(eng)
        assert rows and not [r for r in rows if TOKEN in r]
        with eng.connect() as c:
            got = c.execute(text(
                "SELECT alert_id, reason, status FROM alert_delivery ORDER BY id")).all()
        assert [tuple(r) for r in got] == [
            (ids[0], "first", "pending"), (ids[0], "repeat", "failed"),
            (ids[0], "repeat", "pending"), (ids[1], "first", "pending")]
    finally:
        eng.dispose()
