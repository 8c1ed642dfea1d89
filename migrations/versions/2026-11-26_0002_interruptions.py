"""Interruptions (SPEC section 3 steps 1 and 2): inferred intervals and the area/feeder views.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Intervals during which at least the configured fraction (and at least one) of an
        -- area's registered meters were off, inferred from meter events. Maintained by
        -- monitoring.interruptions for the areas and time ranges each ingest batch touched.
        CREATE TABLE inferred_interruption (
            area_id      text NOT NULL,
            start_time   timestamptz NOT NULL,
            end_time     timestamptz,
            meters_off   integer NOT NULL,
            meters_total integer NOT NULL,
            PRIMARY KEY (area_id, start_time),
            CHECK (end_time IS NULL OR end_time >= start_time)
        );
        CREATE INDEX inferred_interruption_time_idx ON inferred_interruption (start_time);

        -- Steps 1 and 2 of SPEC section 3 for areas: records on the area, records on its
        -- feeder, and inferred intervals that no such record overlaps in time (closed
        -- intervals: touching counts as overlapping; an open end is +infinity).
        CREATE VIEW area_interruption AS
        SELECT r.asset_id AS area_id, r.start_time, r.end_time, r.cause,
               'record'::text AS source, r.outage_id, r.work_id
          FROM outage_record r
         WHERE r.asset_type = 'area'
        UNION ALL
        SELECT a.area_id, r.start_time, r.end_time, r.cause,
               'feeder_record'::text, r.outage_id, r.work_id
          FROM outage_record r
          JOIN area a ON a.feeder_id = r.asset_id
         WHERE r.asset_type = 'feeder'
        UNION ALL
        SELECT i.area_id, i.start_time, i.end_time, 'unknown'::text,
               'inferred'::text, NULL::text, NULL::text
          FROM inferred_interruption i
          JOIN area a ON a.area_id = i.area_id
         WHERE NOT EXISTS (
                SELECT 1 FROM outage_record r
                 WHERE ((r.asset_type = 'area' AND r.asset_id = i.area_id)
                     OR (r.asset_type = 'feeder' AND r.asset_id = a.feeder_id))
                   AND r.start_time <= COALESCE(i.end_time, 'infinity'::timestamptz)
                   AND COALESCE(r.end_time, 'infinity'::timestamptz) >= i.start_time);

        -- Feeders: their own records only.
        CREATE VIEW feeder_interruption AS
        SELECT r.asset_id AS feeder_id, r.start_time, r.end_time, r.cause,
               'record'::text AS source, r.outage_id, r.work_id
          FROM outage_record r
         WHERE r.asset_type = 'feeder';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP VIEW IF EXISTS feeder_interruption;
        DROP VIEW IF EXISTS area_interruption;
        DROP TABLE IF EXISTS inferred_interruption;
        """
    )
