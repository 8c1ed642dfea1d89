"""The planners' map cache: county reliability and status counts kept per change stamp.

``map_cache`` holds, per key (``reliability:county:<period>``, ``status_counts:<county>``), a
value computed from the data and the change stamps (migration 0097) it was computed under.
A reader uses the value only while the stamps are unchanged (monitoring.reliability.cache).

Two more stamp names cover what the cached figures are made of:

- ``interruptions``: ``outage_record`` (a hypertable: TimescaleDB has no transition tables
  there, so every INSERT, UPDATE or DELETE statement counts, even one that changed no row) and
  ``inferred_interruption`` (only statements that changed a row's interval);
- ``regions``: ``asset_region`` (an asset's county or prefecture) and ``admin_division``.

``area`` (customers, feeder of an area) and ``status:*`` are stamped already.

Revision ID: 0099
Revises: 0098
Create Date: 2026-11-28
"""

from alembic import op

revision = "0099"
down_revision = "0098"
branch_labels = None
depends_on = None

_NOTE = {
    "inferred_interruption": {
        "insert": "SELECT ARRAY['interruptions'] FROM n LIMIT 1",
        "update": """SELECT ARRAY['interruptions'] FROM (
                       (SELECT area_id, start_time, end_time FROM n
                        EXCEPT SELECT area_id, start_time, end_time FROM o)
                       UNION ALL
                       (SELECT area_id, start_time, end_time FROM o
                        EXCEPT SELECT area_id, start_time, end_time FROM n)) d LIMIT 1""",
        "delete": "SELECT ARRAY['interruptions'] FROM o LIMIT 1",
        "truncate": "SELECT ARRAY['interruptions']",
    },
    "asset_region": {
        "insert": "SELECT ARRAY['regions'] FROM n LIMIT 1",
        "update": """SELECT ARRAY['regions'] FROM (
                       (SELECT asset_type, asset_id, county_adcode, prefecture_adcode FROM n
                        EXCEPT SELECT asset_type, asset_id, county_adcode, prefecture_adcode FROM o)
                       UNION ALL
                       (SELECT asset_type, asset_id, county_adcode, prefecture_adcode FROM o
                        EXCEPT SELECT asset_type, asset_id, county_adcode, prefecture_adcode FROM n)) d
                     LIMIT 1""",
        "delete": "SELECT ARRAY['regions'] FROM o LIMIT 1",
        "truncate": "SELECT ARRAY['regions']",
    },
    "admin_division": {
        "insert": "SELECT ARRAY['regions'] FROM n LIMIT 1",
        "update": "SELECT ARRAY['regions'] FROM n LIMIT 1",
        "delete": "SELECT ARRAY['regions'] FROM o LIMIT 1",
        "truncate": "SELECT ARRAY['regions']",
    },
}
_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS n",
    "update": "REFERENCING OLD TABLE AS o NEW TABLE AS n",
    "delete": "REFERENCING OLD TABLE AS o",
    "truncate": "",
}
# The hypertable: plain statement triggers (no transition tables).
_HYPERTABLE = ("outage_record", ("insert", "update", "delete"))


def _functions() -> list[tuple[str, str]]:
    out = [(f"change_stamp_{t}_{e}", t) for t, events in _NOTE.items() for e in events]
    out += [(f"change_stamp_{_HYPERTABLE[0]}_{e}", _HYPERTABLE[0]) for e in _HYPERTABLE[1]]
    return out


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE map_cache (
            key         text PRIMARY KEY,
            stamp       text NOT NULL,
            computed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            seconds     double precision,
            value       jsonb NOT NULL
        );
        """
    )
    for table, events in _NOTE.items():
        for event, names_sql in events.items():
            fn = f"change_stamp_{table}_{event}"
            op.execute(
                f"""
                CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM change_stamp_note(({names_sql}));
                    RETURN NULL;
                END $$;
                CREATE TRIGGER {fn} AFTER {event.upper()} ON {table} {_REFERENCING[event]}
                    FOR EACH STATEMENT EXECUTE FUNCTION {fn}();
                """
            )
    hypertable, hyper_events = _HYPERTABLE
    for event in hyper_events:
        fn = f"change_stamp_{hypertable}_{event}"
        op.execute(
            f"""
            CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM change_stamp_note(ARRAY['interruptions']);
                RETURN NULL;
            END $$;
            CREATE TRIGGER {fn} AFTER {event.upper()} ON {hypertable}
                FOR EACH STATEMENT EXECUTE FUNCTION {fn}();
            """
        )
    op.execute(
        """
        INSERT INTO change_stamp (name)
        SELECT 'interruptions' WHERE EXISTS (SELECT 1 FROM outage_record)
                                  OR EXISTS (SELECT 1 FROM inferred_interruption)
        UNION ALL SELECT 'regions' WHERE EXISTS (SELECT 1 FROM asset_region)
                                      OR EXISTS (SELECT 1 FROM admin_division)
        ON CONFLICT (name) DO NOTHING;
        """
    )


def downgrade() -> None:
    for fn, table in _functions():
        op.execute(f"DROP TRIGGER IF EXISTS {fn} ON {table}; DROP FUNCTION IF EXISTS {fn}();")
    op.execute("DROP TABLE IF EXISTS map_cache;")
