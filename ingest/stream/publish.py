"""Replay a stream file to the MQTT broker at N times its recorded pace (``gridwatch replay``).

A stream file is a meter-events, outages or works input (CSV or JSON Lines, SPEC section 2).
Its events are published in file order, each when its time comes: the gap between two events'
times is slept divided by the speed (speed ``None``: as fast as possible; an event dated
earlier than the one before it goes at once). Events due within the same ``batch_ms`` window
are sent together, one JSON array per topic, at QoS 1, and the replay ends only when the broker
has acknowledged every message (PUBACK).

Nothing is validated: ids and text are published as they are, and the consumer decides. Only
the times are touched: a time without an offset (local time, Asia/Shanghai) gets its offset
written out, and ``shift_to_now`` moves every time by the same amount so that the first event
of the file happens now. docs/streams.md ("Replay") describes the topics and payloads.
"""

from __future__ import annotations

import csv
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.broker import Connection
from core.clock import LOCAL_TZ
from core.errors import BrokerError, InputError, UsageError

log = logging.getLogger(__name__)

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "meter-events": ("meter_id", "time", "kind", "code", "event_id"),
    "outages": ("outage_id", "asset_type", "asset_id", "start_time", "end_time", "cause",
                "work_id"),
    "works": ("work_id", "asset_type", "asset_id", "planned_start", "planned_end", "method"),
}
"""The fields published per kind (SPEC sections 2 and 12); other columns are not sent."""
TIME_FIELDS: dict[str, tuple[str, ...]] = {
    "meter-events": ("time",),
    "outages": ("start_time", "end_time"),
    "works": ("planned_start", "planned_end"),
}
PACE_FIELDS: dict[str, tuple[str, ...]] = {
    "meter-events": ("time",),
    "outages": ("start_time", "end_time"),  # the latest: a record is news when it starts or ends
    "works": ("planned_start",),
}
TOPIC_FIELDS: dict[str, tuple[str, ...]] = {
    "meter-events": ("area_id",),  # else the file's name: one head-end publishing its meters
    "outages": ("asset_type", "asset_id"),  # all of them, one level each
    "works": ("asset_type", "asset_id"),
}

MAX_EVENTS_PER_MESSAGE = 1_000
"""A topic's events of one window are split into arrays of at most this many."""
MAX_WINDOW_EVENTS = 20_000
"""A window is sent once it holds this many events, whatever its length (bounds memory)."""
MAX_UNACKED_MESSAGES = 2_000
"""Publishing waits while this many messages await their PUBACK (bounds memory)."""
CONNECT_TIMEOUT_SECONDS = 10.0
STALL_SECONDS = 30.0
"""The replay fails when no PUBACK arrives for this long while messages await one."""
_TOPIC_LEVEL_MAX = 128


