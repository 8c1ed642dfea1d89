"""The embedded MQTT broker (SPEC section 12): a real Mosquitto, started by each test on a free port."""

from __future__ import annotations

import dataclasses
import os
import pwd
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core import broker
from core.settings import Settings, get_settings
from tests.builders import free_port


@pytest.fixture
def settings(base: Path) -> Iterator[Settings]:
    """Settings for a broker of its own; stopped after the test."""
    s = Settings(data_dir=base / "gw", mqtt_port=free_port())
    yield s
    broker.destroy(s)


@pytest.fixture
def running(settings: Settings) -> Settings:
    broker.start(settings)
    return settings


class Inbox:
    """A paho-mqtt 2.x client (callback API version 2) that keeps what it receives."""

    def __init__(self, conn: broker.Connection, client_id: str = "", *, persistent: bool = False,
                 protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv311) -> None:
        self.conn = conn
        self.persistent = persistent
        self.protocol = protocol
        self.messages: list[mqtt.MQTTMessage] = []
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.reason: mqtt.ReasonCode | None = None
        self.session_present: bool | None = None
        kwargs: dict[str, object] = {}
        if protocol != mqtt.MQTTv5:
            kwargs["clean_session"] = not persistent
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=protocol, **kwargs)  # type: ignore[arg-type]
        conn.apply(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, msg: self.messages.append(msg)
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.reason = reason_code
        self.session_present = flags.session_present
        self.connected.set()

    def connect(self) -> Inbox:
        kwargs: dict[str, object] = {}
        if self.protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)
            if self.persistent:
                props.SessionExpiryInterval = 0xFFFFFFFF  # MQTT 5: the session outlives the link
            kwargs.update(clean_start=not self.persistent, properties=props)
        self.client.connect(self.conn.host, self.conn.port, keepalive=30, **kwargs)  # type: ignore[arg-type]
        self.client.loop_start()
        assert self.connected.wait(10), "no CONNACK"
        return self

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(10), "no SUBACK"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _publish(conn: broker.Connection, topic: str, payloads: list[bytes]) -> None:
    """Publish at QoS 1 and wait for every PUBACK."""
    pub = Inbox(conn).connect()
    try:
        infos = [pub.client.publish(topic, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        pub.close()


def test_an_authenticated_client_publishes_and_subscribes_at_qos_1(running: Settings) -> None:
    conn = broker.connection(running)
    assert (conn.host, conn.port, conn.username, conn.tls) == (
        "127.0.0.1", running.mqtt_port, "gridwatch", False)
    sub = Inbox(conn).connect()
    try:
        assert sub.reason is not None and not sub.reason.is_failure
        sub.subscribe("gridwatch/meter-events/#")
        _publish(conn, "gridwatch/meter-events/A1", [b'{"meter_id": "M1", "kind": "off"}'])
        got = sub.wait_for(1)
        assert [(m.topic, m.payload, m.qos) for m in got] == [
            ("gridwatch/meter-events/A1", b'{"meter_id": "M1", "kind": "off"}', 1)]
    finally:
        sub.close()


def test_start_is_idempotent_and_stop_says_whether_it_ran(running: Settings) -> None:
    b = broker.broker(running)
    pid = b.pidfile.read_text().strip()
    broker.start(running)
    assert b.pidfile.read_text().strip() == pid
    assert broker.stop(running) is True
    assert not broker.is_running(b)
    assert broker.stop(running) is False
    assert broker.probe(broker.connection(running)) == "connection refused"


def test_a_client_without_the_password_or_with_a_wrong_one_is_refused(running: Settings) -> None:
    good = broker.connection(running)
    for bad in (dataclasses.replace(good, password="wrong-" + (good.password or "")),
                dataclasses.replace(good, password=None),
                dataclasses.replace(good, username=None, password=None),
                dataclasses.replace(good, username="admin")):
        problem = broker.probe(bad)
        assert problem is not None and problem.startswith("refused"), (bad.username, problem)
        client = Inbox(bad).connect()  # the CONNACK itself says no
        try:
            assert client.reason is not None and client.reason.is_failure
        finally:
            client.close()
    assert broker.probe(good) is None


def _other_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback."""
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # no packet is sent
        try:
            s.connect(("192.0.2.1", 9))
            found.add(s.getsockname()[0])
        except OSError:
            pass
    return sorted(a for a in found if not a.startswith("127."))


def _listeners(port: int) -> list[str]:
    """Local addresses of the TCP sockets listening on ``port`` (IPv4 and IPv6), from /proc."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, hexport = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                found.append(addr)
    return found


def test_the_broker_listens_on_127_0_0_1_only(running: Settings) -> None:
    port = running.mqtt_port
    assert _listeners(port) == ["0100007F"]  # 127.0.0.1, and no IPv6 or wildcard socket
    conf = broker.broker(running).conf.read_text()
    assert f"listener {port} 127.0.0.1" in conf and "allow_anonymous false" in conf
    for address in _other_addresses():
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(3)
            s.connect((address, port))


def test_the_password_files_are_private_and_hold_no_plain_password(running: Settings) -> None:
    secret = running.secret_file(broker.SECRET)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    password = secret.read_text().strip()
    assert len(password) >= 32
    b = broker.broker(running)
    assert stat.S_IMODE(b.passwd.stat().st_mode) == 0o600
    assert stat.S_IMODE(b.home.stat().st_mode) == 0o700
    hashed = b.passwd.read_text()
    assert hashed.startswith("gridwatch:$7$") and password not in hashed
    assert not list(b.home.glob(".passwd-*"))  # the plain copy is gone
    assert broker.url(running) == f"mqtt://gridwatch:{password}@127.0.0.1:{running.mqtt_port}"


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqtt3.1.1", "mqtt5"])
def test_queued_messages_of_a_persistent_session_survive_a_broker_restart(
    running: Settings, protocol: mqtt.MQTTProtocolVersion
) -> None:
    conn = broker.connection(running)
    consumer = Inbox(conn, "gridwatch-consumer-test", persistent=True, protocol=protocol).connect()
    consumer.subscribe("gridwatch/meter-events/#")
    consumer.close()  # away: the broker queues for the session
    payloads = [f'{{"n": {i}}}'.encode() for i in range(200)]
    _publish(conn, "gridwatch/meter-events/A1", payloads)

    assert broker.stop(running)
    assert (broker.broker(running).persistence_dir / "mosquitto.db").stat().st_size > 0
    broker.start(running)

    back = Inbox(conn, "gridwatch-consumer-test", persistent=True, protocol=protocol).connect()
    try:
        assert back.session_present is True
        got = back.wait_for(len(payloads))
        assert sorted(m.payload for m in got) == sorted(payloads)
        assert all(m.qos == 1 for m in got)
    finally:
        back.close()


def test_a_killed_broker_keeps_what_it_had_queued_before_its_last_autosave(running: Settings) -> None:
    """SIGKILL gives Mosquitto no chance to save: only the periodic autosave protects the queue."""
    conn = broker.connection(running)
    consumer = Inbox(conn, "gridwatch-kill-test", persistent=True).connect()
    consumer.subscribe("gridwatch/meter-events/#")
    consumer.close()
    payloads = [f"e{i}".encode() for i in range(100)]
    _publish(conn, "gridwatch/meter-events/A1", payloads)
    time.sleep(broker.AUTOSAVE_SECONDS + 1.5)
    b = broker.broker(running)
    pid = int(b.pidfile.read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while broker.is_running(b) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not broker.is_running(b)
    broker.start(running)  # a stale pid file does not fool it
    assert int(b.pidfile.read_text()) != pid
    back = Inbox(conn, "gridwatch-kill-test", persistent=True).connect()
    try:
        assert back.session_present is True
        assert sorted(m.payload for m in back.wait_for(len(payloads))) == sorted(payloads)
    finally:
        back.close()


def test_a_storm_larger_than_mosquittos_default_queue_is_kept(running: Settings) -> None:
    """Mosquitto's default keeps 1,000 queued messages per client and drops the rest."""
    conn = broker.connection(running)
    consumer = Inbox(conn, "gridwatch-storm-test", persistent=True).connect()
    consumer.subscribe("gridwatch/meter-events/#")
    consumer.close()
    payloads = [str(i).encode() for i in range(3000)]
    _publish(conn, "gridwatch/meter-events/A1", payloads)
    back = Inbox(conn, "gridwatch-storm-test", persistent=True).connect()
    try:
        assert len(back.wait_for(len(payloads), timeout=30)) == len(payloads)
    finally:
        back.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="the broker user is only switched when root")
def test_broker_files_move_out_of_a_directory_the_broker_user_cannot_reach(base: Path) -> None:
    private = base / "private"
    private.mkdir(mode=0o700)
    hidden = broker.broker(Settings(data_dir=private / ".gridwatch"))
    assert hidden.home.is_relative_to(broker.RELOCATED_ROOT) and hidden.home.name == "mqtt"
    assert hidden.os_user == "mosquitto"
    private.chmod(0o755)
    visible = broker.broker(Settings(data_dir=private / ".gridwatch"))
    assert visible.home == (private / ".gridwatch" / "mqtt").resolve()


@pytest.mark.skipif(os.geteuid() != 0, reason="the broker user is only switched when root")
def test_the_broker_runs_as_the_unprivileged_mosquitto_user(running: Settings) -> None:
    pid = int(broker.broker(running).pidfile.read_text())
    uid = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("Uid:"))
    assert uid != 0
    assert pwd.getpwuid(uid).pw_name == "mosquitto"


def test_cli_start_status_url_stop(cli, settings: Settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDWATCH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GRIDWATCH_MQTT_PORT", str(settings.mqtt_port))
    monkeypatch.delenv("GRIDWATCH_MQTT_URL", raising=False)
    get_settings.cache_clear()
    port = settings.mqtt_port

    down = cli("broker", "status")
    assert down.exit_code == 1
    assert down.output.strip().splitlines() == [
        f"gridwatch: the embedded broker is not running (127.0.0.1:{port}); "
        "start it with 'gridwatch broker start'"]

    started = cli("broker", "start")
    assert started.exit_code == 0, started.output
    assert f"broker running on 127.0.0.1:{port}" in started.output
    assert cli("broker", "start").exit_code == 0  # idempotent

    password = settings.secret_file(broker.SECRET).read_text().strip()
    status = cli("broker", "status")
    assert status.exit_code == 0, status.output
    assert status.output.strip() == f"broker reachable at mqtt://gridwatch:***@127.0.0.1:{port}"
    assert password not in status.output

    url = cli("broker", "url")
    assert url.exit_code == 0
    assert url.output.strip() == f"mqtt://gridwatch:{password}@127.0.0.1:{port}"

    stopped = cli("broker", "stop")
    assert (stopped.exit_code, stopped.output.strip()) == (0, "broker stopped")
    assert cli("broker", "stop").output.strip() == "broker was not running"
    assert cli("broker", "status").exit_code == 1


def test_cli_with_another_broker_manages_nothing(cli, base: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    port = free_port()  # nothing listens there
    monkeypatch.setenv("GRIDWATCH_DATA_DIR", str(base / "gw"))
    monkeypatch.setenv("GRIDWATCH_MQTT_URL", f"mqtt://edge:s3cr%40t@127.0.0.1:{port}")
    assert cli("broker", "start").output.strip() == "using GRIDWATCH_MQTT_URL; nothing to start"
    assert cli("broker", "stop").output.strip() == "using GRIDWATCH_MQTT_URL; nothing to stop"
    assert cli("broker", "url").output.strip() == f"mqtt://edge:s3cr%40t@127.0.0.1:{port}"
    status = cli("broker", "status")
    assert status.exit_code == 1
    assert status.output.strip() == (
        f"gridwatch: broker unreachable at mqtt://edge:***@127.0.0.1:{port}: connection refused")
    assert not (base / "gw" / "mqtt").exists()

    monkeypatch.setenv("GRIDWATCH_MQTT_URL", "http://edge@127.0.0.1:1883")
    bad = cli("broker", "url")
    assert bad.exit_code == 2
    assert len(bad.output.strip().splitlines()) == 1 and "GRIDWATCH_MQTT_URL" in bad.output
    assert "Traceback" not in bad.output


def test_another_broker_url_is_parsed_for_paho() -> None:
    conn = broker.connection(Settings(mqtt_url="mqtts://meter%2Dhead:p%40ss:w@emqx.example:8884"))
    assert conn == broker.Connection(host="emqx.example", port=8884, username="meter-head",
                                     password="p@ss:w", tls=True, embedded=False)
    assert conn.url(hide_password=True) == "mqtts://meter-head:***@emqx.example:8884"
    assert broker.connection(Settings(mqtt_url="mqtt://emqx.example")).port == 1883
    assert broker.connection(Settings(mqtt_url="mqtts://emqx.example")).port == 8883
    with pytest.raises(ValueError):
        Settings(mqtt_url="tcp://emqx.example:1883")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    conn.apply(client)  # credentials and TLS with the system's CAs
    assert client.username == "meter-head" and client.password == "p@ss:w"


def test_a_packet_larger_than_the_payload_limit_disconnects_its_sender(base: Path) -> None:
    settings = Settings(data_dir=base / "gw", mqtt_port=free_port(), stream_max_payload_bytes=4096)
    broker.start(settings)
    try:
        conn = broker.connection(settings)
        sub = Inbox(conn).connect()
        sub.subscribe("gridwatch/meter-events/#")
        pub = Inbox(conn).connect()
        gone = threading.Event()
        pub.client.on_disconnect = lambda *a: gone.set()
        pub.client.publish("gridwatch/meter-events/big", b"[" + b" " * 200_000 + b"]", qos=1)
        assert gone.wait(10), "the broker kept a 200 kB packet over a 4 kB limit"
        pub.close()
        _publish(conn, "gridwatch/meter-events/small", [b"[]"])
        got = sub.wait_for(1)
        assert [m.topic for m in got] == ["gridwatch/meter-events/small"]
        sub.close()
    finally:
        broker.destroy(settings)
