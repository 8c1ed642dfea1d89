"""Push notifications to customers (SPEC section 13, task 54): subscriptions, exactly-once
queueing through real ingests, the gateway webhook with retries, planned-work notices."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring import jobs
from monitoring.live import refresh_live
from tests.builders import add_area, add_feeder, add_meters, free_port
from tests.test_alerts_webhook import Receiver
from tests.test_api_support import Api, make_api

CSV = {"content-type": "text/csv"}
H = timedelta(hours=1)
M = timedelta(minutes=1)
TOKEN = "gw-t0ken-5ecret-81f2"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The notification gateway: a receiver at /gateway that records what it accepts."""
    r = Receiver("/gateway")
    yield r
    r.close()


@pytest.fixture
def http(fresh_settings: Settings, receiver: Receiver) -> Iterator[Api]:
    """The app with the gateway configured; delivery only when a test runs the job."""
    settings = fresh_settings.model_copy(update={"notify_gateway_url": receiver.url,
                                                 "notify_gateway_immediate": False})
    yield from make_api(settings)


def _grid(api: Api) -> dict[str, list[str]]:
    """F1: A1 (named with a line break) and A1b; F2: A2. Meters, some of them subscribed."""
    def build(s: Session) -> dict[str, list[str]]:
        add_feeder(s, "F1")
        add_feeder(s, "F2", lon=107.0)
        add_area(s, "A1", "F1", customers=30, name="东山\n台区")
        add_area(s, "A1b", "F1", customers=10, lon=106.8)
        add_area(s, "A2", "F2", customers=20, lon=107.0)
        return {"A1": add_meters(s, "A1", 3), "A1b": add_meters(s, "A1b", 1),
                "A2": add_meters(s, "A2", 1)}
    meters: dict[str, list[str]] = api.sql(build)
    return meters


def _subscribe(api: Api, meter: str, channel: str, contact: str | None = None) -> None:
    body = {"meter_id": meter, "channel": channel, **({"contact": contact} if contact else {})}
    r = api.request("POST", "/api/v1/subscriptions", "ingest", json=body)
    assert r.status_code == 201, r.text


def _queued(api: Api) -> list[tuple[str, str, str]]:
    def rows(s: Session) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in s.execute(text(
            "SELECT meter_id, channel, kind FROM push_notification ORDER BY id"))]
    result: list[tuple[str, str, str]] = api.sql(rows)
    return result


def _error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    return dict(body)


def test_subscriptions_over_the_api(http: Api) -> None:
    meters = _grid(http)
    m0, m1 = meters["A1"][0], meters["A1"][1]
    body = {"meter_id": m0, "channel": "sms", "contact": "+86 138 0000 0000"}
    path = "/api/v1/subscriptions"
    assert _error(http.request("POST", path, None, json=body), 401)["error"] == "unauthorized"
    for role in ("planner", "regulator"):
        assert _error(http.request("POST", path, role, json=body), 403)["error"] == "forbidden"
        _error(http.request("GET", path, role, params={"meter_id": m0}), 403)
        _error(http.request("DELETE", path, role, params={"meter_id": m0, "channel": "sms"}), 403)

    created = http.request("POST", path, "ingest", json=body)
    assert created.status_code == 201, created.text
    assert {k: created.json()[k] for k in ("meter_id", "channel", "contact")} == body
    again = http.request("POST", path, "ingest", json=body)
    assert again.status_code == 200 and again.json()["contact"] == body["contact"]
    moved = http.request("POST", path, "admin", json={**body, "contact": "openid-or-phone-2"})
    assert moved.status_code == 200 and moved.json()["contact"] == "openid-or-phone-2"
    kept = http.request("POST", path, "ingest", json={"meter_id": m0, "channel": "sms"})
    assert kept.status_code == 200 and kept.json()["contact"] == "openid-or-phone-2"
    assert http.request("POST", path, "ingest",
                        json={"meter_id": m0, "channel": "wechat"}).status_code == 201

    listed = http.request("GET", path, "ingest", params={"meter_id": m0})
    assert listed.status_code == 200 and listed.headers["x-total-count"] == "2"
    assert [(r["channel"], r["contact"]) for r in listed.json()] == [
        ("sms", "openid-or-phone-2"), ("wechat", None)]
    assert http.request("GET", path, "ingest", params={"meter_id": m1}).json() == []

    unknown = _error(http.request("POST", path, "ingest",
                                  json={"meter_id": "nobody-9", "channel": "sms"}), 404)
    assert unknown["error"] == "not_found" and "nobody-9" in unknown["detail"]
    _error(http.request("GET", path, "ingest", params={"meter_id": "nobody-9"}), 404)
    for bad in ({"meter_id": m0, "channel": "email"},
                {"meter_id": m0, "channel": "sms", "contact": "x" * 129},
                {"meter_id": m0, "channel": "sms", "contact": "138\r\n0000"},
                {"meter_id": m0, "channel": "sms", "contact": ""},
                {"meter_id": "", "channel": "sms"},
                {"channel": "sms"},
                {"meter_id": m0, "channel": "sms", "admin": True},
                ["not", "an", "object"]):
        assert _error(http.request("POST", path, "ingest", json=bad), 422)["error"] in (
            "invalid_request", "invalid_input"), bad
    _error(http.request("POST", path, "ingest", content=b"{not json",
                        headers={"content-type": "application/json"}), 422)
    _error(http.request("GET", path, "ingest"), 422)                 # which meter?
    assert http.request("POST", path, "ingest",
                        json={"meter_id": m0, "channel": "sms", "contact": "x" * 128}
                        ).status_code == 200                         # 128 is allowed

    gone = http.request("DELETE", path, "ingest", params={"meter_id": m0, "channel": "sms"})
    assert gone.status_code == 204 and gone.content == b""
    _error(http.request("DELETE", path, "ingest", params={"meter_id": m0, "channel": "sms"}), 404)
    by_body = http.request("DELETE", path, "admin", json={"meter_id": m0, "channel": "wechat"})
    assert by_body.status_code == 204
    _error(http.request("DELETE", path, "ingest"), 422)
    _error(http.request("DELETE", path, "ingest", params={"meter_id": m0}), 422)
    assert http.request("GET", path, "ingest", params={"meter_id": m0}).json() == []


