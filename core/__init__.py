"""The ground: settings, database, clock and calendar, errors, logging."""
