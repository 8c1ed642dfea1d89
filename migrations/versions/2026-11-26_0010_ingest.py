"""Ingest bookkeeping: batches, rejected rows, and the change log that monitoring reads.

Revision ID: 0010
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0010"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- One row per ingested file or HTTP body, with its accounting.
        CREATE TABLE ingest_batch (
            batch_id    bigserial PRIMARY KEY,
            source      text NOT NULL,
            kind        text NOT NULL CHECK (kind IN ('meter-events', 'outages', 'works')),
            started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
            finished_at timestamptz,
            accepted    integer NOT NULL DEFAULT 0,
            duplicates  integer NOT NULL DEFAULT 0,
            updated     integer NOT NULL DEFAULT 0,
            rejected    integer NOT NULL DEFAULT 0
        );
        CREATE INDEX ingest_batch_started_idx ON ingest_batch (started_at DESC);

        -- Every rejected row of a batch: where, which field, why.
        CREATE TABLE ingest_reject (
            batch_id bigint NOT NULL REFERENCES ingest_batch (batch_id) ON DELETE CASCADE,
            line     integer NOT NULL,
            field    text NOT NULL,
            reason   text NOT NULL
        );
        CREATE INDEX ingest_reject_batch_idx ON ingest_reject (batch_id, line);

        -- What each batch touched: an asset and a time range [from_time, to_time]
        -- (to_time NULL = open-ended). Meter events are logged per area; outage records per
        -- area (feeder records once per area of the feeder, plus the feeder itself); works
        -- per asset. monitoring.interruptions marks rows it has folded in.
        CREATE TABLE ingest_change (
            change_id    bigserial PRIMARY KEY,
            batch_id     bigint NOT NULL REFERENCES ingest_batch (batch_id) ON DELETE CASCADE,
            stream       text NOT NULL CHECK (stream IN ('meter-events', 'outages', 'works')),
            asset_type   text NOT NULL CHECK (asset_type IN ('feeder', 'area')),
            asset_id     text NOT NULL,
            from_time    timestamptz NOT NULL,
            to_time      timestamptz,
            created_at   timestamptz NOT NULL DEFAULT now(),
            refreshed_at timestamptz
        );
        CREATE INDEX ingest_change_pending_idx ON ingest_change (asset_type, asset_id)
            WHERE refreshed_at IS NULL;
        CREATE INDEX ingest_change_batch_idx ON ingest_change (batch_id);
        CREATE INDEX ingest_change_created_idx ON ingest_change (created_at);

        -- Maximal intervals during which at least one registered meter of an area is off.
        -- Kept beside inferred_interruption: just before a span starts every meter of the area
        -- is on, so a refresh can restart there without reading older history.
        CREATE TABLE area_meter_off_span (
            area_id    text NOT NULL,
            start_time timestamptz NOT NULL,
            end_time   timestamptz,
            PRIMARY KEY (area_id, start_time),
            CHECK (end_time IS NULL OR end_time >= start_time)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS area_meter_off_span;
        DROP TABLE IF EXISTS ingest_change;
        DROP TABLE IF EXISTS ingest_reject;
        DROP TABLE IF EXISTS ingest_batch;
        """
    )
