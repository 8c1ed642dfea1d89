"""The embedded MQTT broker: a local Mosquitto under the data dir, or the one GRIDWATCH_MQTT_URL names.

It is managed the way ``core/embedded.py`` manages PostgreSQL: as root the broker runs as an
unprivileged account (``mosquitto``, else ``nobody``), its files live in ``<data dir>/mqtt``
(or under /var/lib/gridwatch when that account cannot reach the data dir), it listens on
127.0.0.1 only, and it accepts one user, ``gridwatch``, whose generated password sits in a
0600 file next to the database's (``<data dir>/secrets/mqtt-gridwatch.password``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from core.embedded import RELOCATED_ROOT, _secret, _traversable
from core.errors import BrokerError, DatabaseError
from core.settings import Settings

log = logging.getLogger(__name__)

USER = "gridwatch"
"""The one MQTT user of the embedded broker."""
SECRET = "mqtt-gridwatch"
"""Name of the embedded broker's password file under ``<data dir>/secrets``."""
HOST = "127.0.0.1"

# Broker limits (docs/streams.md explains each).
AUTOSAVE_SECONDS = 5
MAX_QUEUED_MESSAGES = 1_000_000
MAX_INFLIGHT_MESSAGES = 65_535
PACKET_HEADROOM = 64 * 1024  # topic, properties and headers beyond the payload
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Broker:
    """Paths and identity of the embedded broker."""

    home: Path  # <data dir>/mqtt, or its relocated twin
    conf: Path
    passwd: Path
    persistence_dir: Path
    logfile: Path
    pidfile: Path
    port: int
    os_user: str | None  # None: run as the current user


@dataclass(frozen=True)
class Connection:
    """Where and how a client reaches the broker (embedded or GRIDWATCH_MQTT_URL)."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool
    embedded: bool

    def url(self, *, hide_password: bool = False) -> str:
        """``mqtt://user:password@host:port`` (``mqtts://`` with TLS); ``***`` when hidden."""
        auth = ""
        if self.username is not None:
            auth = quote(self.username, safe="")
            if self.password is not None:
                auth += ":" + ("***" if hide_password else quote(self.password, safe=""))
            auth += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{host}:{self.port}"

    def apply(self, client: object) -> None:
        """Give a paho-mqtt ``Client`` these credentials (and TLS with the system CAs)."""
        if self.username is not None:
            client.username_pw_set(self.username, self.password)  # type: ignore[attr-defined]
        if self.tls:
            client.tls_set()  # type: ignore[attr-defined]


def mosquitto_bin() -> Path:
    """The ``mosquitto`` executable (Debian puts it in /usr/sbin)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found or not shutil.which("mosquitto_passwd"):
        raise BrokerError(
            "Mosquitto is not installed; run scripts/install-db.sh (or 'make install')")
    return Path(found)


def _os_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("mosquitto", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise BrokerError("running as root, but there is no 'mosquitto' user to run the broker")


def broker(settings: Settings) -> Broker:
    """Describe the embedded broker for these settings.

    As root the broker runs as an unprivileged user. When that user cannot reach the data
    directory, the broker's files live under /var/lib/gridwatch/<digest of the data
    directory>/mqtt instead (next to a relocated database), and the data directory holds a
    note saying where.
    """
    data_dir = settings.data_dir.resolve()
    os_user = _os_user()
    home = data_dir / "mqtt"
    if os_user and not _traversable(data_dir, os_user):
        digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
        home = RELOCATED_ROOT / digest / "mqtt"
    return Broker(
        home=home,
        conf=home / "mosquitto.conf",
        passwd=home / "passwd",
        persistence_dir=home / "persistence",
        logfile=home / "mosquitto.log",
        pidfile=home / "mosquitto.pid",
        port=settings.mqtt_port,
        os_user=os_user,
    )


def is_embedded(settings: Settings) -> bool:
    """True when gridwatch manages its own broker (GRIDWATCH_MQTT_URL is unset)."""
    return settings.mqtt_url is None


def _password(settings: Settings, *, create: bool) -> str:
    """The embedded broker's password, from its 0600 file (generated once when ``create``)."""
    path = settings.secret_file(SECRET)
    if not create and not path.exists():
        raise BrokerError(
            f"the broker password file {path} is missing; run 'gridwatch broker start' first")
    try:
        return _secret(settings, SECRET, create=create)
    except DatabaseError:
        raise BrokerError(
            f"cannot read the broker password file {path}: it belongs to the account that "
            "started the embedded broker; run gridwatch as that account"
        ) from None


