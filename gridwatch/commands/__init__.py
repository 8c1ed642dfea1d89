"""Subcommand groups of the ``gridwatch`` command; each module has ``register(cli)``."""
