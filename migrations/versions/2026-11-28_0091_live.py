"""Live outages (SPEC section 13): the areas out now, kept current after every stream batch.

Revision ID: 0091
Revises: 0090, 0030
Create Date: 2026-11-28
"""

from alembic import op

revision = "0091"
down_revision = ("0090", "0030")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE live_outage (
            area_id       text PRIMARY KEY REFERENCES area (area_id) ON DELETE CASCADE,
            since         timestamptz NOT NULL,
            cause         text NOT NULL,
            customers     integer NOT NULL,
            source        text NOT NULL CHECK (source IN ('record', 'meters')),
            estimated_end timestamptz,
            progress      text,
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        -- Only open interruptions are read to build it: these indexes hold just those.
        CREATE INDEX inferred_interruption_open_idx ON inferred_interruption (area_id)
            WHERE end_time IS NULL;
        CREATE INDEX outage_record_open_idx ON outage_record (asset_type, asset_id)
            WHERE end_time IS NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS outage_record_open_idx;
        DROP INDEX IF EXISTS inferred_interruption_open_idx;
        DROP TABLE IF EXISTS live_outage;
        """
    )
