"""``gridwatch keys``: create, list and revoke API keys (stored hashed; shown once)."""

from __future__ import annotations

from pathlib import Path

import click

from api.keys import ROLES, create_key, list_keys, revoke_key
from gridwatch.context import emit_rows, format_options, session


@click.group("keys")
def keys() -> None:
    """Manage API keys for the HTTP API and maps (roles: ingest, planner, regulator, admin)."""


@keys.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the key may do.")
@click.option("--name", default=None, help="Who or what the key is for (shown in audit trails).")
def create(role: str, name: str | None) -> None:
    """Create a key and print it once (only its hash is stored)."""
    with session() as s:
        key_id, key = create_key(session=s, role=role, name=name)
    click.echo(key)
    click.echo(f"key {key_id} ({role}) created; store it now, it cannot be shown again", err=True)


@keys.command("list")
@format_options
def list_(fmt: str, out: Path | None) -> None:
    """List keys (never the keys themselves)."""
    with session() as s:
        rows = list_keys(session=s)
    emit_rows(rows, ["key_id", "name", "role", "prefix", "created_at", "revoked_at"], fmt, out, title="keys")


@keys.command("revoke")
@click.argument("key_id", type=int)
def revoke(key_id: int) -> None:
    """Revoke a key; it and its browser sessions stop working at once."""
    with session() as s:
        revoke_key(session=s, key_id=key_id)
    click.echo(f"key {key_id} revoked")


def register(cli: click.Group) -> None:
    """Add the ``keys`` group."""
    cli.add_command(keys)