def connection(settings: Settings) -> Connection:
    """The broker to talk to: GRIDWATCH_MQTT_URL, else the embedded one with its password."""
    if settings.mqtt_url:
        parts = urlsplit(settings.mqtt_url)
        tls = parts.scheme == "mqtts"
        return Connection(
            host=parts.hostname or HOST,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=tls,
            embedded=False,
        )
    return Connection(
        host=HOST,
        port=settings.mqtt_port,
        username=USER,
        password=_password(settings, create=False),
        tls=False,
        embedded=True,
    )


def url(settings: Settings) -> str:
    """``mqtt://gridwatch:PASSWORD@127.0.0.1:PORT`` (or GRIDWATCH_MQTT_URL)."""
    return connection(settings).url()


def probe(conn: Connection, timeout: float = 5.0) -> str | None:
    """Connect with these credentials and disconnect; None on success, else why it failed."""
    import paho.mqtt.client as mqtt

    result: list[str | None] = []

    def on_connect(client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        result.append(None if not reason_code.is_failure else f"refused: {reason_code}")

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"gridwatch-probe-{secrets.token_hex(4)}",
        clean_session=True, reconnect_on_failure=False,
    )
    client.on_connect = on_connect
    conn.apply(client)
    try:
        client.connect(conn.host, conn.port, keepalive=10)
    except OSError as exc:
        return exc.strerror.lower() if exc.strerror else str(exc) or type(exc).__name__
    deadline = time.monotonic() + timeout
    try:
        while not result and time.monotonic() < deadline:
            if client.loop(timeout=0.2) != mqtt.MQTT_ERR_SUCCESS and not result:
                return "connection closed by the broker"
    finally:
        client.disconnect()
        client.loop(timeout=0.1)
        sock = client.socket()
        if sock is not None:
            sock.close()
    return result[0] if result else "no answer from the broker"


def _run(b: Broker, args: list[str]) -> subprocess.CompletedProcess[str]:
    kwargs: dict[str, object] = {}
    env = dict(os.environ)
    if b.os_user:
        pw = pwd.getpwnam(b.os_user)
        kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        env["HOME"] = pw.pw_dir
    return subprocess.run(
        args, capture_output=True, text=True, env=env, cwd="/", check=False, **kwargs  # type: ignore[call-overload]
    )


def _own(b: Broker, path: Path, mode: int) -> None:
    if b.os_user:
        pw = pwd.getpwnam(b.os_user)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    path.chmod(mode)


def _config(b: Broker, max_packet: int) -> str:
    return f"""# Written by gridwatch ('gridwatch broker start'); rewritten at each start.
# docs/streams.md explains every line.
per_listener_settings false
listener {b.port} {HOST}
allow_anonymous false
password_file {b.passwd}
persistence true
persistence_location {b.persistence_dir}
persistence_file mosquitto.db
autosave_interval {AUTOSAVE_SECONDS}
autosave_on_changes false
max_queued_messages {MAX_QUEUED_MESSAGES}
max_queued_bytes 0
queue_qos0_messages false
max_inflight_messages {MAX_INFLIGHT_MESSAGES}
max_packet_size {max_packet}
set_tcp_nodelay true
pid_file {b.pidfile}
log_dest file {b.logfile}
log_type error
log_type warning
log_type notice
log_type information
log_timestamp_format %Y-%m-%dT%H:%M:%S
"""


