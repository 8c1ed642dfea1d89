"""Outage records: the estimated restoration and the repair progress (SPEC section 13).

Revision ID: 0094
Revises: 0093
Create Date: 2026-11-28
"""

from alembic import op

revision = "0094"
down_revision = "0093"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE outage_record
            ADD COLUMN estimated_end timestamptz,
            ADD COLUMN progress text CHECK (progress IN
                ('reported', 'dispatched', 'on_site', 'repairing', 'restored'));
        ALTER TABLE live_outage
            ADD CONSTRAINT live_outage_progress_check CHECK (progress IN
                ('reported', 'dispatched', 'on_site', 'repairing', 'restored'));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE live_outage DROP CONSTRAINT IF EXISTS live_outage_progress_check;
        ALTER TABLE outage_record DROP COLUMN IF EXISTS progress,
                                  DROP COLUMN IF EXISTS estimated_end;
        """
    )
