"""The roof: the ``gridwatch`` command line that wires the rest together."""