def _ingest_outage(api: Api, start: datetime, etr: datetime | None, end: datetime | None = None,
                   progress: str = "dispatched") -> dict[str, Any]:
    row = (f"R1,area,A1,{start.isoformat()},{end.isoformat() if end else ''},fault,"
           f"{etr.isoformat() if etr else ''},{progress}\n")
    r = api.request("POST", "/api/v1/ingest/outages", "ingest", headers=CSV, content=(
        "outage_id,asset_type,asset_id,start_time,end_time,cause,estimated_end,progress\n"
        + row).encode())
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
    assert not r.json().get("warnings"), r.text
    result: dict[str, Any] = r.json()
    return result


def test_each_change_notifies_each_subscriber_exactly_once(http: Api, receiver: Receiver) -> None:
    """Start, a re-sent record, ETR moves of 20 and 40 minutes (and back 25), restoration."""
    meters = _grid(http)
    a1, a2 = meters["A1"], meters["A2"][0]
    _subscribe(http, a1[0], "sms", "13800000000")
    _subscribe(http, a1[1], "wechat", "openid-a1-1")
    _subscribe(http, a2, "sms", "13900000000")      # another area: never told about A1
    now = datetime.now(UTC).replace(microsecond=0)
    start, etr = now - H, now + 2 * H

    assert _ingest_outage(http, start, etr)["accepted"] == 1
    assert _queued(http) == [(a1[0], "sms", "outage_start"), (a1[1], "wechat", "outage_start")]
    assert _ingest_outage(http, start, etr)["duplicates"] == 1            # re-sent: nothing
    _ingest_outage(http, start, etr + 20 * M)                               # 20 min: nothing
    jobs.live_outages(engine=http.engine, settings=http.settings)           # a re-run: nothing
    assert len(_queued(http)) == 2
    _ingest_outage(http, start, etr + 60 * M, progress="on_site")           # 60 from the last told
    assert _queued(http)[2:] == [(a1[0], "sms", "estimate_changed"),
                                 (a1[1], "wechat", "estimate_changed")]
    _ingest_outage(http, start, etr + 35 * M, progress="repairing")         # 25 back: nothing
    assert len(_queued(http)) == 4
    restored = now - 10 * M
    _ingest_outage(http, start, etr + 35 * M, end=restored, progress="restored")
    assert _queued(http)[4:] == [(a1[0], "sms", "restoration"), (a1[1], "wechat", "restoration")]
    jobs.live_outages(engine=http.engine, settings=http.settings)
    assert len(_queued(http)) == 6

    assert receiver.messages == []                   # queued only: the job delivers
    done = jobs.push(engine=http.engine, settings=http.settings)
    assert done["outcome"] == "success" and done["result"]["delivered"] == 6
    jobs.push(engine=http.engine, settings=http.settings)
    assert len(receiver.messages) == 6              # each once
    by_meter = {m: [x["kind"] for x in receiver.messages if x["meter_id"] == m] for m in (*a1, a2)}
    assert by_meter == {a1[0]: ["outage_start", "estimate_changed", "restoration"],
                        a1[1]: ["outage_start", "estimate_changed", "restoration"],
                        a1[2]: [], a2: []}
    first, change, back = (x for x in receiver.messages if x["meter_id"] == a1[0])
    assert set(first) == {
        "version", "notification_id", "kind", "created_at", "meter_id", "channel", "contact",
        "area", "since", "cause", "estimated_restoration", "progress", "restored_at",
        "planned_start", "planned_end", "method", "notice_late", "message_zh"}
    z = "%Y-%m-%dT%H:%M:%SZ"
    assert (first["version"], first["channel"], first["contact"]) == ("1", "sms", "13800000000")
    assert first["area"] == {"id": "A1", "name": "东山\n台区"}
    assert (first["since"], first["cause"], first["progress"]) == (
        start.strftime(z), "fault", "dispatched")
    assert first["estimated_restoration"] == etr.strftime(z)
    assert first["planned_start"] is None and first["notice_late"] is None
    local = (start + 8 * H)
    assert first["message_zh"].startswith("【停电通知】")
    assert f"东山台区」自{local.month}月{local.day}日 {local:%H:%M}起停电" in first["message_zh"]
    assert "\n" not in first["message_zh"] and "设备故障" in first["message_zh"]
    assert (change["estimated_restoration"], change["progress"]) == (
        (etr + 60 * M).strftime(z), "on_site")
    assert "调整为" in change["message_zh"]
    assert back["restored_at"] == restored.strftime(z) and "恢复供电" in back["message_zh"]
    assert len({x["notification_id"] for x in receiver.messages}) == 6
    assert receiver.keys[0] == f"gridwatch-push-{receiver.messages[0]['notification_id']}"


