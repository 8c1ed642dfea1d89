"""Settings, built from the environment (prefix ``GRIDWATCH_``) by ``get_settings()``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting gridwatch has; each can be set as ``GRIDWATCH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_", extra="ignore")

    # Database
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset means the embedded database."
    )
    data_dir: Path = Field(default=Path(".gridwatch"), description="Embedded database home.")
    db_port: int = Field(default=54329, ge=1024, le=65535)
    db_user: str = "gridwatch"
    db_name: str = "gridwatch"
    pg_bin: Path | None = Field(default=None, description="PostgreSQL bin directory override.")

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
    webhook_url: str | None = None
    alert_repeat_hours: float = Field(default=24.0, gt=0)
    open_outage_hours: float = Field(default=72.0, gt=0)
    silent_meter_hours: float = Field(default=72.0, gt=0)
    unexplained_off_rate: float = Field(default=0.2, ge=0, le=1)

    # Remediation (SPEC section 8)
    verification_days: int = Field(default=60, ge=0)

    # Retention
    meter_event_retention_days: int = Field(default=3 * 365, ge=1)

    # HTTP and maps
    host: str = "127.0.0.1"
    port: int = 8000
    basemap: Literal["none", "osm", "tianditu"] = "none"
    tianditu_key: str | None = None
    map_review_number: str | None = None
    map_inline_features: int = Field(
        default=3000, ge=0, description="Above this many features a map layer uses vector tiles."
    )
    max_body_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    scheduler: bool = True

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
