"""Each meter's last event, kept as events arrive, for the meter alert rules.

The meter rules (silent_meter, unexplained_off) need every meter's last event. Computing it
from all stored events costs a pass over the whole history, too slow to run after every
stream batch; this table is kept from the ingest change log instead (each change row is
folded in once, marked by meter_last_at).

Revision ID: 0092
Revises: 0091
Create Date: 2026-11-28
"""

from alembic import op

revision = "0092"
down_revision = "0091"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE meter_last (
            meter_id text PRIMARY KEY,
            time     timestamptz NOT NULL,
            kind     text NOT NULL CHECK (kind IN ('off', 'on'))
        );
        CREATE INDEX meter_last_off_idx ON meter_last (time) WHERE kind = 'off';
        ALTER TABLE ingest_change ADD COLUMN meter_last_at timestamptz;
        CREATE INDEX ingest_change_meter_last_idx ON ingest_change (change_id)
            WHERE meter_last_at IS NULL AND stream = 'meter-events';
        INSERT INTO meter_last (meter_id, time, kind)
        SELECT DISTINCT ON (meter_id) meter_id, time, kind
          FROM meter_event
         ORDER BY meter_id, time DESC, kind DESC;
        UPDATE ingest_change SET meter_last_at = now() WHERE stream = 'meter-events';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS ingest_change_meter_last_idx;
        ALTER TABLE ingest_change DROP COLUMN IF EXISTS meter_last_at;
        DROP TABLE IF EXISTS meter_last;
        """
    )