def test_an_estimate_from_none_counts_and_back_to_none_does_not(db_session: Session) -> None:
    """Set-based in refresh_live's transaction: none → a value is news; a value → none is not."""
    s = db_session
    add_feeder(s, "F1")
    add_area(s, "A1", "F1")
    (meter,) = add_meters(s, "A1", 1)
    s.execute(text("INSERT INTO push_subscription VALUES (:m, 'sms', NULL, now(), now())"),
              {"m": meter})
    t = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    s.execute(text("INSERT INTO outage_record (outage_id, asset_type, asset_id, start_time, "
                   "cause) VALUES ('R1', 'area', 'A1', :t, 'fault')"), {"t": t - H})

    def etr(value: datetime | None) -> int:
        s.execute(text("UPDATE outage_record SET estimated_end = :e"), {"e": value})
        return int(refresh_live(session=s, now=t)["notifications"])
    assert refresh_live(session=s, now=t)["notifications"] == 1     # the start, no estimate
    assert [etr(t + H), etr(None), etr(t + H + 30 * M), etr(t + H + 31 * M)] == [1, 0, 0, 1]
    keys = s.execute(text("SELECT event_key FROM push_notification ORDER BY id")).scalars().all()
    assert keys == ["outage_start/A1/2026-11-28T05:00:00.000000Z",
                    "estimate_changed/A1/2026-11-28T05:00:00.000000Z/1",
                    "estimate_changed/A1/2026-11-28T05:00:00.000000Z/2"]


def _one_queued(api: Api, meters: dict[str, list[str]], now: datetime) -> None:
    """A subscriber in A1 and an outage of A1 seen by a refresh at ``now``."""
    _subscribe(api, meters["A1"][0], "sms", "13800000000")

    def start(s: Session) -> None:
        s.execute(text("INSERT INTO outage_record (outage_id, asset_type, asset_id, start_time, "
                       "cause) VALUES ('R9', 'area', 'A1', :t, 'weather')"), {"t": now - H})
        assert refresh_live(session=s, now=now)["notifications"] == 1
    api.sql(start)


def _attempts(api: Api) -> list[tuple[Any, ...]]:
    def rows(s: Session) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in s.execute(text(
            "SELECT status, attempts, http_status, last_error, next_attempt_at - last_attempt_at "
            "FROM push_notification ORDER BY id"))]
    result: list[tuple[Any, ...]] = api.sql(rows)
    return result


