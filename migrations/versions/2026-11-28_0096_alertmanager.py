"""Alertmanager sink: what each alert's last post to the Alertmanager(s) was, and its retries.

One row per alert that was firing while ``GRIDWATCH_ALERTMANAGER_URL`` was set.
``sent_state``/``sent_at``/``sent_ends_at`` say what the Alertmanagers last accepted (a firing
alert is posted again each resend interval; a resolved one once). ``status`` is ``ok``,
``retrying`` (``attempts`` failed posts since the last accepted one, the next at
``next_attempt_at``) or ``expired`` (the resolution could not be posted before the endsAt the
Alertmanager held, which then resolved the alert itself).

Revision ID: 0096
Revises: 0095
Create Date: 2026-11-28
"""

from alembic import op

revision = "0096"
down_revision = "0095"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE alert_alertmanager (
            alert_id        bigint PRIMARY KEY REFERENCES alert (id) ON DELETE CASCADE,
            sent_state      text CHECK (sent_state IN ('firing', 'resolved')),
            sent_at         timestamptz,
            sent_ends_at    timestamptz,
            status          text NOT NULL DEFAULT 'ok'
                              CHECK (status IN ('ok', 'retrying', 'expired')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL,
            last_attempt_at timestamptz,
            http_status     integer,
            error           text
        );
        -- The rows the delivery step still has work for (every minute): not the finished ones.
        CREATE INDEX alert_alertmanager_open_idx ON alert_alertmanager (alert_id)
            WHERE sent_state IS DISTINCT FROM 'resolved' AND status <> 'expired';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS alert_alertmanager;")
