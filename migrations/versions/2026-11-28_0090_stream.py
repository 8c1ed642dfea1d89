"""Streams: rejects of an MQTT batch say their topic, message and item.

Revision ID: 0090
Revises: 0010
Create Date: 2026-11-28
"""

from alembic import op

revision = "0090"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE ingest_reject
            ADD COLUMN topic   text,
            ADD COLUMN message integer,
            ADD COLUMN item    integer;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE ingest_reject
            DROP COLUMN IF EXISTS item,
            DROP COLUMN IF EXISTS message,
            DROP COLUMN IF EXISTS topic;
        """
    )