def test_a_gateway_that_fails_then_recovers_gets_it_once(http: Api, receiver: Receiver) -> None:
    meters = _grid(http)
    now = datetime.now(UTC)
    _one_queued(http, meters, now)
    receiver.status = 503
    jobs.push(engine=http.engine, settings=http.settings, now=now)
    assert _attempts(http) == [("queued", 1, 503, "HTTP 503", timedelta(seconds=30))]
    jobs.push(engine=http.engine, settings=http.settings, now=now + 10 * timedelta(seconds=1))
    assert _attempts(http)[0][:2] == ("queued", 1)                  # not due yet
    jobs.push(engine=http.engine, settings=http.settings, now=now + 31 * timedelta(seconds=1))
    assert _attempts(http) == [("queued", 2, 503, "HTTP 503", timedelta(seconds=60))]
    receiver.status = 200
    jobs.push(engine=http.engine, settings=http.settings, now=now + 92 * timedelta(seconds=1))
    assert _attempts(http)[0][:3] == ("sent", 3, 200)
    jobs.push(engine=http.engine, settings=http.settings, now=now + 2 * H)
    assert len(receiver.messages) == 1 and receiver.refused == 2
    assert receiver.messages[0]["kind"] == "outage_start"


def test_give_up_and_refused_messages(http: Api, receiver: Receiver) -> None:
    """Still failing 24 h after queueing: failed. A 422 from the gateway: failed at once."""
    meters = _grid(http)
    now = datetime.now(UTC)
    _one_queued(http, meters, now)
    receiver.status = 503
    jobs.push(engine=http.engine, settings=http.settings, now=now + 23 * H)
    assert _attempts(http)[0][:2] == ("queued", 1)
    jobs.push(engine=http.engine, settings=http.settings, now=now + 25 * H)
    assert _attempts(http)[0][:2] == ("failed", 2)
    receiver.status = 200
    jobs.push(engine=http.engine, settings=http.settings, now=now + 26 * H)
    assert receiver.messages == []                                   # left alone

    _subscribe(http, meters["A1"][1], "wechat", "openid-x")

    def end(s: Session) -> None:
        s.execute(text("UPDATE outage_record SET end_time = :t"), {"t": now + 26 * H})
        refresh_live(session=s, now=now + 27 * H)
    http.sql(end)
    receiver.status = 422
    jobs.push(engine=http.engine, settings=http.settings, now=now + 27 * H)
    assert [a[:3] for a in _attempts(http)] == [
        ("failed", 2, 503), ("failed", 1, 422), ("failed", 1, 422)]


def _ingest_works(api: Api, rows: list[tuple[str, str, str, datetime, str]]) -> None:
    body = "work_id,asset_type,asset_id,planned_start,planned_end,method\n" + "".join(
        f"{w},{t},{a},{st.isoformat()},{(st + 4 * H).isoformat()},{m}\n" for w, t, a, st, m in rows)
    r = api.request("POST", "/api/v1/ingest/works", "ingest", headers=CSV, content=body.encode())
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text


