"""The MQTT consumer (SPEC section 12) against a real Mosquitto and the real database.

Each test starts a broker of its own on a free port. Publishers are real paho-mqtt clients
that wait for every PUBACK, so "published" means "the broker has it".
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core import broker
from core.settings import Settings
from ingest.stream.consumer import Consumer
from tests.builders import add_area, add_feeder, add_meters, free_port

GRIDWATCH = str(Path(sys.executable).with_name("gridwatch"))


@pytest.fixture
def conf(base: Path, fresh_db: str) -> Iterator[Settings]:
    """A fresh database with a small grid, and a running broker of the test's own."""
    s = Settings(database_url=fresh_db, data_dir=base / "gw", mqtt_port=free_port(),
                 stream_batch_seconds=0.3, stream_client_id=f"gw-test-{uuid.uuid4().hex[:8]}")
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(bind=eng) as session:
        for f in range(2):
            add_feeder(session, f"F{f}", lon=106.7 + f * 0.1)
        for a in range(6):
            add_area(session, f"A{a}", f"F{a % 2}", customers=50, lon=106.7 + a * 0.02)
            add_meters(session, f"A{a}", 4)
        session.commit()
    eng.dispose()
    broker.start(s)
    yield s
    broker.destroy(s)


@pytest.fixture
def engine(conf: Settings) -> Iterator[Engine]:
    eng = create_engine(conf.sqlalchemy_url(), poolclass=pool.NullPool)
    yield eng
    eng.dispose()


@pytest.fixture
def subscribed(conf: Settings, engine: Engine) -> Settings:
    """The consumer's persistent session exists (as after its first start), then it stops."""
    consumer = Consumer(settings=conf, engine=engine)
    consumer.connect()
    consumer.close()
    return conf


