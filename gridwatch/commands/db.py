"""``gridwatch db``: manage the embedded database and run migrations."""

from __future__ import annotations

import click

from core import embedded
from core.db import check_database, get_engine
from core.errors import UsageError
from gridwatch.context import settings


@click.group("db")
def db() -> None:
    """Manage the database: start, stop, status, url, upgrade (migrations)."""


@db.command("start")
def start() -> None:
    """Create (once) and start the embedded PostgreSQL + PostGIS + TimescaleDB database."""
    s = settings()
    if not s.embedded:
        check_database(get_engine(s))
        click.echo("using GRIDWATCH_DATABASE_URL; nothing to start")
        return
    c = embedded.start(s)
    click.echo(f"database running on 127.0.0.1:{c.port} (data in {c.pgdata})")


@db.command("stop")
def stop() -> None:
    """Stop the embedded database."""
    s = settings()
    if not s.embedded:
        click.echo("using GRIDWATCH_DATABASE_URL; nothing to stop")
        return
    click.echo("database stopped" if embedded.stop(s) else "database was not running")


@db.command("status")
def status() -> None:
    """Say whether the database is reachable (exit 1 when it is not)."""
    s = settings()
    check_database(get_engine(s))
    click.echo(f"database reachable at {s.redacted_url()}")


@db.command("url")
def url() -> None:
    """Print the database URL with its password (accepted by psql, psycopg and SQLAlchemy)."""
    click.echo(settings().libpq_url())


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True, help="Target revision.")
def upgrade(revision: str) -> None:
    """Apply the database migrations (creates tables, hypertables and indexes)."""
    import migrations

    s = settings()
    check_database(get_engine(s))
    migrations.upgrade(s.sqlalchemy_url(), revision)
    click.echo("database schema is up to date")


@db.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
def downgrade(revision: str, yes: bool) -> None:
    """Revert migrations down to REVISION (``base`` removes every table and its data).

    Asks for confirmation, naming the database, unless ``--yes`` is given; without a terminal
    to ask on, it refuses (exit 2).
    """
    import sys

    import migrations

    s = settings()
    check_database(get_engine(s))
    target = s.redacted_url()
    what = "every gridwatch table and all its data" if revision == "base" else (
        f"the migrations after {revision}, with the tables and data they hold")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"'db downgrade {revision}' removes {what} from {target}; "
                "run it from a terminal to confirm, or add --yes")
        click.confirm(f"This removes {what} from {target}. Continue?", abort=True, err=True)
    migrations.downgrade(s.sqlalchemy_url(), revision)
    click.echo(f"database schema downgraded to {revision}")


def register(cli: click.Group) -> None:
    """Add the ``db`` group."""
    cli.add_command(db)
