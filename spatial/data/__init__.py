"""Package data (shipped with the wheel)."""
