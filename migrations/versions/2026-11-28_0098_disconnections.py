"""Disconnections (SPEC section 14): planned customer disconnections and their pre-reports.

A plain table keyed by ``disconnection_id`` (a re-sent row replaces the stored one: that is how
``reported_at`` arrives after the fact), not a hypertable: a province plans some 10^5 a year,
and a hypertable's unique key would have to include ``planned_start``, which a replacement may
move. ``area_id`` has no foreign key, like ``maintenance_work``'s asset: a replacing areas load
must not be blocked by the plans that name an area. Ingest batches gain the kind
``disconnections``.

Revision ID: 0098
Revises: 0097
Create Date: 2026-11-28
"""

from alembic import op

revision = "0098"
down_revision = "0097"
branch_labels = None
depends_on = None

_KINDS_BEFORE = "'meter-events', 'outages', 'works'"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE disconnection (
            disconnection_id text PRIMARY KEY,
            area_id          text NOT NULL,
            compound         text,
            households       integer NOT NULL CHECK (households >= 0),
            important_user   boolean NOT NULL DEFAULT false,
            reason           text NOT NULL CHECK (reason IN ('arrears', 'safety', 'other')),
            planned_start    timestamptz NOT NULL,
            reported_at      timestamptz,
            batch_id         bigint,
            updated_at       timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX disconnection_start_idx ON disconnection (planned_start);
        CREATE INDEX disconnection_area_idx ON disconnection (area_id);

        ALTER TABLE ingest_batch DROP CONSTRAINT IF EXISTS ingest_batch_kind_check;
        ALTER TABLE ingest_batch ADD CONSTRAINT ingest_batch_kind_check
            CHECK (kind IN ({_KINDS_BEFORE}, 'disconnections'));
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DELETE FROM ingest_batch WHERE kind = 'disconnections';
        ALTER TABLE ingest_batch DROP CONSTRAINT IF EXISTS ingest_batch_kind_check;
        ALTER TABLE ingest_batch ADD CONSTRAINT ingest_batch_kind_check
            CHECK (kind IN ({_KINDS_BEFORE}));
        DROP TABLE IF EXISTS disconnection;
        """
    )