@dataclass
class ReplayResult:
    """What a replay sent."""

    path: str
    kind: str
    events: int = 0
    messages: int = 0
    seconds: float = 0.0
    span_seconds: float = 0.0  # from the first to the last event time of the file
    skipped: int = 0  # JSON Lines lines that are not a JSON object
    shifted_by: float | None = None  # seconds added to every time (shift_to_now)
    topics: set[str] = field(default_factory=set)

    @property
    def rate(self) -> float:
        """Events per second achieved."""
        return self.events / self.seconds if self.seconds > 0 else float(self.events)

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-able values."""
        return {"file": self.path, "kind": self.kind, "events": self.events,
                "messages": self.messages, "topics": len(self.topics),
                "seconds": round(self.seconds, 3), "events_per_second": round(self.rate, 1),
                "span_seconds": round(self.span_seconds, 3), "skipped_lines": self.skipped,
                "shifted_by_seconds": self.shifted_by}


# --- reading --------------------------------------------------------------------------------

def detect_kind(columns: set[str]) -> str:
    """The stream kind a set of column names belongs to (SPEC section 2)."""
    if "outage_id" in columns:
        return "outages"
    if "meter_id" in columns and "time" in columns:
        return "meter-events"
    if "work_id" in columns and "planned_start" in columns:
        return "works"
    raise InputError("cannot tell the kind of stream from its columns "
                     f"({', '.join(sorted(columns)) or 'none'}); use --kind")


def _rows_csv(path: Path) -> tuple[list[str], Iterator[dict[str, Any]]]:
    stream = path.open("r", encoding="utf-8-sig", newline="")
    reader = csv.reader(stream)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        stream.close()
        return [], iter(())
    except (UnicodeDecodeError, csv.Error) as exc:
        stream.close()
        raise InputError(f"{path}: cannot read the header: {exc}") from None

    def gen() -> Iterator[dict[str, Any]]:
        line = 1
        with stream:
            try:
                for values in reader:
                    line = reader.line_num
                    if not values or all(not v.strip() for v in values):
                        continue
                    row: dict[str, Any] = {}
                    for name, value in zip(header, values, strict=False):
                        value = value.strip()
                        row[name] = value if value else None
                    yield row
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}: line {line + 1} is not UTF-8 ({exc.reason})") from None
            except csv.Error as exc:
                raise InputError(f"{path}: line {line + 1}: {exc}") from None

    return header, gen()


def _rows_jsonl(path: Path, result: ReplayResult) -> tuple[list[str], Iterator[dict[str, Any]]]:
    stream = path.open("r", encoding="utf-8-sig")

    def objects() -> Iterator[dict[str, Any]]:
        with stream:
            line = 0
            try:
                for raw in stream:
                    line += 1
                    if not raw.strip():
                        continue
                    try:
                        obj = json.loads(raw)
                    except (json.JSONDecodeError, RecursionError):
                        obj = None
                    if not isinstance(obj, dict):
                        result.skipped += 1
                        continue
                    yield obj
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}: line {line + 1} is not UTF-8 ({exc.reason})") from None

    gen = objects()
    first = next(gen, None)
    if first is None:
        return [], iter(())

    def chained() -> Iterator[dict[str, Any]]:
        yield first
        yield from gen

    return list(first), chained()


def _parse_time(value: Any) -> tuple[datetime, bool] | None:
    """(the instant, whether the text had an offset), or None when it is not a timestamp."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=LOCAL_TZ), False
    return parsed, True


def _topic_level(value: Any) -> str:
    """An id as one topic level: no '/', '+', '#' or NUL, not empty, at most 128 characters."""
    text = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
    for ch in ("/", "+", "#", "\0"):
        text = text.replace(ch, "_")
    return text[:_TOPIC_LEVEL_MAX] or "_"


def _topic(kind: str, prefix: str, row: dict[str, Any], source: str) -> str:
    if kind == "meter-events":
        return f"{prefix}/{kind}/{_topic_level(row.get('area_id') or source)}"
    levels = "/".join(_topic_level(row.get(f)) for f in TOPIC_FIELDS[kind])
    return f"{prefix}/{kind}/{levels}"