class Publisher:
    """A QoS 1 publisher that returns only once the broker has acknowledged each message."""

    def __init__(self, settings: Settings) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"pub-{uuid.uuid4().hex[:8]}")
        broker.connection(settings).apply(self.client)
        self.client.max_inflight_messages_set(1000)
        conn = broker.connection(settings)
        self.client.connect(conn.host, conn.port)
        self.client.loop_start()

    def send(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(topic, data, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _events(meters: list[str], start: datetime, minutes: int) -> list[dict[str, str]]:
    """Every meter off at ``start`` (seconds apart) and on again ``minutes`` later."""
    out = []
    for i, m in enumerate(meters):
        out.append({"meter_id": m, "time": (start + timedelta(seconds=i)).isoformat(), "kind": "off"})
        out.append({"meter_id": m, "time": (start + timedelta(minutes=minutes, seconds=i)).isoformat(),
                    "kind": "on"})
    return out


def _meters(area: str) -> list[str]:
    return [f"{area}-m{i}" for i in range(4)]


def _consume(conf: Settings, engine: Engine, *, follow: bool = True, client_name: str | None = None,
             ) -> Any:
    from gridwatch.commands.stream import follower

    consumer = Consumer(settings=conf, engine=engine,
                        after_commit=follower(engine, conf) if follow else None,
                        client_name=client_name)
    consumer.connect()
    try:
        return consumer.run(threading.Event(), once=True)
    finally:
        consumer.close()


@contextmanager
def running(conf: Settings, engine: Engine, client_name: str | None = None) -> Iterator[Consumer]:
    """A consumer connected and consuming in a thread; stopped and disconnected after."""
    stop = threading.Event()
    consumer = Consumer(settings=conf, engine=engine, client_name=client_name)
    consumer.connect()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        stop.set()
        thread.join(10)
        consumer.close()


def _snapshot(engine: Engine) -> dict[str, Any]:
    with engine.connect() as c:
        return {
            "events": c.execute(text("SELECT count(*) FROM meter_event")).scalar_one(),
            "interruptions": c.execute(text(
                "SELECT area_id, start_time, end_time, meters_off, meters_total "
                "FROM inferred_interruption ORDER BY 1, 2")).all(),
            "status": c.execute(text(
                "SELECT asset_type, asset_id, count_365, max_60, status FROM asset_status "
                "ORDER BY 1, 2")).all(),
            "meter_last": c.execute(text(
                "SELECT meter_id, time, kind FROM meter_last ORDER BY 1")).all(),
            "live": c.execute(text(
                "SELECT area_id, since, cause, customers, source FROM live_outage ORDER BY 1")).all(),
            "alerts": c.execute(text(
                "SELECT fingerprint, rule, subject_id, state, starts_at FROM alert "
                "WHERE state = 'firing' ORDER BY 1")).all(),
        }


def _full_evaluation(conf: Settings, engine: Engine) -> None:
    """Everything rebuilt from the stored events, at the as-of the stream last evaluated."""
    from monitoring.alerts.evaluate import evaluate_alerts
    from monitoring.interruptions import refresh
    from monitoring.live import refresh_live
    from monitoring.rules.status import refresh_status

    with Session(bind=engine) as s:
        as_of = s.execute(text(
            "SELECT as_of FROM monitor_state WHERE name = 'frequent_outage'")).scalar_one()
        refresh(session=s, settings=conf, full=True)
        s.execute(text("DELETE FROM live_outage"))
        refresh_live(session=s, now=as_of)
        refresh_status(session=s, settings=conf, as_of=as_of, full=True)
        evaluate_alerts(session=s, settings=conf, as_of=as_of, now=as_of)
        s.commit()


def test_published_events_are_committed_and_every_derived_result_equals_a_full_evaluation(
    subscribed: Settings, engine: Engine
) -> None:
    conf = subscribed
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    pub = Publisher(conf)
    sent = 0
    try:
        # Random storms over the last 200 days: areas A0 and A1 often enough to be frequent.
        episodes = [(f"A{rng.choice([0, 0, 1, 1, 2, 3, 4, 5])}",
                     now - timedelta(days=rng.uniform(1, 200)), rng.randint(5, 180))
                    for _ in range(24)]
        events = [e for area, start, minutes in episodes for e in _events(_meters(area), start, minutes)]
        # ... and A5 is out now: its meters went off half an hour ago and are not back.
        events += [e for e in _events(_meters("A5"), now - timedelta(minutes=30), 60)
                   if e["kind"] == "off"]
        rng.shuffle(events)  # late and out of order, as head-ends deliver
        while events:
            n = rng.randint(1, 25)
            chunk, events = events[:n], events[n:]
            pub.send(f"gridwatch/meter-events/{chunk[0]['meter_id'][:2]}",
                     chunk if n > 1 or rng.random() < 0.5 else chunk[0])
            sent += len(chunk)
    finally:
        pub.close()
    stats = _consume(conf.model_copy(update={"stream_batch_rows": 37}), engine)
    assert stats.accepted == sent and stats.rejected == 0
    assert stats.batches > 1
    streamed = _snapshot(engine)
    assert streamed["events"] == sent
    assert any(row[4] == "frequent" for row in streamed["status"])
    assert any(row[1] == "frequent_outage" for row in streamed["alerts"])
    assert [row[0] for row in streamed["live"]] == ["A5"]
    _full_evaluation(conf, engine)
    assert _snapshot(engine) == streamed


def test_junk_is_rejected_and_recorded_and_the_consumer_goes_on(
    subscribed: Settings, engine: Engine, cli: Any
) -> None:
    conf = subscribed
    now = datetime.now(UTC)
    pub = Publisher(conf)
    try:
        pub.send("gridwatch/meter-events/x", b"\xff\xfenot json at all")
        pub.send("gridwatch/meter-events/x", [
            {"meter_id": "A0-m0", "time": (now - timedelta(hours=1)).isoformat(), "kind": "off"},
            {"meter_id": "nobody", "time": now.isoformat(), "kind": "off"},
            {"meter_id": "A0-m1", "time": "yesterday", "kind": "off"},
            "not an object",
        ])
        pub.send("gridwatch/meter-events/x", b"[" * 100_000)
        pub.send("gridwatch/meter-events/x", b"42")
        pub.send("gridwatch/outages/x", {"outage_id": "O1", "asset_type": "area"})
        pub.send("gridwatch/meter-events/x", [
            {"meter_id": "A0-m2", "time": (now - timedelta(hours=1)).isoformat(),
             "code": "3.26.0.85"},
            {"meter_id": "A0-m3", "time": (now - timedelta(hours=1)).isoformat(),
             "code": "3.26.0.999"},
        ])
    finally:
        pub.close()
    stats = _consume(conf, engine, follow=False)
    assert (stats.accepted, stats.rejected) == (2, 8)
    with engine.connect() as c:
        stored = c.execute(text("SELECT meter_id, kind FROM meter_event ORDER BY 1")).all()
        assert stored == [("A0-m0", "off"), ("A0-m2", "off")]
        batches = c.execute(text(
            "SELECT batch_id, kind, source FROM ingest_batch ORDER BY batch_id")).all()
        assert {b.source for b in batches} == {"mqtt"}
        rejects = c.execute(text(
            "SELECT topic, message, item, field, reason FROM ingest_reject ORDER BY message, item"
        )).all()
    assert len(rejects) == 8
    assert all(r.topic.startswith("gridwatch/") for r in rejects)
    by_place = {(r.message, r.item): r for r in rejects}
    assert "not JSON" in by_place[(1, 0)].reason
    assert "unknown meter" in by_place[(2, 2)].reason or "nobody" in by_place[(2, 2)].reason
    assert by_place[(2, 3)].field == "time"
    assert "object" in by_place[(2, 4)].reason
    assert "not JSON" in by_place[(3, 0)].reason
    assert "object" in by_place[(4, 0)].reason
    assert by_place[(5, 1)].topic == "gridwatch/outages/x"
    assert "3.26.0.999" in by_place[(6, 2)].reason
    # The rejects are listed by the CLI with where they came from.
    batch = next(b.batch_id for b in batches if b.kind == "meter-events")
    out = cli("ingest", "rejects", str(batch), "--format", "json")
    assert out.exit_code == 0
    listed = json.loads(out.output)
    assert {"topic", "message", "item"} <= set(listed[0])


def _env(conf: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GRIDWATCH_DATABASE_URL=conf.sqlalchemy_url(),
               GRIDWATCH_DATA_DIR=str(conf.data_dir), GRIDWATCH_MQTT_PORT=str(conf.mqtt_port),
               GRIDWATCH_STREAM_CLIENT_ID=str(conf.stream_client_id),
               GRIDWATCH_STREAM_BATCH_SECONDS="0.2", GRIDWATCH_STREAM_BATCH_ROWS="500")
    return env


def _storm(n_messages: int, per_message: int) -> list[list[dict[str, str]]]:
    """Distinct events for the six areas' meters, as n messages of ``per_message`` each."""
    now = datetime.now(UTC).replace(microsecond=0)
    meters = [m for a in range(6) for m in _meters(f"A{a}")]
    events = [{"meter_id": meters[i % len(meters)],
               "time": (now - timedelta(days=100) + timedelta(seconds=i)).isoformat(),
               "kind": "off" if (i // len(meters)) % 2 == 0 else "on"}
              for i in range(n_messages * per_message)]
    return [events[i:i + per_message] for i in range(0, len(events), per_message)]


def _count(engine: Engine) -> tuple[int, int]:
    with engine.connect() as c:
        events = c.execute(text("SELECT count(*) FROM meter_event")).scalar_one()
        accounted = c.execute(text(
            "SELECT coalesce(sum(accepted + duplicates), 0) FROM ingest_batch")).scalar_one()
    return int(events), int(accounted)


def test_a_consumer_killed_mid_stream_loses_nothing_and_stores_nothing_twice(
    subscribed: Settings, engine: Engine
) -> None:
    conf = subscribed
    messages = _storm(300, 50)
    pub = Publisher(conf)
    try:
        for m in messages:
            pub.send("gridwatch/meter-events/storm", m)
    finally:
        pub.close()
    proc = subprocess.Popen([GRIDWATCH, "stream"], env=_env(conf), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while _count(engine)[0] < 3000:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the consumer stored nothing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    stored_before = _count(engine)[0]
    assert 0 < stored_before < 15_000
    again = subprocess.run([GRIDWATCH, "stream", "--once", "--format", "json"], env=_env(conf),
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    events, accounted = _count(engine)
    assert events == 15_000
    # Every event counted once as accepted, plus any redelivered ones as duplicates.
    assert accounted >= 15_000


def _restart_broker(conf: Settings) -> None:
    """What an operator does: ``gridwatch broker stop`` and ``gridwatch broker start``."""
    env = _env(conf)
    for verb in ("stop", "start"):
        done = subprocess.run([GRIDWATCH, "broker", verb], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr


def test_a_broker_restart_mid_stream_loses_nothing_acknowledged(
    conf: Settings, engine: Engine
) -> None:
    messages = _storm(80, 25)
    with running(conf, engine):
        pub = Publisher(conf)
        for m in messages[:40]:
            pub.send("gridwatch/meter-events/storm", m)
        pub.close()
        _restart_broker(conf)
        pub = Publisher(conf)
        for m in messages[40:]:
            pub.send("gridwatch/meter-events/storm", m)
        pub.close()
        deadline = time.monotonic() + 60
        while _count(engine)[0] < 2000 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert _count(engine)[0] == 2000


def test_two_consumers_on_the_shared_subscription_store_everything_once(
    conf: Settings, engine: Engine
) -> None:
    stop = threading.Event()
    consumers = [Consumer(settings=conf, engine=engine, client_name=f"{conf.stream_client_id}-{i}")
                 for i in range(2)]
    threads = []
    for c in consumers:
        c.connect()
        t = threading.Thread(target=c.run, args=(stop,), daemon=True)
        t.start()
        threads.append(t)
    try:
        pub = Publisher(conf)
        for m in _storm(200, 10):
            pub.send("gridwatch/meter-events/storm", m)
        pub.close()
        deadline = time.monotonic() + 60
        while _count(engine)[0] < 2000 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        for c in consumers:
            c.close()
    events, accounted = _count(engine)
    assert events == 2000
    assert accounted == 2000  # no message reached both consumers
    assert all(c.stats.messages > 0 for c in consumers)
    assert sum(c.stats.messages for c in consumers) == 200


def test_serve_consumes_the_stream_unless_told_not_to(subscribed: Settings, engine: Engine) -> None:
    import httpx

    port = free_port()
    env = _env(subscribed)
    proc = subprocess.Popen([GRIDWATCH, "serve", "--port", str(port), "--no-scheduler",
                             "--no-access-log"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        pub = Publisher(subscribed)
        for m in _storm(10, 10):
            pub.send("gridwatch/meter-events/s", m)
        pub.close()
        while _count(engine)[0] < 100:
            assert time.monotonic() < deadline + 30, "serve did not consume the stream"
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(15)
    quiet = subprocess.Popen([GRIDWATCH, "serve", "--port", str(port), "--no-scheduler",
                              "--no-stream", "--no-access-log"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        pub = Publisher(subscribed)
        pub.send("gridwatch/meter-events/s", _storm(12, 10)[11])
        pub.close()
        time.sleep(2)
        assert _count(engine)[0] == 100
    finally:
        quiet.terminate()
        quiet.wait(15)


def test_a_message_that_cannot_be_stored_is_rejected_whole_and_the_rest_land(
    subscribed: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the ingest path fails on one message (as a bug would), every time."""
    import ingest.stream.consumer as consumer_module

    real = consumer_module.ingest_rows

    def failing(**kwargs: Any) -> Any:
        rows = kwargs["rows"]
        if any(r.get("event_id") == "poison" for _, r in rows):
            raise ValueError("simulated failure in the ingest path")
        return real(**kwargs)

    monkeypatch.setattr(consumer_module, "ingest_rows", failing)
    now = datetime.now(UTC)
    pub = Publisher(subscribed)
    try:
        for i in range(3):
            pub.send("gridwatch/meter-events/x", [{
                "meter_id": f"A1-m{i}", "time": (now - timedelta(hours=2)).isoformat(),
                "kind": "off", "event_id": "poison" if i == 1 else f"e{i}"}])
    finally:
        pub.close()
    stats = _consume(subscribed, engine, follow=False)
    assert (stats.accepted, stats.rejected) == (2, 1)
    with engine.connect() as c:
        stored = c.execute(text("SELECT meter_id FROM meter_event ORDER BY 1")).scalars().all()
        reject = c.execute(text("SELECT message, item, reason FROM ingest_reject")).one()
    assert stored == ["A1-m0", "A1-m2"]
    assert reject.item == 0 and "simulated failure" in reject.reason
    # Nothing is left for the broker to deliver again: the consumer is not stuck on it.
    again = _consume(subscribed, engine, follow=False)
    assert again.messages == 0


def test_a_meter_registered_while_the_consumer_runs_is_known_to_the_next_batch(
    conf: Settings, engine: Engine
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)

    def send_and_wait(event: dict[str, str], batches: int) -> None:
        pub = Publisher(conf)
        pub.send("gridwatch/meter-events/x", [event])
        pub.close()
        deadline = time.monotonic() + 30
        while consumer.stats.batches < batches:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    with running(conf, engine) as consumer:
        send_and_wait({"meter_id": "A0-m0", "time": (now - timedelta(hours=3)).isoformat(),
                       "kind": "off"}, 1)            # fills the consumer's meter cache
        send_and_wait({"meter_id": "NEW-1", "time": (now - timedelta(hours=2)).isoformat(),
                       "kind": "off"}, 2)            # not registered yet: rejected
        with Session(bind=engine) as s:
            add_meters(s, "A1", 1, prefix="NEW")     # registered now (NEW-m0)
            s.execute(text("UPDATE meter SET meter_id = 'NEW-1' WHERE meter_id = 'NEW-m0'"))
            s.execute(text("UPDATE meter SET area_id = 'A2' WHERE meter_id = 'A0-m0'"))
            s.commit()
        send_and_wait({"meter_id": "NEW-1", "time": (now - timedelta(hours=1)).isoformat(),
                       "kind": "off"}, 3)
        send_and_wait({"meter_id": "A0-m0", "time": (now - timedelta(minutes=30)).isoformat(),
                       "kind": "on"}, 4)
    assert (consumer.stats.accepted, consumer.stats.rejected) == (3, 1)
    with engine.connect() as c:
        changed = c.execute(text(
            "SELECT asset_id FROM ingest_change c JOIN ingest_batch b USING (batch_id) "
            "WHERE b.source = 'mqtt' ORDER BY change_id")).scalars().all()
    # The moved meter's last event is logged against its new area, not the cached old one.
    assert changed == ["A0", "A1", "A2"]
