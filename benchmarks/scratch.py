"""Scratch databases for the benchmarks: each run creates, migrates and drops its own.

Imported by the benchmark scripts as ``benchmarks.scratch`` (they put the repository root on
``sys.path``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from core import embedded
from core.settings import Settings


def server() -> Settings:
    """The configured server; the embedded cluster is started when it is the one configured."""
    settings = Settings()
    if settings.embedded:
        embedded.start(settings)
    return settings


def url_of(base_url: str, name: str) -> str:
    """``base_url`` with its database replaced by ``name`` (SQLAlchemy form, password kept)."""
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def libpq(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL in the form psycopg.connect takes."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(admin_conninfo(url), autocommit=True)


def admin_conninfo(url: str) -> str:
    """A superuser's connection to ``url``'s server (the embedded admin when it is embedded)."""
    settings = Settings()
    if settings.embedded:
        return embedded.admin_url(settings)
    return libpq(url_of(url, "postgres"))


def create(base_url: str, name: str, *, replace: bool = False, migrate: bool = True) -> str:
    """Create the database ``name`` on ``base_url``'s server and return its URL.

    ``replace`` drops a database of that name first; ``migrate`` applies the migrations (run
    by the service role, which owns the database).
    """
    if replace:
        with _admin(base_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    settings = Settings()
    owner = settings.db_user if settings.embedded else None
    embedded.provision(admin_conninfo(base_url), name=name, owner=owner)
    url = url_of(base_url, name)
    if migrate:
        import migrations

        migrations.upgrade(url)
    return url


def drop(url: str) -> None:
    """Drop the database of ``url`` (closing gridwatch's cached engines first)."""
    from core.db import dispose_engines

    dispose_engines()
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The best wall time of ``repeat`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def loadavg() -> str:
    """/proc/loadavg's first three figures (the machine is shared)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"
