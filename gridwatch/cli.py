"""The ``gridwatch`` command line."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from core.errors import GridwatchError
from core.logging import configure

log = logging.getLogger(__name__)

# Each module in gridwatch/commands/ registers its commands.
COMMAND_MODULES = (
    "db",
    "broker",
    "replay",
    "load",
    "ingest",
    "stream",
    "monitor",
    "report",
    "alerts",
    "cases",
    "serve",
    "keys",
    "demo",
    "map",
)


class GridwatchGroup(click.Group):
    """A click group that turns domain errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; map errors to SPEC section 10's exit statuses."""
        debug = bool(ctx.params.get("debug")) or "--debug" in sys.argv
        try:
            return super().invoke(ctx)
        except GridwatchError as exc:
            if debug:
                raise
            click.echo(f"gridwatch: {exc.detail}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("gridwatch: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # the last line of defence: no traceback without --debug
            if debug:
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"gridwatch: {type(exc).__name__}: {first}", err=True)
            ctx.exit(1)


@click.group(cls=GridwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logging.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """gridwatch: outage monitoring for a provincial distribution grid.

    Loads feeders, transformer areas (台区) and meters with their maps, takes in meter
    events and outage records, flags frequent-outage areas and zero-perception maintenance
    misses, raises alerts, and produces the regulators' reports.

    The database is the embedded one under ./.gridwatch unless GRIDWATCH_DATABASE_URL is set.
    """
    configure(debug, tracebacks=debug or ctx.invoked_subcommand == "serve",
              service=ctx.invoked_subcommand in ("serve", "stream"))
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"gridwatch.commands.{name}").register(cli)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="gridwatch")