def test_planned_work_notices_and_the_seven_day_rule(
        http: Api, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """notice_late: ingested 7 days − 1 s before the start is late; exactly 7 days is not."""
    from core import clock

    meters = _grid(http)
    a1, a1b, a2 = meters["A1"][0], meters["A1b"][0], meters["A2"][0]
    for m in (a1, a1b, a2):
        _subscribe(http, m, "sms", f"tel-{m}")
    t = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(clock, "utcnow", lambda: t)          # the ingest's clock
    week = timedelta(days=7)
    works = [("W-late", "area", "A1", t + week - timedelta(seconds=1), "outage"),
             ("W-week", "feeder", "F1", t + week, "outage"),      # A1 and A1b
             ("W-live", "area", "A2", t + 10 * week, "live_line"),
             ("W-begun", "area", "A1", t - H, "outage")]          # already begun: no notice
    _ingest_works(http, works)

    def notices(s: Session) -> list[tuple[str, str, bool]]:
        return [tuple(r) for r in s.execute(text(
            "SELECT work_id, meter_id, notice_late FROM push_notification "
            "WHERE kind = 'planned_work' ORDER BY work_id, meter_id"))]
    assert http.sql(notices) == [(
        "W-late", a1, True), ("W-live", a2, False), ("W-week", a1, False), ("W-week", a1b, False)]
    _ingest_works(http, works)                                  # the same file again: nothing
    jobs.push(engine=http.engine, settings=http.settings)       # and the job finds nothing new
    assert len(http.sql(notices)) == 4
    moved = t + week + timedelta(days=1)
    _ingest_works(http, [("W-week", "feeder", "F1", moved, "outage")])   # new times: told again

    def retold(s: Session) -> list[tuple[str, bool]]:
        return [tuple(r) for r in s.execute(text(
            "SELECT meter_id, notice_late FROM push_notification "
            "WHERE event_key = 'planned_work/W-week/2' ORDER BY meter_id"))]
    assert http.sql(retold) == [(a1, False), (a1b, False)]
    assert len(http.sql(notices)) == 6

    monkeypatch.undo()
    jobs.push(engine=http.engine, settings=http.settings)
    got = {(m["meter_id"], m["planned_start"]): m for m in receiver.messages}
    assert len(receiver.messages) == 6
    late = got[(a1, (t + week - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    assert (late["kind"], late["notice_late"], late["method"]) == ("planned_work", True, "outage")
    assert late["since"] is None and "计划停电通知" in late["message_zh"]
    on_time = got[(a1b, (t + week).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    assert on_time["notice_late"] is False and on_time["area"]["id"] == "A1b"
    live_line = got[(a2, (t + 10 * week).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    assert "不停电" in live_line["message_zh"]


def test_immediate_delivery_after_an_ingest(fresh_settings: Settings, receiver: Receiver) -> None:
    """With notify_gateway_immediate (the default) an ingest that queued something has it
    sent in the background, without waiting for the delivery job."""
    settings = fresh_settings.model_copy(update={"notify_gateway_url": receiver.url})
    for api in make_api(settings):
        meters = _grid(api)
        _subscribe(api, meters["A2"][0], "wechat", "openid-a2")
        now = datetime.now(UTC).replace(microsecond=0)
        body = ("outage_id,asset_type,asset_id,start_time,cause\n"
                f"RF,feeder,F2,{(now - H).isoformat()},weather\n")
        r = api.request("POST", "/api/v1/ingest/outages", "ingest", headers=CSV,
                        content=body.encode())
        assert r.status_code == 200, r.text
        def status(s: Session) -> list[str]:
            return list(s.execute(text("SELECT status FROM push_notification")).scalars())
        deadline = time.monotonic() + 10
        while api.sql(status) != ["sent"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.sql(status) == ["sent"]
        assert [(m["meter_id"], m["kind"], m["cause"]) for m in receiver.messages] == [
            (meters["A2"][0], "outage_start", "weather")]


def test_the_gateway_url_and_its_secret_stay_out_of_records_and_logs(
        http: Api, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    meters = _grid(http)
    now = datetime.now(UTC)
    _one_queued(http, meters, now)
    dead = f"http://gw:{TOKEN}@127.0.0.1:{free_port()}/push?token={TOKEN}"
    caplog.set_level(logging.DEBUG)
    jobs.push(engine=http.engine, settings=http.settings.model_copy(
        update={"notify_gateway_url": dead}), now=now)
    status, attempts, code, error, _ = _attempts(http)[0]
    assert (status, attempts, code) == ("queued", 1, None) and "ConnectError" in error
    secret = receiver.url.replace("http://", f"http://gw:{TOKEN}@") + f"?token={TOKEN}"
    jobs.push(engine=http.engine, settings=http.settings.model_copy(
        update={"notify_gateway_url": secret}), now=now + H)
    assert _attempts(http)[0][:2] == ("sent", 2)
    assert receiver.paths == [f"/gateway?token={TOKEN}"]       # used at send time ...

    def everything(s: Session) -> str:
        return "\n".join(s.execute(text(
            "SELECT row_to_json(n)::text FROM push_notification n UNION ALL "
            "SELECT row_to_json(j)::text FROM job_run j")).scalars())
    stored = http.sql(everything)
    assert stored and TOKEN not in stored and "/push" not in stored   # ... never stored
    assert TOKEN not in caplog.text and "gw:" not in caplog.text     # ... nor logged
    assert TOKEN not in json.dumps(receiver.messages)


def test_the_migration_goes_down_and_up(fresh_db: str) -> None:
    import migrations

    migrations.downgrade(fresh_db, "0094")
    eng: Engine = create_engine(fresh_db, poolclass=pool.NullPool)
    try:
        with eng.connect() as c:
            assert c.execute(text("SELECT to_regclass('push_notification')")).scalar() is None
        migrations.upgrade(fresh_db)
        with eng.connect() as c:
            assert c.execute(text("SELECT to_regclass('push_notification')")).scalar() is not None
            assert c.execute(text("SELECT count(*) FROM information_schema.columns WHERE "
                                  "table_name = 'live_outage' AND column_name LIKE 'announced%'")
                             ).scalar() == 2
    finally:
        eng.dispose()
