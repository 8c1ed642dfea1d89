"""Distributed-PV hosting capacity (SPEC section 15): its inputs and its per-quarter figures.

Inputs, plain tables keyed like their records (a re-sent row with changed values replaces the
stored one, as disconnections do):

- ``area_load``: one typical (spring/autumn working-day noon) load per area, ``area_id``;
- ``pv_unit``: one distributed-PV installation, ``pv_id``, with its area, kW and status
  (``registered``: approved, not yet connected; ``connected``).

Neither has a foreign key to ``area``: a replacing areas load must not be blocked by the
inputs that name an area (the ingest rejects an unknown area; the computation joins ``area``).

Results, kept per quarter so a published quarter can be reproduced (docs/hosting-capacity.md):

- ``hosting_run``: one row per computed quarter, with the parameters (β, cos φ, τ) used and
  when it was computed;
- ``hosting_area``: the figures and grade of every area in that quarter, with the feeder,
  county and centroid it had then;
- ``hosting_feeder``: the worst grade of each feeder's areas in that quarter.

The two have no foreign key to ``hosting_run``: its per-row check cost a second on 200,000
areas; the computation replaces a quarter's three parts in one transaction.

Two change-stamp names (migration 0097) cover the inputs: ``area_load`` and ``pv``. With
``area``, ``feeder`` and ``regions`` they tell whether the current quarter's stored figures are
still those of the inputs (``hosting_run.stamp``). A third, ``hosting``, moves with every
(re)computation (``hosting_run``): the map's hosting tiles are made from it.

Ingest batches gain the kinds ``area-loads`` and ``pv``.

Revision ID: 0100
Revises: 0099
Create Date: 2026-11-28
"""

from alembic import op

revision = "0100"
down_revision = "0099"
branch_labels = None
depends_on = None

_KINDS_BEFORE = "'meter-events', 'outages', 'works', 'disconnections'"
_GRADES = "'green', 'yellow', 'red', 'unassessed'"
_STAMPED = {"area_load": "area_load", "pv_unit": "pv", "hosting_run": "hosting"}
_EVENTS = {
    "insert": ("REFERENCING NEW TABLE AS n", "FROM n LIMIT 1"),
    "update": ("REFERENCING OLD TABLE AS o NEW TABLE AS n", "FROM n LIMIT 1"),
    "delete": ("REFERENCING OLD TABLE AS o", "FROM o LIMIT 1"),
    "truncate": ("", ""),
}


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE area_load (
            area_id         text PRIMARY KEY,
            typical_load_kw double precision NOT NULL CHECK (typical_load_kw >= 0),
            batch_id        bigint,
            updated_at      timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE pv_unit (
            pv_id      text PRIMARY KEY,
            area_id    text NOT NULL,
            kw         double precision NOT NULL CHECK (kw >= 0),
            status     text NOT NULL CHECK (status IN ('connected', 'registered')),
            batch_id   bigint,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX pv_unit_area_idx ON pv_unit (area_id);

        CREATE TABLE hosting_run (
            quarter     text PRIMARY KEY CHECK (quarter ~ '^[0-9]{{4}}Q[1-4]$'),
            computed_at timestamptz NOT NULL,
            stamp       text NOT NULL,
            beta        double precision NOT NULL,
            cos_phi     double precision NOT NULL,
            tau         double precision NOT NULL,
            areas       integer NOT NULL,
            feeders     integer NOT NULL
        );

        CREATE TABLE hosting_area (
            quarter       text NOT NULL,
            area_id       text NOT NULL,
            feeder_id     text,
            county        text,
            county_adcode text,
            lon           double precision,
            lat           double precision,
            s_kva         double precision,
            p_kw          double precision,
            s_d_kw        double precision,
            connected_kw  double precision NOT NULL,
            registered_kw double precision NOT NULL,
            c1_kw         double precision,
            c2_kw         double precision,
            grade         text NOT NULL CHECK (grade IN ({_GRADES})),
            PRIMARY KEY (quarter, area_id)
        );

        CREATE TABLE hosting_feeder (
            quarter   text NOT NULL,
            feeder_id text NOT NULL,
            grade     text NOT NULL CHECK (grade IN ({_GRADES})),
            PRIMARY KEY (quarter, feeder_id)
        );

        ALTER TABLE ingest_batch DROP CONSTRAINT IF EXISTS ingest_batch_kind_check;
        ALTER TABLE ingest_batch ADD CONSTRAINT ingest_batch_kind_check
            CHECK (kind IN ({_KINDS_BEFORE}, 'area-loads', 'pv'));
        """
    )
    for table, name in _STAMPED.items():
        for event, (referencing, source) in _EVENTS.items():
            fn = f"change_stamp_{table}_{event}"
            op.execute(
                f"""
                CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM change_stamp_note((SELECT ARRAY['{name}'] {source}));
                    RETURN NULL;
                END $$;
                CREATE TRIGGER {fn} AFTER {event.upper()} ON {table} {referencing}
                    FOR EACH STATEMENT EXECUTE FUNCTION {fn}();
                """
            )


def downgrade() -> None:
    for table in _STAMPED:
        for event in _EVENTS:
            fn = f"change_stamp_{table}_{event}"
            op.execute(f"DROP TRIGGER IF EXISTS {fn} ON {table}; DROP FUNCTION IF EXISTS {fn}();")
    op.execute(
        f"""
        DELETE FROM ingest_batch WHERE kind IN ('area-loads', 'pv');
        ALTER TABLE ingest_batch DROP CONSTRAINT IF EXISTS ingest_batch_kind_check;
        ALTER TABLE ingest_batch ADD CONSTRAINT ingest_batch_kind_check
            CHECK (kind IN ({_KINDS_BEFORE}));
        DROP TABLE IF EXISTS hosting_feeder;
        DROP TABLE IF EXISTS hosting_area;
        DROP TABLE IF EXISTS hosting_run;
        DROP TABLE IF EXISTS pv_unit;
        DROP TABLE IF EXISTS area_load;
        DELETE FROM change_stamp WHERE name IN ('area_load', 'pv', 'hosting');
        """
    )
