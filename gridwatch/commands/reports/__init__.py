"""One module per report; each has ``register(group)`` adding its subcommand to ``report``."""
