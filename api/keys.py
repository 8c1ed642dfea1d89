"""API keys and browser sessions: created once, stored as sha256, revocable."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.adb import AsyncPool
from core.clock import utcnow
from core.errors import NotFound, UsageError

log = logging.getLogger(__name__)

ROLES = ("ingest", "planner", "regulator", "admin")
KEY_PREFIX = "gw_"
SESSION_HOURS = 12


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and role, and how it was presented."""

    key_id: int
    name: str
    role: str
    via: str = "key"


def hash_secret(secret: str) -> str:
    """The stored form of a key or session token (sha256 hex; the secrets are high-entropy)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(*, session: Session, role: str, name: str | None = None) -> tuple[int, str]:
    """Create a key with ``role``; returns (key_id, key). The key is never stored or shown again."""
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = session.execute(
        text("INSERT INTO api_key (name, role, key_hash, prefix) VALUES (:n, :r, :h, :p) RETURNING key_id"),
        {"n": name, "r": role, "h": hash_secret(key), "p": key[: len(KEY_PREFIX) + 6]},
    ).scalar_one()
    log.info("created API key %s (%s)", key_id, role)
    return int(key_id), key


def list_keys(*, session: Session) -> list[dict[str, Any]]:
    """Every key (never the secret): id, name, role, prefix, created_at, revoked_at."""
    rows = session.execute(
        text("SELECT key_id, name, role, prefix, created_at, revoked_at FROM api_key ORDER BY key_id")
    ).mappings()
    return [dict(r) for r in rows]


def revoke_key(*, session: Session, key_id: int, at: datetime | None = None) -> None:
    """Revoke a key (and end its browser sessions)."""
    found = session.execute(
        text("UPDATE api_key SET revoked_at = COALESCE(revoked_at, :at) WHERE key_id = :k RETURNING 1"),
        {"k": key_id, "at": at or utcnow()},
    ).first()
    if found is None:
        raise NotFound(f"no API key with id {key_id}")
    session.execute(text("DELETE FROM api_session WHERE key_id = :k"), {"k": key_id})


# Checked on every request, uncached, so that a revocation takes effect at once on every worker.
KEY_SQL = "SELECT key_id, name, role FROM api_key WHERE key_hash = %(h)s AND revoked_at IS NULL"
SESSION_SQL = (
    "SELECT k.key_id, k.name, k.role FROM api_session s JOIN api_key k USING (key_id) "
    "WHERE s.token_hash = %(h)s AND s.expires_at > now() AND k.revoked_at IS NULL"
)


def _principal(row: Any, via: str) -> Principal | None:
    if row is None:
        return None
    return Principal(key_id=int(row[0]), name=row[1] or f"key-{row[0]}", role=row[2], via=via)


def principal_for_key(*, session: Session, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None otherwise."""
    row = session.connection().exec_driver_sql(KEY_SQL, {"h": hash_secret(key)}).first()
    return _principal(row, "key")


def principal_for_session(*, session: Session, token: str) -> Principal | None:
    """The principal of an unexpired browser session whose key is still valid; None otherwise."""
    row = session.connection().exec_driver_sql(SESSION_SQL, {"h": hash_secret(token)}).first()
    return _principal(row, "session")


async def principal_for_key_async(*, pool: AsyncPool, key: str) -> Principal | None:
    """``principal_for_key`` on the async pool (one autocommit query)."""
    return _principal(await pool.fetchone(KEY_SQL, {"h": hash_secret(key)}), "key")


async def principal_for_session_async(*, pool: AsyncPool, token: str) -> Principal | None:
    """``principal_for_session`` on the async pool (one autocommit query)."""
    return _principal(await pool.fetchone(SESSION_SQL, {"h": hash_secret(token)}), "session")


def open_session(*, session: Session, key_id: int, hours: int = SESSION_HOURS) -> str:
    """Start a browser session for a key; returns the cookie token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(text("DELETE FROM api_session WHERE expires_at <= :now"), {"now": now})
    session.execute(
        text("INSERT INTO api_session (token_hash, key_id, expires_at) VALUES (:h, :k, :e)"),
        {"h": hash_secret(token), "k": key_id, "e": now + timedelta(hours=hours)},
    )
    return token


def close_session(*, session: Session, token: str) -> None:
    """End a browser session."""
    session.execute(text("DELETE FROM api_session WHERE token_hash = :h"), {"h": hash_secret(token)})
