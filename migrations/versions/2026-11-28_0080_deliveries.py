"""Webhook deliveries: no URL per row, one pending repeat per alert, lost notifications queued.

The sender resolves the webhook URL from its own settings when it sends, so the ``url``
column (which copied any token in the URL into every row) is dropped. Firing alerts that were
raised by a process without a webhook, and so never got a notification queued, get their
'first' one now.

Revision ID: 0080
Revises: 0030
Create Date: 2026-11-28
"""

from alembic import op

revision = "0080"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE alert_delivery DROP COLUMN IF EXISTS url;

        -- The old repeat logic could queue a repeat while an earlier one still waited: keep
        -- the latest pending repeat of each alert, so that at most one is pending.
        UPDATE alert_delivery d SET status = 'failed', error = 'superseded by a later repeat'
         WHERE d.status = 'pending' AND d.reason = 'repeat'
           AND EXISTS (SELECT 1 FROM alert_delivery n
                        WHERE n.alert_id = d.alert_id AND n.status = 'pending'
                          AND n.reason = 'repeat' AND n.id > d.id);
        CREATE UNIQUE INDEX alert_delivery_one_pending_repeat ON alert_delivery (alert_id)
            WHERE status = 'pending' AND reason = 'repeat';

        INSERT INTO alert_delivery (alert_id, reason, next_attempt_at, created_at)
        SELECT a.id, 'first', now(), now()
          FROM alert a
         WHERE a.state = 'firing'
           AND NOT EXISTS (SELECT 1 FROM alert_delivery d
                            WHERE d.alert_id = a.id AND d.reason IN ('first', 'repeat'));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS alert_delivery_one_pending_repeat;
        ALTER TABLE alert_delivery ADD COLUMN IF NOT EXISTS url text;
        """
    )
