"""The Alertmanager sink against Debian's real ``prometheus-alertmanager`` (API v2).

A fixture starts an Alertmanager of the test's own (throwaway config and storage, a free port,
clustering off) that routes everything to a webhook receiver of the test, so the whole chain
is exercised: gridwatch posts → the Alertmanager holds the alert → it notifies its receiver.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring import jobs
from monitoring.alerts.alertmanager import alert_body
from tests.builders import add_area, add_feeder, add_outage, free_port
from tests.test_alerts_webhook import Receiver

BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


class Alertmanager:
    """A real Alertmanager on 127.0.0.1:``port``, stopped and started at will (same port)."""

    def __init__(self, home: Path, hook: str) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = home / "alertmanager.yml"
        self.config.write_text(
            "route:\n  receiver: gridwatch-test\n  group_by: ['alertname', 'subject_id']\n"
            "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n"
            "receivers:\n  - name: gridwatch-test\n    webhook_configs:\n"
            f"      - url: '{hook}'\n        send_resolved: true\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Alertmanager:
        self.proc = subprocess.Popen(
            [BINARY, f"--config.file={self.config}", f"--storage.path={self.home / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=(self.home / "alertmanager.log").open("ab"))
        _until(lambda: httpx.get(self.url + "/-/ready", timeout=2).status_code == 200, 30,
               "the Alertmanager to start")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self.proc = None

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts the Alertmanager holds as active now."""
        r = httpx.get(self.url + "/api/v2/alerts", timeout=5)
        r.raise_for_status()
        return [a for a in r.json() if a["labels"].get("source") == "gridwatch"]


def _until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    end = time.monotonic() + seconds
    while True:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: Receiver) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path, receiver.url)
    yield am
    am.stop()


@pytest.fixture
def engine(fresh_db: str) -> Iterator[Engine]:
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    yield eng
    eng.dispose()


def _open_outage(engine: Engine, now: datetime) -> None:
    """An area whose outage record has been open for 100 h: the open_outage rule holds."""
    with Session(engine) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        add_outage(s, "O1", "area", "A1", now - timedelta(hours=100), None)
        s.commit()


def _close_outage(engine: Engine, at: datetime) -> None:
    with engine.begin() as c:
        c.execute(text("UPDATE outage_record SET end_time = :e, updated_at = now() "
                       "WHERE outage_id = 'O1'"), {"e": at})


def _record(engine: Engine) -> dict[str, Any]:
    with engine.connect() as c:
        return dict(c.execute(text("SELECT * FROM alert_alertmanager")).mappings().one())


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_an_alert_fires_in_the_alertmanager_is_reposted_while_firing_and_resolves(
    engine: Engine, fresh_settings: Settings, alertmanager: Alertmanager, receiver: Receiver,
) -> None:
    am = alertmanager.start()
    dead = f"http://127.0.0.1:{free_port()}"   # a second Alertmanager that is down: one is enough
    settings = fresh_settings.model_copy(update={
        "alertmanager_url": f"{dead},{am.url}", "alertmanager_resend_seconds": 3600.0})
    now = datetime.now(UTC)
    _open_outage(engine, now)
    result = jobs.run_all(engine=engine, settings=settings, as_of=now)
    assert result["ok"]
    notify = next(s for s in result["steps"] if s["job"] == "notify")["result"]
    assert notify["alertmanager_posted"] == 1 and notify["alertmanager_firing"] == 1

    [alert] = am.alerts()
    assert alert["labels"] == {"alertname": "open_outage", "severity": "warning",
                               "subject_type": "outage", "subject_id": "O1", "asset_type": "area",
                               "asset_id": "A1", "source": "gridwatch"}
    assert alert["annotations"]["summary"].startswith("outage O1 on area A1 has been open")
    assert alert["status"]["state"] == "active"
    assert abs(_ts(alert["startsAt"]) - now) < timedelta(seconds=1)
    # endsAt four resend intervals ahead: it lapses by itself only if gridwatch stops posting.
    assert abs(_ts(alert["endsAt"]) - (now + timedelta(hours=4))) < timedelta(minutes=1)
    assert alert["generatorURL"].startswith("http://127.0.0.1:8000/api/v1/alerts?id=")
    first = _record(engine)
    assert (first["sent_state"], first["status"], first["attempts"]) == ("firing", "ok", 0)
    # The Alertmanager routes it to its receiver, as a utility's would.
    _until(lambda: any(m["status"] == "firing" for m in receiver.messages), 20,
           "the Alertmanager's firing notification")
    assert receiver.messages[0]["alerts"][0]["labels"]["subject_id"] == "O1"

    # Deduplicated: nothing is posted again before the resend interval ...
    again = jobs.notify(engine=engine, settings=settings, now=now + timedelta(minutes=30))
    assert again["result"]["alertmanager_posted"] == 0
    assert _record(engine)["sent_at"] == first["sent_at"]
    # ... and once it has passed, the alert is posted again with a later endsAt.
    later = now + timedelta(hours=1)
    again = jobs.notify(engine=engine, settings=settings, now=later)
    assert again["result"]["alertmanager_posted"] == 1
    [alert] = am.alerts()
    assert abs(_ts(alert["endsAt"]) - (later + timedelta(hours=4))) < timedelta(minutes=1)

    # The outage is closed: the next evaluation resolves the alert, and the delivery step
    # posts it with endsAt = the resolution time; the Alertmanager holds it no longer.
    _close_outage(engine, now - timedelta(minutes=5))
    resolved_at = datetime.now(UTC)
    result = jobs.run_all(engine=engine, settings=settings, as_of=resolved_at)
    notify = next(s for s in result["steps"] if s["job"] == "notify")["result"]
    assert notify["alertmanager_resolved"] == 1
    assert am.alerts() == []
    record = _record(engine)
    assert record["sent_state"] == "resolved"
    assert abs(record["sent_ends_at"] - resolved_at) < timedelta(seconds=1)
    _until(lambda: any(m["status"] == "resolved" for m in receiver.messages), 20,
           "the Alertmanager's resolved notification")
    # A resolution is posted once.
    assert jobs.notify(engine=engine, settings=settings)["result"]["alertmanager_posted"] == 0


