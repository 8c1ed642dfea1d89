"""Settings, built from the environment (prefix ``GRIDWATCH_``) by ``get_settings()``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_RETENTION_DAYS = 365 + 92
"""The shortest meter-event retention: a year plus one quarter (SPEC section 17)."""


class Settings(BaseSettings):
    """Every setting gridwatch has; each can be set as ``GRIDWATCH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_", extra="ignore")

    # Database
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset means the embedded database."
    )
    read_database_url: str | None = Field(
        default=None, description="Read replica URL(s), comma-separated postgresql:// URLs (their "
        "passwords are secrets: never logged). Read-only routes read from them, round-robin among "
        "those that answer; writes, ingest, jobs and the stream consumer use the primary.",
    )
    data_dir: Path = Field(default=Path(".gridwatch"), description="Embedded database home.")
    db_port: int = Field(default=54329, ge=1024, le=65535)
    db_user: str = "gridwatch"
    db_name: str = "gridwatch"
    pg_bin: Path | None = Field(default=None, description="PostgreSQL bin directory override.")

    # Live streams (SPEC section 12)
    mqtt_url: str | None = Field(
        default=None, description="MQTT broker URL (mqtt:// or mqtts://user:password@host:port); "
        "unset means the embedded Mosquitto that 'gridwatch broker' manages.",
    )
    mqtt_port: int = Field(
        default=1884, ge=1024, le=65535, description="Port of the embedded broker on 127.0.0.1.")

    # The stream consumer (SPEC section 12)
    stream_batch_seconds: float = Field(
        default=1.0, gt=0, le=60,
        description="A micro-batch is committed this long after its first message at the latest.")
    stream_batch_rows: int = Field(
        default=20_000, ge=1, description="... or as soon as it holds this many rows.")
    stream_client_id: str | None = Field(
        default=None, max_length=64,
        description="MQTT client id of the consumer's persistent session (default "
        "'gridwatch-<host name>'); each consumer process needs its own.")
    stream_session_hours: float = Field(
        default=168.0, gt=0, description="How long the broker keeps a stopped consumer's "
        "session and queues its messages.")
    stream_max_payload_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024,
        description="A larger message is rejected whole without being parsed.")
    stream_event_codes: dict[str, Literal["off", "on"]] = Field(
        default={"3.26.0.85": "off", "3.26.0.216": "on"},
        description="IEC 61968-9 EndDeviceEventType codes that mean a meter's power went off "
        "or came back on (JSON object), used when an event carries 'code' instead of 'kind'.")

    # Interruption rules (SPEC section 3)
    meter_off_fraction: float = Field(default=0.5, gt=0, le=1)
    short_interruption_minutes: float = Field(default=3.0, ge=0)
    refresh_workers: int = Field(
        default=0, ge=0, le=8,
        description="Connections that refresh inferred interruptions side by side after a "
        "large ingest; 0 means one per CPU, at most 4.",
    )

    # Frequent-outage rule (SPEC section 4)
    frequent_year_limit: int = Field(default=5, ge=1)
    frequent_window_limit: int = Field(default=3, ge=1)
    frequent_window_days: int = Field(default=60, ge=1)
    frequent_year_days: int = Field(default=365, ge=1)

    # Tags (SPEC section 6)
    tag_min_share: float = Field(default=0.5, gt=0, le=1)

    # Alerts (SPEC section 7)
    webhook_url: str | None = Field(
        default=None, description="Alertmanager-style webhook; read by the sender at send time, "
        "never stored with the deliveries.",
    )
    alert_repeat_hours: float = Field(default=24.0, gt=0)
    webhook_retry_seconds: float = Field(
        default=30.0, gt=0, description="Wait before retrying a failed webhook delivery; "
        "doubles with each failure.",
    )
    webhook_retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="The longest wait between two webhook retries.")
    webhook_give_up_hours: float = Field(
        default=24.0, gt=0, description="A webhook delivery still failing this long after it "
        "was queued is marked failed.",
    )
    notify_gateway_url: str | None = Field(
        default=None, description="The notification gateway (SMS or WeChat) webhook that customer "
        "notifications are posted to (SPEC section 13); read by the sender at send time, never "
        "stored or logged. Retries use the webhook_retry_* and webhook_give_up_hours settings.",
    )
    notify_gateway_immediate: bool = Field(
        default=True, description="Right after an ingest or stream batch queued customer "
        "notifications, send them in a background thread instead of at the next per-minute "
        "delivery job.",
    )
    alertmanager_url: str | None = Field(
        default=None, description="Prometheus Alertmanager base URL(s), comma-separated (e.g. "
        "http://127.0.0.1:9093): alerts are pushed to each one's API v2 (POST /api/v2/alerts) "
        "by the delivery job; read at send time, never stored.",
    )
    alertmanager_resend_seconds: float = Field(
        default=60.0, ge=5, le=86_400,
        description="A firing alert is posted to the Alertmanager again this often, with "
        "endsAt four times this far ahead; set it to how often the delivery job runs (the "
        "scheduler's is every minute).",
    )
    open_outage_hours: float = Field(default=72.0, gt=0)
    silent_meter_hours: float = Field(default=72.0, gt=0)
    unexplained_off_rate: float = Field(default=0.2, ge=0, le=1)

    # Remediation (SPEC section 8)
    verification_days: int = Field(default=60, ge=0)

    # Planning rules (SPEC section 14, docs/planning.md)
    repeat_planned_days: float = Field(
        default=90.0, gt=0, le=3660, description="Two planned interruptions of an area that "
        "start at most this many days apart are a repeat_planned finding (一停多用).")
    merge_candidate_days: float = Field(
        default=14.0, ge=0, le=3660, description="Outage works on one feeder that start at "
        "most this many days apart are merge candidates.")
    arrears_notice_hours: float = Field(
        default=72.0, gt=0, description="An arrears disconnection that needs a pre-report "
        "must be reported this long before its planned start.")
    arrears_households_limit: int = Field(
        default=50, ge=0, description="A pre-report is needed above this many households of "
        "one compound on one day (or for an important user).")
    arrears_alert_hours: float = Field(
        default=24.0, gt=0, description="A pre-report still due this close to its deadline "
        "raises the alert arrears_prereport_due.")

    # Distributed-PV hosting capacity (SPEC section 15, docs/hosting-capacity.md)
    hosting_beta: float = Field(
        default=0.8, gt=0, le=1, description="β, the largest reverse load rate of a "
        "transformer (DL/T 2041): the share of its capacity PV may feed back.")
    hosting_cos_phi: float = Field(
        default=0.95, gt=0, le=1, description="cos φ, the power factor at which the "
        "transformer's kVA become kW.")
    hosting_tau: float = Field(
        default=1.0, gt=0, le=1, description="τ, the PV output coefficient: the largest share of "
        "installed PV kW that is output at once.")

    # Connection time limits (SPEC section 16, docs/connections.md)
    holidays_file: Path | None = Field(
        default=None, description="A CSV of date,kind[,name] rows (kind holiday or workday) "
        "that adds or replaces whole years of the working-day calendar (core/workdays.py).")

    # Retention
    meter_event_retention_days: int = Field(
        default=3 * 365,
        description="Raw meter events are kept this many days (at least 457); older events are "
        "dropped nightly, and a late event older than that is rejected.",
    )

    # HTTP and maps
    host: str = "127.0.0.1"
    port: int = 8000
    basemap: Literal["none", "osm", "tianditu"] = "none"
    tianditu_key: str | None = None
    map_review_number: str | None = None
    map_inline_features: int = Field(
        default=3000, ge=0, description="Above this many features a map layer uses vector tiles."
    )
    language: Literal["zh-CN", "en"] = Field(
        default="zh-CN",
        description="The pages' language when neither the page's switch nor the browser's "
                    "Accept-Language chooses one (the command line and logs stay in English).",
    )
    live_refresh_seconds: int = Field(
        default=30, ge=2, le=3600,
        description="How often the overview map's live-outage layer and summary refresh themselves.",
    )
    max_body_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024,
        description="Largest request body on every route except ingest (which uses "
        "max_body_bytes); larger bodies get 413 before they are read.",
    )
    trusted_proxies: str = Field(
        default="", description="Comma-separated IPs or CIDRs of reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed; empty trusts none.",
    )
    public_rate_per_minute: int = Field(
        default=120, ge=1, le=1_000_000,
        description="Requests a minute each client address may make to the public routes "
        "(/public/outages.json, /public/lookup, /public/hosting-capacity.json); past it, 429 "
        "with Retry-After.",
    )
    max_rejects_per_batch: int = Field(
        default=10_000, ge=1,
        description="Rejected rows one ingest batch may have; past it the batch is refused whole.",
    )
    scheduler: bool = True

    # Prometheus metrics (docs/operations.md)
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="When set, 'gridwatch serve' answers GET /metrics only on this port, with "
        "no key; when unset, /metrics is on the API's port and needs a planner or admin key.",
    )
    metrics_host: str | None = Field(
        default=None, description="Address the metrics port listens on (default: the API's host).")
    stream_metrics_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="When set, 'gridwatch stream' answers GET /metrics on this port, with no key.",
    )

    @field_validator("meter_event_retention_days")
    @classmethod
    def _retention_covers_rules(cls, value: int) -> int:
        """A year plus a quarter: the longest look-back of a rule, plus late data (SPEC 17)."""
        if value < MIN_RETENTION_DAYS:
            raise ValueError(
                f"GRIDWATCH_METER_EVENT_RETENTION_DAYS must be at least {MIN_RETENTION_DAYS} "
                f"(365 days plus one quarter of 92 days), not {value}: the rules look back a "
                "year, and late events within that year must still be accepted"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _psycopg_scheme(cls, value: str | None) -> str | None:
        """Force the psycopg 3 driver in SQLAlchemy URLs."""
        if value is None or value == "":
            return None
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if not value.startswith("postgresql+psycopg://"):
            raise ValueError("GRIDWATCH_DATABASE_URL must be a postgresql:// URL")
        return value

    @field_validator("read_database_url")
    @classmethod
    def _read_urls(cls, value: str | None) -> str | None:
        """Comma-separated postgresql:// URLs, each forced to the psycopg 3 driver."""
        urls = []
        for raw in (value or "").split(","):
            url = raw.strip()
            if not url:
                continue
            for prefix in ("postgres://", "postgresql://"):
                if url.startswith(prefix):
                    url = "postgresql+psycopg://" + url[len(prefix) :]
            if not url.startswith("postgresql+psycopg://"):
                # never echo the value: it may hold a password
                raise ValueError("GRIDWATCH_READ_DATABASE_URL must be postgresql:// URLs separated by commas")
            urls.append(url)
        return ",".join(urls) or None

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: str | None) -> str | None:
        """An ``mqtt://`` or ``mqtts://`` URL with a host; empty means the embedded broker."""
        from urllib.parse import urlsplit

        if value is None or value.strip() == "":
            return None
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError("GRIDWATCH_MQTT_URL is not a valid URL") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("GRIDWATCH_MQTT_URL must be an mqtt:// or mqtts:// URL with a host")
        return value.strip()

    @field_validator("alertmanager_url")
    @classmethod
    def _alertmanager_urls(cls, value: str | None) -> str | None:
        """Comma-separated http(s) URLs with a host; empty means no Alertmanager."""
        from urllib.parse import urlsplit

        urls = [u.strip().rstrip("/") for u in (value or "").split(",") if u.strip()]
        for url in urls:
            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018 - raises ValueError on a bad port
            except ValueError:
                raise ValueError("GRIDWATCH_ALERTMANAGER_URL holds a URL that is not valid") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("GRIDWATCH_ALERTMANAGER_URL must be http:// or https:// URLs "
                                 "with a host, separated by commas")
        return ",".join(urls) or None

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        """Each entry must be an IP address or a CIDR network."""
        import ipaddress

        entries = [e.strip() for e in (value or "").split(",") if e.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"GRIDWATCH_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network"
                ) from None
        return ",".join(entries)

    @model_validator(mode="after")
    def _tianditu_needs_key(self) -> Settings:
        if self.basemap == "tianditu" and not self.tianditu_key:
            raise ValueError("basemap 'tianditu' needs GRIDWATCH_TIANDITU_KEY")
        return self

    @property
    def embedded(self) -> bool:
        """True when gridwatch manages its own local cluster."""
        return self.database_url is None

    def secret_file(self, role: str) -> Path:
        """The password file of an embedded-database role (mode 0600, under the data dir)."""
        return self.data_dir.resolve() / "secrets" / f"{role}.password"

    def sqlalchemy_url(self) -> str:
        """The URL SQLAlchemy uses (``postgresql+psycopg://``).

        For the embedded database the password comes from its file (readable only by the
        account that created the cluster); without it the URL has none, and connecting fails
        with PostgreSQL's own "password authentication failed".
        """
        if self.database_url:
            return self.database_url
        credentials = self.db_user
        try:
            credentials += ":" + self.secret_file(self.db_user).read_text(encoding="ascii").strip()
        except OSError:
            pass
        return f"postgresql+psycopg://{credentials}@127.0.0.1:{self.db_port}/{self.db_name}"

    def read_urls(self) -> list[str]:
        """The read replicas' libpq URLs (``postgresql://``), in the configured order."""
        return [u.replace("postgresql+psycopg://", "postgresql://", 1)
                for u in (self.read_database_url or "").split(",") if u]

    def redacted_url(self) -> str:
        """The libpq URL with any password replaced by ``***`` (for messages and logs)."""
        from sqlalchemy.engine import make_url

        return make_url(self.libpq_url()).render_as_string(hide_password=True)

    def libpq_url(self) -> str:
        """The same URL in the plain libpq form that psycopg.connect accepts."""
        return self.sqlalchemy_url().replace("postgresql+psycopg://", "postgresql://", 1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