def read_events(
    *, path: Path, kind: str | None, prefix: str, result: ReplayResult,
    shift_to: datetime | None = None,
) -> Iterator[tuple[float | None, str, dict[str, Any]]]:
    """The file's events in order, as (event time in epoch seconds or None, topic, payload
    object). Times without an offset get one; with ``shift_to`` every time moves so that the
    first event with a readable time happens at ``shift_to`` (whole seconds)."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a file")
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    try:
        columns, rows = _rows_jsonl(path, result) if jsonl else _rows_csv(path)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not columns:
        result.kind = kind or "meter-events"
        return
    kind = kind or detect_kind(set(columns))
    result.kind = kind
    keep, times, pace = KIND_FIELDS[kind], TIME_FIELDS[kind], PACE_FIELDS[kind]
    source = _topic_level(path.stem)
    shift: timedelta | None = None
    for row in rows:
        topic = _topic(kind, prefix, row, source)
        payload = {k: row[k] for k in keep if k in row}
        parsed = {f: p for f in times if (p := _parse_time(payload.get(f))) is not None}
        paced = [parsed[f][0].timestamp() for f in pace if f in parsed]
        when = max(paced) if paced else None
        if shift_to is not None and shift is None and when is not None:
            shift = timedelta(seconds=round(shift_to.timestamp() - when))
            result.shifted_by = shift.total_seconds()
        for f, (instant, had_offset) in parsed.items():
            if shift is not None:
                payload[f] = (instant + shift).isoformat()
            elif not had_offset:
                payload[f] = instant.isoformat()
        yield when, topic, payload


# --- publishing -----------------------------------------------------------------------------

class Publisher:
    """One paho-mqtt 2.x client publishing at QoS 1 and counting PUBACKs."""

    def __init__(self, conn: Connection) -> None:
        import paho.mqtt.client as mqtt

        self.conn = conn
        self.shown = conn.url(hide_password=True)
        self._cond = threading.Condition()
        self.sent = 0
        self.acked = 0
        self._last_ack = time.monotonic()
        self._connected: bool | None = None
        self._why: str | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"gridwatch-replay-{secrets.token_hex(4)}",
            clean_session=True,
        )
        conn.apply(self.client)
        self.client.max_inflight_messages_set(1_000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        with self._cond:
            if reason_code.is_failure:
                self._why = f"refused: {reason_code}"
                self._connected = False
            else:
                self._connected = True
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        with self._cond:
            if self._connected is None:
                self._connected = False
                self._why = self._why or "connection closed by the broker"
            elif self._connected and (reason_code.is_failure or reason_code.value != 0):
                self._why = f"disconnected: {reason_code}"  # a refusal keeps its own reason
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        with self._cond:
            self.acked += 1
            self._last_ack = time.monotonic()
            self._cond.notify_all()

    def connect(self) -> None:
        """Connect and log in; ``BrokerError`` in one line when the broker is not there or refuses."""
        try:
            self.client.connect(self.conn.host, self.conn.port, keepalive=30)
        except OSError as exc:
            why = exc.strerror.lower() if exc.strerror else (str(exc) or type(exc).__name__)
            hint = "; start it with 'gridwatch broker start'" if self.conn.embedded else ""
            raise BrokerError(f"broker unreachable at {self.shown}: {why}{hint}") from None
        self.client.loop_start()
        with self._cond:
            self._cond.wait_for(lambda: self._connected is not None, CONNECT_TIMEOUT_SECONDS)
            ok, refused = self._connected, self._why
        if not ok:
            self.close()
            raise BrokerError(
                f"broker at {self.shown} did not accept the login: {refused or 'no answer'}")

    def send(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1, waiting first while too many messages await their PUBACK."""
        with self._cond:
            self._wait(lambda: self.sent - self.acked < MAX_UNACKED_MESSAGES)
            self.sent += 1
        self.client.publish(topic, payload, qos=1)

    def _wait(self, done: Callable[[], bool]) -> None:
        """Wait (holding the condition) until ``done``, failing when PUBACKs stop coming."""
        began = time.monotonic()
        while not done():
            self._cond.wait(0.5)
            if not done() and time.monotonic() - max(self._last_ack, began) > STALL_SECONDS:
                raise BrokerError(
                    f"the broker at {self.shown} stopped acknowledging: "
                    f"{self.sent - self.acked} message(s) unacknowledged for "
                    f"{STALL_SECONDS:.0f} s ({self._why or 'no answer'})")

    def finish(self) -> None:
        """Wait for every PUBACK, then disconnect."""
        try:
            with self._cond:
                self._wait(lambda: self.acked >= self.sent)
        finally:
            self.close()

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def _encode(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(events, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def replay(
    *, conn: Connection, path: Path, kind: str | None = None, speed: float | None = 1.0,
    prefix: str = "gridwatch", batch_ms: int = 100, shift_to_now: bool = False,
    on_events: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Publish the stream file ``path`` to the broker ``conn`` at ``speed`` times its pace
    (None: as fast as possible); return what was sent once every message is acknowledged.

    ``on_events(n)`` is told the events handed to the broker so far, after every message.
    """
    if speed is not None and speed <= 0:
        raise UsageError("--speed must be positive, or 0 / 'max' for as fast as possible")
    if batch_ms < 1:
        raise UsageError("--batch-ms must be at least 1")
    prefix = check_prefix(prefix)
    result = ReplayResult(path=str(path), kind=kind or "")
    events = read_events(path=path, kind=kind, prefix=prefix, result=result,
                         shift_to=datetime.now(UTC) if shift_to_now else None)
    first = next(events, None)  # reads the header: a bad file fails before connecting
    pub = Publisher(conn)
    pub.connect()
    window_s = batch_ms / 1000.0
    started = time.monotonic()
    pending: dict[str, list[dict[str, Any]]] = {}
    in_window = 0
    window_end: float | None = None
    t0: float | None = None
    t_last: float | None = None
    due = 0.0

    def send(topic: str, batch: list[dict[str, Any]]) -> None:
        pub.send(topic, _encode(batch))
        result.messages += 1
        result.topics.add(topic)
        if on_events is not None:
            sent[0] += len(batch)
            on_events(sent[0])

    sent = [0]

    def flush() -> None:
        for topic, batch in pending.items():
            if batch:
                send(topic, batch)
        pending.clear()

    try:
        stream = events if first is None else _chain(first, events)
        for when, topic, payload in stream:
            if when is not None:
                t0 = when if t0 is None else t0
                t_last = when if t_last is None else max(t_last, when)
                if speed is not None:
                    due = max(due, (when - t0) / speed)
            if window_end is not None and (due >= window_end or in_window >= MAX_WINDOW_EVENTS):
                flush()
                in_window, window_end = 0, None
            if window_end is None:
                wait = started + due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                window_end = due + window_s
            batch = pending.setdefault(topic, [])
            batch.append(payload)
            in_window += 1
            result.events += 1
            if len(batch) >= MAX_EVENTS_PER_MESSAGE:
                send(topic, batch)
                pending[topic] = []
        flush()
        pub.finish()
    except BaseException:
        pub.close()
        raise
    result.seconds = time.monotonic() - started
    result.span_seconds = (t_last - t0) if t0 is not None and t_last is not None else 0.0
    log.info("replayed %s: %d events in %d messages in %.2f s", path, result.events,
             result.messages, result.seconds)
    return result


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def check_prefix(prefix: str) -> str:
    """A topic prefix without wildcards or empty levels (trailing '/' removed)."""
    cleaned = prefix.strip().rstrip("/")
    if not cleaned or any(ch in cleaned for ch in "+#\0") or "//" in cleaned \
            or cleaned.startswith("/") or cleaned.startswith("$"):
        raise UsageError(f"--topic-prefix {prefix!r}: use topic levels without wildcards, "
                         "e.g. 'gridwatch'")
    return cleaned


def parse_speed(text: str) -> float | None:
    """``--speed``: a positive number, or ``0`` / ``max`` for as fast as possible (None)."""
    value = text.strip().lower()
    if value in ("max", "0", "0.0", "inf"):
        return None
    try:
        speed = float(value)
    except ValueError:
        raise UsageError(f"--speed {text!r}: a positive number, or 'max'") from None
    if not speed > 0 or speed == float("inf"):
        raise UsageError(f"--speed {text!r}: a positive number, or 'max'")
    return speed


__all__ = ["KIND_FIELDS", "Publisher", "ReplayResult", "detect_kind", "parse_speed",
           "read_events", "replay"]
