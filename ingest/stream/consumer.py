"""The MQTT consumer: QoS 1, a persistent session, micro-batches, acknowledged after commit.

paho-mqtt's network thread only queues messages. The consumer's own thread drains the queue
into micro-batches (``stream_batch_seconds`` or ``stream_batch_rows``, whichever comes first),
ingests each through the same validation, accounting and COPY path as files (batch source
``mqtt``), commits, and only then acknowledges the batch's messages, in the order they came.
A crash before the acknowledgement makes the broker deliver them again; they are duplicates
under SPEC section 2's rules, so nothing is lost and nothing stored twice.

The roof (``gridwatch stream``, ``gridwatch serve``) passes ``after_commit``, which brings the
derived results up to date before the next batch: ``ingest`` never imports ``monitoring``.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core import broker, metrics
from core.errors import BrokerError
from core.settings import Settings
from ingest.meter_events import AreaCache
from ingest.service import IngestResult, database_lost, ingest_rows
from ingest.stream.payloads import ERROR, TOPICS, Rows, add_message, kind_of, shared

log = logging.getLogger(__name__)

SOURCE = "mqtt"
RETRY_SECONDS = (1, 2, 5, 10, 30)
AfterCommit = Callable[[list[IngestResult]], None]


@dataclass
class Message:
    """One received message, with the connection it came on (acks only go back on that one)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received: float = field(default_factory=time.monotonic)


@dataclass
class Stats:
    """What the consumer has done since it started."""

    messages: int = 0
    batches: int = 0
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0
    last_commit: float | None = None
    errors: list[str] = field(default_factory=list)


def client_id(settings: Settings) -> str:
    """The consumer's MQTT client id: stable across restarts, so its session resumes."""
    return settings.stream_client_id or f"gridwatch-{socket.gethostname()}"[:64]