def test_alertmanager_down_then_up_gets_the_alert(
    engine: Engine, fresh_settings: Settings, alertmanager: Alertmanager,
) -> None:
    """Nothing listens at the Alertmanager's address while the alert fires: each delivery
    step fails and is recorded, retried with backoff, and the alert arrives once it is up; a
    delivery failure never fails the evaluation."""
    settings = fresh_settings.model_copy(update={
        "alertmanager_url": alertmanager.url, "webhook_retry_seconds": 0.2,
        "webhook_retry_max_seconds": 0.8})
    now = datetime.now(UTC)
    _open_outage(engine, now)
    result = jobs.run_all(engine=engine, settings=settings, as_of=now)
    assert result["ok"]
    record = _record(engine)
    assert (record["sent_state"], record["status"], record["attempts"]) == (None, "retrying", 1)
    assert "ConnectError" in record["error"] and record["next_attempt_at"] > record["last_attempt_at"]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.0:
        jobs.notify(engine=engine, settings=settings)
        time.sleep(0.1)
    record = _record(engine)
    assert record["status"] == "retrying" and record["attempts"] >= 3
    alertmanager.start()

    def delivered() -> bool:
        jobs.notify(engine=engine, settings=settings)
        return _record(engine)["sent_state"] == "firing"

    _until(delivered, 15, "the delivery after the Alertmanager came up")
    record = _record(engine)
    assert (record["status"], record["attempts"], record["error"]) == ("ok", 0, None)
    assert [a["labels"]["subject_id"] for a in alertmanager.alerts()] == ["O1"]


def test_changing_values_are_annotations_so_the_alert_keeps_its_identity(
    fresh_settings: Settings,
) -> None:
    """Labels are an Alertmanager alert's identity: a frequent-outage count that grows while
    the alert fires goes in the annotations, never the labels."""
    now = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)
    alert = {"id": 7, "rule": "frequent_outage", "severity": "critical", "state": "firing",
             "subject_type": "area", "subject_id": "台区-1<b>",
             "labels": {"alertname": "frequent_outage", "count_365": "6", "max_60": "2",
                        "bad-name": "x"},
             "annotations": {"summary": "area 台区-1<b>: frequent outages"},
             "starts_at": now - timedelta(days=1), "ends_at": None}
    body = alert_body(alert, now=now, settings=fresh_settings)
    assert body["labels"] == {"alertname": "frequent_outage", "severity": "critical",
                              "subject_type": "area", "subject_id": "台区-1<b>",
                              "source": "gridwatch"}
    assert body["annotations"]["count_365"] == "6" and body["annotations"]["max_60"] == "2"
    assert "bad-name" not in body["annotations"]
    assert body["startsAt"] == "2026-06-29T04:00:00Z"
    assert body["endsAt"] == "2026-06-30T04:04:00Z"   # 4 x the 60 s resend interval
    resolved = alert_body({**alert, "state": "resolved", "ends_at": now}, now=now + timedelta(hours=1),
                          settings=fresh_settings)
    assert resolved["endsAt"] == "2026-06-30T04:00:00Z"
