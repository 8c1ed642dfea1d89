"""``gridwatch replay`` (SPEC section 12) against a real Mosquitto that each test starts.

A subscriber on ``gridwatch/#`` checks what arrives: every event once, in file order per
meter, on its topic, as JSON arrays with ISO 8601 times that carry their offset.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner, Result

from core import broker
from core.errors import InputError, UsageError
from core.settings import Settings, get_settings
from ingest.stream.publish import detect_kind, parse_speed, replay
from tests.builders import free_port

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def running(base: Path) -> Iterator[Settings]:
    """A broker of the test's own on a free port, destroyed afterwards."""
    s = Settings(data_dir=base / "gw", mqtt_port=free_port())
    broker.start(s)
    yield s
    broker.destroy(s)


@pytest.fixture
def gw(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``gridwatch`` in-process with the given settings' data dir and broker port."""
    from gridwatch.cli import cli as root

    def run(s: Settings, *args: str, url: str | None = None) -> Result:
        monkeypatch.setenv("GRIDWATCH_DATA_DIR", str(s.data_dir))
        monkeypatch.setenv("GRIDWATCH_MQTT_PORT", str(s.mqtt_port))
        if url is None:
            monkeypatch.delenv("GRIDWATCH_MQTT_URL", raising=False)
        else:
            monkeypatch.setenv("GRIDWATCH_MQTT_URL", url)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(root, list(args), catch_exceptions=False)
        finally:
            get_settings.cache_clear()

    return run


class Inbox:
    """A subscriber on ``gridwatch/#`` at QoS 1 that keeps (topic, payload, arrival)."""

    def __init__(self, s: Settings, topic: str = "gridwatch/#", client_id: str = "") -> None:
        self.got: list[tuple[str, bytes, float]] = []
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=not client_id)
        self.client.reconnect_delay_set(0.2, 1)
        broker.connection(s).apply(self.client)
        self.client.on_message = lambda c, u, m: self.got.append(
            (m.topic, m.payload, time.monotonic()))
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.connect(broker.HOST, s.mqtt_port)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        assert ready.wait(10), "no SUBACK"

    def events(self, count: int, timeout: float = 20.0) -> list[tuple[str, dict[str, Any]]]:
        """(topic, event) pairs in arrival order, once ``count`` events have come."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(len(json.loads(p)) for _, p, _ in self.got) >= count:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # nothing more may come
        out: list[tuple[str, dict[str, Any]]] = []
        for topic, payload, _ in self.got:
            batch = json.loads(payload)
            assert isinstance(batch, list) and batch, payload
            assert all(isinstance(e, dict) for e in batch)
            out.extend((topic, e) for e in batch)
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _one_line(res: Result) -> str:
    assert "Traceback" not in res.output, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    return lines[0]


def test_every_event_arrives_once_in_order_per_meter_on_its_topic(
    running: Settings, gw, base: Path  # type: ignore[no-untyped-def]
) -> None:
    rows, expected = [], []
    for i in range(240):
        meter, area = f"M{i % 30:03d}", f"A{i % 30 // 10}"
        when = T0 + timedelta(seconds=i // 30, milliseconds=(i % 30) * 20)
        kind = "off" if (i // 30) % 2 == 0 else "on"
        rows.append(f"{meter},{area},{when.isoformat()},{kind},x")
        expected.append((f"gridwatch/meter-events/{area}",
                         {"meter_id": meter, "time": when.isoformat(), "kind": kind}))
    # No area: the file's name is the topic level. A time without an offset is local
    # (Asia/Shanghai) and gets its offset; a time that is not one, an odd id and a topic
    # level with MQTT wildcards go as they are (the consumer validates; the topic is cleaned).
    rows += ["M900,,2026-11-01 16:00:09,off,", "M901,A/#+9,not-a-time,on,",
             "M902,A0,2026-11-01T16:00:10+08:00,sideways,"]
    expected += [
        ("gridwatch/meter-events/storm-1", {"meter_id": "M900", "time": "2026-11-01T16:00:09+08:00",
                                            "kind": "off"}),
        ("gridwatch/meter-events/A___9", {"meter_id": "M901", "time": "not-a-time", "kind": "on"}),
        ("gridwatch/meter-events/A0", {"meter_id": "M902", "time": "2026-11-01T16:00:10+08:00",
                                       "kind": "sideways"}),
    ]
    path = _csv(base / "storm-1.csv", "meter_id,area_id,time,kind,note", rows)
    inbox = Inbox(running)
    try:
        res = gw(running, "replay", str(path), "--speed", "5", "--batch-ms", "50")
        assert res.exit_code == 0, res.output
        got = inbox.events(len(expected))
    finally:
        inbox.close()
    summary = _one_line(res)
    assert f"{len(expected)} events in" in summary and "events/s" in summary
    # Exactly once: the same multiset of (topic, event).
    key = lambda te: (te[0], json.dumps(te[1], sort_keys=True))  # noqa: E731
    assert Counter(map(key, got)) == Counter(map(key, expected))
    # In order per meter, and far fewer messages than events (arrays per topic and window).
    per_meter: dict[str, list[str]] = defaultdict(list)
    want: dict[str, list[str]] = defaultdict(list)
    for (_, e), (_, w) in zip(got, expected, strict=True):
        per_meter[e["meter_id"]].append(e["time"])
        want[w["meter_id"]].append(w["time"])
    assert per_meter == want
    assert len(inbox.got) < len(expected) / 3
    assert all(datetime.fromisoformat(e["time"]).tzinfo is not None
               for _, e in got if e["time"] != "not-a-time")


def test_outages_jsonl_kind_topics_and_nulls(running: Settings, gw, base: Path) -> None:  # type: ignore[no-untyped-def]
    path = base / "records.jsonl"
    lines = [
        {"outage_id": "O1", "asset_type": "area", "asset_id": "A1", "start_time": "2026-11-01T08:00:00Z",
         "end_time": None, "cause": "fault", "extra": 1},
        {"outage_id": "O1", "asset_type": "area", "asset_id": "A1", "start_time": "2026-11-01T08:00:00Z",
         "end_time": "2026-11-01T08:00:01Z", "cause": "fault"},
        {"outage_id": "O2", "asset_type": "feeder", "asset_id": "F1", "start_time": "2026-11-01T08:00:01Z",
         "cause": "weather", "work_id": "W1"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n[1]\n", encoding="utf-8")
    inbox = Inbox(running)
    try:
        res = gw(running, "replay", str(path), "--speed", "max", "--format", "json")
        assert res.exit_code == 0, res.output
        got = inbox.events(3)
    finally:
        inbox.close()
    summary = json.loads(res.output)
    assert (summary["kind"], summary["events"], summary["skipped_lines"]) == ("outages", 3, 2)
    assert [t for t, _ in got] == ["gridwatch/outages/area/A1"] * 2 + ["gridwatch/outages/feeder/F1"]
    assert got[0][1] == {"outage_id": "O1", "asset_type": "area", "asset_id": "A1",
                         "start_time": "2026-11-01T08:00:00Z", "end_time": None, "cause": "fault"}
    assert got[2][1]["work_id"] == "W1"


def test_speed_2_replays_a_2_second_file_in_about_1_second(running: Settings, base: Path) -> None:
    rows = [f"M{i},{(T0 + timedelta(milliseconds=100 * i)).isoformat()},off" for i in range(21)]
    path = _csv(base / "paced.csv", "meter_id,time,kind", rows)
    inbox = Inbox(running)
    try:
        began = time.monotonic()
        result = replay(conn=broker.connection(running), path=path, speed=2.0, batch_ms=20)
        took = time.monotonic() - began
        got = inbox.events(21)
    finally:
        inbox.close()
    assert result.events == 21 and len(got) == 21
    assert result.span_seconds == pytest.approx(2.0)
    assert 0.85 <= result.seconds <= 1.8 and took <= 2.5, (result.seconds, took)
    arrivals = [at for _, _, at in inbox.got]
    assert arrivals[-1] - arrivals[0] >= 0.8  # spread out, not sent at once
    assert result.messages >= 10  # 20 ms windows: about one message per event


def test_speed_max_publishes_at_least_20000_events_per_second(running: Settings, base: Path) -> None:
    """The storm benchmark publishes 20,000 events/s for a minute: replay must outrun that."""
    path = base / "big.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("meter_id,area_id,time,kind\n")
        for i in range(100_000):
            area = i % 200
            when = T0 + timedelta(seconds=i // 1000)
            fh.write(f"M{area:03d}{i // 200 % 50:02d},A{area:03d},{when.isoformat()},off\n")
    result = replay(conn=broker.connection(running), path=path, speed=None)
    assert result.events == 100_000
    assert result.span_seconds == pytest.approx(99.0)
    assert result.messages < 2_000  # arrays, not one message per event
    assert result.rate >= 20_000, f"{result.rate:.0f} events/s"


def test_a_broker_that_is_down_is_one_line_and_exit_1(running: Settings, gw, base: Path) -> None:  # type: ignore[no-untyped-def]
    path = _csv(base / "e.csv", "meter_id,time,kind", ["M1,2026-11-01T08:00:00Z,off"])
    broker.stop(running)
    res = gw(running, "replay", str(path))
    assert res.exit_code == 1
    line = _one_line(res)
    assert line.startswith("gridwatch: broker unreachable at mqtt://gridwatch:***@127.0.0.1:")
    assert "connection refused" in line and "gridwatch broker start" in line
    # Another broker that is not there: the same, and its password is not shown.
    res = gw(running, "replay", str(path), url=f"mqtt://edge:hush@127.0.0.1:{free_port()}")
    assert res.exit_code == 1 and "connection refused" in _one_line(res)
    assert "hush" not in res.output


def test_a_broker_restarted_mid_replay_loses_nothing(running: Settings, base: Path) -> None:
    """Unacknowledged messages are sent again after the reconnect (QoS 1: at least once)."""
    rows = [f"M{i % 40},A{i % 4},{(T0 + timedelta(milliseconds=5 * i)).isoformat()},off"
            for i in range(600)]
    path = _csv(base / "restart.csv", "meter_id,area_id,time,kind", rows)
    inbox = Inbox(running, client_id="replay-test-persistent")  # its queue survives the restart
    done: list[Any] = []
    worker = threading.Thread(target=lambda: done.append(
        replay(conn=broker.connection(running), path=path, speed=1.0, batch_ms=20)))
    try:
        worker.start()
        time.sleep(1.0)
        broker.stop(running)
        time.sleep(0.5)
        broker.start(running)
        worker.join(60)
        assert done and done[0].events == 600
        got = inbox.events(600)
    finally:
        inbox.close()
    times = Counter(e["time"] for _, e in got)
    assert set(times) == {(T0 + timedelta(milliseconds=5 * i)).isoformat() for i in range(600)}


def test_a_broker_that_goes_away_for_good_is_one_line_and_exit_1(
    running: Settings, gw, base: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    from ingest.stream import publish

    monkeypatch.setattr(publish, "STALL_SECONDS", 2.0)
    rows = [f"M{i},{(T0 + timedelta(milliseconds=10 * i)).isoformat()},off" for i in range(400)]
    path = _csv(base / "gone.csv", "meter_id,time,kind", rows)
    threading.Timer(1.0, broker.stop, args=(running,)).start()
    res = gw(running, "replay", str(path), "--speed", "1", "--batch-ms", "10")
    assert res.exit_code == 1
    assert "stopped acknowledging" in _one_line(res)


def test_a_wrong_password_is_one_line_and_exit_1(running: Settings, gw, base: Path) -> None:  # type: ignore[no-untyped-def]
    path = _csv(base / "e.csv", "meter_id,time,kind", ["M1,2026-11-01T08:00:00Z,off"])
    for url in (f"mqtt://gridwatch:wrong-pass@127.0.0.1:{running.mqtt_port}",
                f"mqtt://intruder:x@127.0.0.1:{running.mqtt_port}",
                f"mqtt://127.0.0.1:{running.mqtt_port}"):
        res = gw(running, "replay", str(path), url=url)
        assert res.exit_code == 1, res.output
        line = _one_line(res)
        assert "did not accept the login" in line and "refused" in line, line
        assert "wrong-pass" not in line


def test_bad_arguments_and_files_are_one_line(running: Settings, gw, base: Path) -> None:  # type: ignore[no-untyped-def]
    good = _csv(base / "e.csv", "meter_id,time,kind", ["M1,2026-11-01T08:00:00Z,off"])
    res = gw(running, "replay", str(base / "missing.csv"))
    assert res.exit_code == 1 and "no such file" in _one_line(res)
    odd = _csv(base / "odd.csv", "a,b", ["1,2"])
    res = gw(running, "replay", str(odd))
    assert res.exit_code == 1 and "use --kind" in _one_line(res)
    for args in (["--speed", "-1"], ["--speed", "fast"], ["--topic-prefix", "gw/#"],
                 ["--topic-prefix", "$SYS"], ["--batch-ms", "0"]):
        res = gw(running, "replay", str(good), *args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output
    with pytest.raises(InputError):
        detect_kind({"x"})
    assert detect_kind({"outage_id", "work_id"}) == "outages"
    assert parse_speed("max") is None and parse_speed("0") is None and parse_speed("2.5") == 2.5
    with pytest.raises(UsageError):
        parse_speed("nan")


def test_the_demo_storm_file_replays_shifted_to_now(running: Settings, gw, base: Path) -> None:  # type: ignore[no-untyped-def]
    from spatial.demo import generate

    out = base / "demo"
    manifest = generate(out_dir=out, scale="county", seed=11,
                        anchor=datetime.fromisoformat("2026-11-01T00:00:00+08:00"))
    storm = Path(manifest["files"]["storm"])
    assert storm == out / "storm.jsonl" and storm.exists()
    events = [json.loads(line) for line in storm.read_text(encoding="utf-8").splitlines()]
    assert manifest["counts"]["storm_events"] == len(events)
    times = [datetime.fromisoformat(e["time"]) for e in events]
    assert times == sorted(times)
    span = (times[-1] - times[0]).total_seconds()
    assert 180 <= span <= 480  # minutes, not hours: at --speed 10 about 20-50 s
    off = {e["area_id"] for e in events if e["kind"] == "off"}
    back = {e["area_id"] for e in events if e["kind"] == "on"}
    assert 20 <= len(off) <= 50 and back <= off and len(back) == len(off) // 2
    # Every meter of the hit areas goes off, within seconds of the storm's start.
    meters = [line.split(",") for line in (out / "meters.csv").read_text().splitlines()[1:]]
    in_hit = {m[0] for m in meters if m[1] in off}
    offs = [e for e in events if e["kind"] == "off"]
    assert {e["meter_id"] for e in offs} == in_hit and len(offs) == len(in_hit)
    assert max(datetime.fromisoformat(e["time"]) for e in offs) - times[0] <= timedelta(seconds=30)

    inbox = Inbox(running)
    try:
        before = datetime.now(UTC)
        res = gw(running, "replay", str(storm), "--now", "--speed", "max")
        assert res.exit_code == 0, res.output
        got = inbox.events(len(events))
    finally:
        inbox.close()
    assert "times moved by" in _one_line(res)
    assert len(got) == len(events)
    assert {t for t, _ in got} == {f"gridwatch/meter-events/{a}" for a in off}
    sent = sorted(datetime.fromisoformat(e["time"]) for _, e in got)
    assert abs((sent[0] - before).total_seconds()) <= 5  # the first event happens now
    assert sent[-1] - sent[0] == times[-1] - times[0]  # the same pace, moved as a whole
    assert sent[-1] <= datetime.now(UTC) + timedelta(minutes=10)  # never rejected as future