class Consumer:
    """Subscribe, batch, ingest, commit, acknowledge; ``run`` until ``stop`` is set."""

    def __init__(
        self, *, settings: Settings, engine: Engine, after_commit: AfterCommit | None = None,
        client_name: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.after_commit = after_commit
        self.stats = Stats()
        self._areas = AreaCache()
        self._queue: queue.Queue[Message] = queue.Queue()
        self._lock = threading.Lock()
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._failure: str | None = None
        self._conn = broker.connection(settings)
        self.name = client_name or client_id(settings)
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.name,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self._conn.apply(self._client)
        self._client.reconnect_delay_set(1, 5)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    # paho's network thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self._failure = f"the broker refused the consumer: {reason}"
            log.error("stream: %s", self._failure)
            return
        with self._lock:
            self._generation += 1
        self._failure = None
        log.info("stream: connected to %s (session %s)", self._conn.url(hide_password=True),
                 "resumed" if flags.session_present else "new")
        client.subscribe([(shared(t), 1) for t in TOPICS.values()])
        self._connected.set()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            self._failure = f"the broker refused the subscription: {', '.join(failed)}"
            log.error("stream: %s", self._failure)
        else:
            self._subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        with self._lock:
            self._generation += 1
        self._connected.clear()
        self._subscribed.clear()
        log.warning("stream: disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation))

    # the consumer's thread
    def connect(self, timeout: float = 15.0) -> None:
        """Connect (persistent session) and subscribe; ``BrokerError`` in words when it fails."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = int(self.settings.stream_session_hours * 3600)
        try:
            self._client.connect(self._conn.host, self._conn.port, keepalive=30,
                                 clean_start=False, properties=props)
        except (OSError, ValueError) as exc:
            raise BrokerError(
                f"cannot reach the MQTT broker at {self._conn.url(hide_password=True)} ({exc}); "
                "start it with 'gridwatch broker start' or set GRIDWATCH_MQTT_URL") from None
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._subscribed.wait(0.1):
            if self._failure or time.monotonic() > deadline:
                self._client.loop_stop()
                raise BrokerError(self._failure or "the MQTT broker did not answer the "
                                  f"consumer within {timeout:g} s")

    def close(self) -> None:
        """Disconnect; messages not yet acknowledged stay with the broker's session."""
        self._client.disconnect()
        self._client.loop_stop()

    def _next_batch(self, stop: threading.Event, idle: float | None) -> list[Message]:
        """Messages for one micro-batch; empty when ``stop`` is set or ``idle`` s passed."""
        waited = 0.0
        while True:
            if stop.is_set():
                return []
            try:
                first = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                waited += 0.1
                if idle is not None and waited >= idle:
                    return []
        batch = [first]
        deadline = time.monotonic() + self.settings.stream_batch_seconds
        rows = _estimate(first)
        while rows < self.settings.stream_batch_rows:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = self._queue.get(timeout=min(left, 0.05) if idle is None else left)
            except queue.Empty:
                if idle is not None:
                    break
                continue
            batch.append(msg)
            rows += _estimate(msg)
        return batch

    def _parse(self, batch: list[Message]) -> dict[str, Rows]:
        """The batch's rows by kind (pure Python: runs while the previous batch commits)."""
        by_kind: dict[str, Rows] = {}
        for position, msg in enumerate(batch, start=1):
            add_message(by_kind, topic=msg.topic, payload=msg.payload, position=position,
                        codes=self.settings.stream_event_codes,
                        max_bytes=self.settings.stream_max_payload_bytes)
        return by_kind

    def _store(self, by_kind: dict[str, Rows]) -> list[IngestResult]:
        """Ingest and commit one micro-batch (every kind in one transaction)."""
        results = []
        with Session(bind=self.engine, expire_on_commit=False) as session:
            for kind in sorted(by_kind):
                rows = by_kind[kind]
                if rows.rows:
                    results.append(ingest_rows(
                        session=session, kind=kind, rows=rows.rows, source=SOURCE,
                        unknown=rows.unknown, origins=rows.origins, settings=self.settings,
                        areas=self._areas))
            session.commit()
        return results

    def _acknowledge(self, batch: list[Message]) -> int:
        """Acknowledge, in order, the messages that came on the current connection."""
        sent = 0
        with self._lock:
            current = self._generation if self._connected.is_set() else -1
            for msg in batch:
                if msg.generation == current and msg.qos > 0:
                    self._client.ack(msg.mid, msg.qos)
                    sent += 1
        return sent

    def process(self, batch: list[Message], stop: threading.Event,
                parsed: dict[str, Rows] | None = None) -> None:
        """Store a batch until it is committed (retrying while the database is away), then ack."""
        attempt = 0
        by_kind = parsed if parsed is not None else self._parse(batch)
        started = time.perf_counter()
        while True:
            try:
                results = self._store(by_kind)
                break
            except Exception as exc:
                lost = database_lost(exc)
                metrics.STREAM_STORE_ERRORS.labels(self.name, "database" if lost else "other").inc()
                if not lost and attempt >= 1:
                    # Not the database being away, and it failed twice: one of the messages
                    # cannot be stored. Find it and record it as rejected (_isolate), so that
                    # no message can stop the consumer.
                    try:
                        isolated, poisoned = self._isolate(batch, exc)
                        if poisoned:
                            by_kind, attempt = isolated, 0
                            continue
                    except Exception as again:
                        exc, lost = again, database_lost(again)
                what = "the database is unreachable" if lost else f"{type(exc).__name__}: {exc}"
                wait = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                log.error("stream: a batch of %d message(s) was not stored (%s); nothing of it "
                          "is acknowledged; retrying in %d s", len(batch), what, wait)
                self.stats.errors = (self.stats.errors + [what])[-10:]
                attempt += 1
                if stop.wait(wait):
                    return
        committed = time.monotonic()
        acked = self._acknowledge(batch)
        self._count(batch, results)
        metrics.STREAM_BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        metrics.STREAM_LAG_SECONDS.labels(self.name).observe(
            max(0.0, committed - min(m.received for m in batch)))
        metrics.STREAM_MESSAGES.labels(self.name).inc(len(batch))
        log.info("stream: batch of %d message(s) committed (%s), %d acknowledged", len(batch),
                 ", ".join(f"{r.kind}: {r.accounting.accepted} accepted, "
                           f"{r.accounting.rejected} rejected" for r in results) or "no rows",
                 acked)
        if self.after_commit is not None and results:
            try:
                self.after_commit(results)
            except Exception as exc:
                # Committed rows stay; their change log is folded in by the next refresh.
                log.warning("stream: derived results not brought up to date after the batch "
                            "(%s: %s); the next batch or job will", type(exc).__name__, exc)

    def _isolate(self, batch: list[Message], error: Exception) -> tuple[dict[str, Rows], int]:
        """The batch's rows with each message that cannot be stored on its own rejected whole;
        and how many were.

        Each message is tried alone in a transaction that is rolled back; one that fails for
        any reason but the database being away becomes one rejected row naming the error.
        """
        log.error("stream: a batch keeps failing (%s: %s); trying its %d message(s) one by one",
                  type(error).__name__, error, len(batch))
        by_kind: dict[str, Rows] = {}
        poisoned = 0
        for position, msg in enumerate(batch, start=1):
            alone: dict[str, Rows] = {}
            add_message(alone, topic=msg.topic, payload=msg.payload, position=position,
                        codes=self.settings.stream_event_codes,
                        max_bytes=self.settings.stream_max_payload_bytes)
            try:
                with Session(bind=self.engine) as session:
                    for kind, rows in alone.items():
                        if rows.rows:
                            ingest_rows(session=session, kind=kind, rows=list(rows.rows),
                                        source=SOURCE, unknown=[], settings=self.settings,
                                        count=False)
                    session.rollback()
            except Exception as exc:
                if database_lost(exc):
                    raise
                reason = f"the message could not be stored ({type(exc).__name__}: {exc})"[:500]
                log.error("stream: message %d on %s rejected whole: %s", position, msg.topic, reason)
                rows = by_kind.setdefault(kind_of(msg.topic) or "meter-events",
                                          Rows(kind_of(msg.topic) or "meter-events"))
                rows.add({ERROR: reason}, (msg.topic, position, 0))
                poisoned += 1
                continue
            add_message(by_kind, topic=msg.topic, payload=msg.payload, position=position,
                        codes=self.settings.stream_event_codes,
                        max_bytes=self.settings.stream_max_payload_bytes)
        return by_kind, poisoned

    def _count(self, batch: list[Message], results: list[IngestResult]) -> None:
        s = self.stats
        s.messages += len(batch)
        s.batches += 1
        s.last_commit = time.time()
        for r in results:
            a = r.accounting
            s.rows += a.total
            s.accepted += a.accepted
            s.duplicates += a.duplicates
            s.updated += a.updated
            s.rejected += a.rejected

    def run(self, stop: threading.Event, *, once: bool = False) -> Stats:
        """Consume until ``stop`` is set; with ``once``, until the queue has been idle a while.

        A second thread gathers and parses the next micro-batch while this one commits and
        the derived results follow it; batches are still stored, acknowledged and followed
        one after another, in the order their messages came.
        """
        idle = max(1.0, 2 * self.settings.stream_batch_seconds) if once else None
        ready: queue.Queue[tuple[list[Message], dict[str, Rows]] | None] = queue.Queue(maxsize=1)

        def gather() -> None:
            try:
                while not stop.is_set():
                    batch = self._next_batch(stop, idle)
                    if not batch:
                        if once:
                            break
                        continue
                    parsed = self._parse(batch)
                    while not stop.is_set():
                        try:
                            ready.put((batch, parsed), timeout=0.1)
                            break
                        except queue.Full:
                            continue
            finally:
                try:
                    ready.put(None, timeout=1)
                except queue.Full:
                    pass  # the consumer has stopped taking batches: it is leaving anyway

        gatherer = threading.Thread(target=gather, name="gridwatch-stream-gather", daemon=True)
        gatherer.start()
        while True:
            try:
                item = ready.get(timeout=0.1)
            except queue.Empty:
                if not gatherer.is_alive():
                    break
                continue
            if item is None:
                break
            if stop.is_set():
                break  # not acknowledged: the broker delivers it again
            self.process(item[0], stop, item[1])
        gatherer.join(5)
        return self.stats


def _estimate(msg: Message) -> int:
    """Rows a message will give, without parsing it (an array's items, roughly by braces)."""
    return max(1, msg.payload.count(b"{"))


def restore_session(settings: Settings, timeout: float = 10.0) -> bool:
    """Make sure the consumer's session holds its shared subscription, before publishers come.

    Mosquitto keeps a persistent session's queued messages over a restart, but not its shared
    subscriptions: until the consumer reconnects and subscribes again, new messages for the
    group would be dropped. ``gridwatch broker start`` therefore connects once as the
    consumer (same client id, no clean start, no acknowledgements, so anything queued stays
    queued for the consumer itself) and subscribes. The first start creates the session this
    way, so nothing published before the first ``gridwatch stream`` is lost either.
    Returns False (and logs) when the broker did not take it.
    """
    conn = broker.connection(settings)
    done = threading.Event()
    ok: list[bool] = []
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                         client_id=client_id(settings), protocol=mqtt.MQTTv5, manual_ack=True)
    conn.apply(client)

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            ok.append(False)
            done.set()
        else:
            c.subscribe([(shared(t), 1) for t in TOPICS.values()])

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        ok.append(not any(r.is_failure for r in reasons))
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = int(settings.stream_session_hours * 3600)
    props.ReceiveMaximum = 1
    try:
        client.connect(conn.host, conn.port, keepalive=30, clean_start=False, properties=props)
    except OSError as exc:
        log.warning("stream: could not restore the consumer's subscription: %s", exc)
        return False
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    if not (ok and ok[0]):
        log.warning("stream: the broker did not take the consumer's subscription")
        return False
    return True
