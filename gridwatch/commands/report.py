"""``gridwatch report``: the reports of SPEC section 9."""

from __future__ import annotations

import importlib
import pkgutil

import click

import gridwatch.commands.reports as reports_pkg


@click.group("report")
def report() -> None:
    """Produce reports as a table, json, csv (Excel-ready, UTF-8 with BOM) or xlsx."""


def register(cli: click.Group) -> None:
    """Add the ``report`` group with every report module found."""
    for mod in sorted(pkgutil.iter_modules(reports_pkg.__path__), key=lambda m: m.name):
        importlib.import_module(f"{reports_pkg.__name__}.{mod.name}").register(report)
    cli.add_command(report)