def init(settings: Settings) -> Broker:
    """Create the broker's directory, configuration and password file (hashed by mosquitto_passwd)."""
    b = broker(settings)
    mosquitto_bin()
    password = _password(settings, create=True)
    wanted = settings.data_dir.resolve()
    if b.home.parent != wanted:  # relocated
        RELOCATED_ROOT.mkdir(parents=True, exist_ok=True)
        RELOCATED_ROOT.chmod(0o755)
        b.home.parent.mkdir(parents=True, exist_ok=True)
        b.home.parent.chmod(0o755)
        wanted.mkdir(parents=True, exist_ok=True)
        (wanted / "BROKER_LOCATION").write_text(
            f"The embedded MQTT broker of this directory lives in {b.home}: the broker user "
            f"'{b.os_user}' cannot reach {wanted}.\n", encoding="utf-8")
    b.home.mkdir(parents=True, exist_ok=True)
    _own(b, b.home, 0o700)
    b.persistence_dir.mkdir(exist_ok=True)
    _own(b, b.persistence_dir, 0o700)
    probe_run = _run(b, ["/usr/bin/test", "-w", str(b.home)])
    if probe_run.returncode != 0:
        raise BrokerError(
            f"the broker user '{b.os_user}' cannot reach {b.home}; "
            "set GRIDWATCH_DATA_DIR to a directory it can traverse")
    # A larger packet disconnects its sender before the broker holds it: bounded memory in
    # the broker and in the consumer (GRIDWATCH_STREAM_MAX_PAYLOAD_BYTES plus the headers).
    max_packet = settings.stream_max_payload_bytes + PACKET_HEADROOM
    b.conf.write_text(_config(b, max_packet), encoding="utf-8")
    _own(b, b.conf, 0o600)
    # mosquitto_passwd -U hashes a plain "user:password" file in place: the password never
    # appears on a command line, and the plain copy lives only in the broker's 0700 home.
    plain = b.home / f".passwd-{secrets.token_hex(8)}"
    fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"{USER}:{password}\n")
    try:
        _own(b, plain, 0o600)
        done = _run(b, ["mosquitto_passwd", "-U", str(plain)])
        if done.returncode != 0 or f"{USER}:{password}" in plain.read_text(encoding="utf-8"):
            message = (done.stderr or done.stdout).strip().splitlines()
            raise BrokerError(
                "mosquitto_passwd failed: " + (message[-1] if message else "unknown"))
        plain.replace(b.passwd)
        _own(b, b.passwd, 0o600)
    finally:
        plain.unlink(missing_ok=True)
    return b


def _pid(b: Broker) -> int | None:
    """The broker's process id, when its pid file names a live mosquitto using our config."""
    try:
        pid = int(b.pidfile.read_text(encoding="ascii").strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if str(b.conf).encode() not in cmdline or not any(
        Path(a.decode(errors="replace")).name == "mosquitto" for a in cmdline[:1]
    ):
        return None
    return pid


def is_running(b: Broker) -> bool:
    """True when the broker process of this data dir is alive."""
    return _pid(b) is not None


def _log_tail(b: Broker) -> str:
    try:
        lines = b.logfile.read_text(errors="replace").strip().splitlines()[-3:]
    except OSError:
        return ""
    return " | ".join(lines)


def start(settings: Settings) -> Broker:
    """Start the embedded broker (idempotent); return once it accepts an authenticated client."""
    if not is_embedded(settings):
        raise BrokerError("there is no embedded broker: GRIDWATCH_MQTT_URL is set")
    b = broker(settings)
    if not is_running(b):
        b = init(settings)
        if not b.logfile.exists():
            b.logfile.touch()
        _own(b, b.logfile, 0o600)
        b.pidfile.unlink(missing_ok=True)
        log.info("starting the embedded MQTT broker on %s:%s", HOST, b.port)
        proc = _run(b, [str(mosquitto_bin()), "-c", str(b.conf), "-d"])
        if proc.returncode != 0:
            why = (proc.stderr or proc.stdout).strip().splitlines()
            raise BrokerError("the embedded broker did not start: "
                              + (why[-1] if why else _log_tail(b) or "unknown"))
    conn = connection(settings)
    began = time.monotonic()
    while True:
        problem = probe(conn, timeout=2.0)
        if problem is None:
            return b
        waited = time.monotonic() - began
        if waited > START_TIMEOUT_SECONDS or (not is_running(b) and waited > 2.0):
            raise BrokerError(
                f"the embedded broker did not start on {HOST}:{b.port} ({problem}): "
                + (_log_tail(b) or f"see {b.logfile}"))
        time.sleep(0.2)


def stop(settings: Settings) -> bool:
    """Stop the embedded broker (it saves its persistence file first); False when not running."""
    if not is_embedded(settings):
        raise BrokerError("there is no embedded broker: GRIDWATCH_MQTT_URL is set")
    b = broker(settings)
    pid = _pid(b)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while _pid(b) == pid:
        if time.monotonic() > deadline:
            raise BrokerError(f"the embedded broker (pid {pid}) did not stop within "
                              f"{STOP_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.05)
    return True


def destroy(settings: Settings) -> None:
    """Stop the broker and delete its files (tests); the password file is kept."""
    stop(settings)
    shutil.rmtree(broker(settings).home, ignore_errors=True)
