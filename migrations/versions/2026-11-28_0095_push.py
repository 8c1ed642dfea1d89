"""Push notifications to customers (SPEC section 13, task 54): subscriptions and their notices.

``push_subscription`` holds one row per meter and channel (the customer-service system's
subscriptions). ``push_notification`` holds one row per notification to one subscriber, with
its delivery attempts like ``alert_delivery``; its unique key (the event, the meter, the
channel) keeps a change from ever being queued twice. ``push_work_notice`` records each
version of a maintenance work that subscribers were told about, and when. ``live_outage``
remembers the estimated restoration last announced, so that only a change of more than 30
minutes from it is announced again.

Revision ID: 0095
Revises: 0094
Create Date: 2026-11-28
"""

from alembic import op

revision = "0095"
down_revision = "0094"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE push_subscription (
            meter_id   text NOT NULL,
            channel    text NOT NULL CHECK (channel IN ('sms', 'wechat')),
            contact    text CHECK (char_length(contact) BETWEEN 1 AND 128),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (meter_id, channel)
        );

        CREATE TABLE push_work_notice (
            work_id       text NOT NULL,
            seq           integer NOT NULL CHECK (seq >= 1),
            asset_type    text NOT NULL,
            asset_id      text NOT NULL,
            planned_start timestamptz NOT NULL,
            planned_end   timestamptz NOT NULL,
            method        text,
            noticed_at    timestamptz NOT NULL,
            notice_late   boolean NOT NULL,
            PRIMARY KEY (work_id, seq)
        );

        CREATE TABLE push_notification (
            id              bigserial PRIMARY KEY,
            event_key       text NOT NULL,
            kind            text NOT NULL CHECK (kind IN
                              ('outage_start', 'restoration', 'estimate_changed', 'planned_work')),
            meter_id        text NOT NULL,
            channel         text NOT NULL,
            contact         text,
            area_id         text NOT NULL,
            since           timestamptz,
            cause           text,
            estimated_end   timestamptz,
            progress        text,
            restored_at     timestamptz,
            work_id         text,
            planned_start   timestamptz,
            planned_end     timestamptz,
            method          text,
            notice_late     boolean,
            status          text NOT NULL DEFAULT 'queued'
                              CHECK (status IN ('queued', 'sent', 'failed')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL,
            last_attempt_at timestamptz,
            sent_at         timestamptz,
            http_status     integer,
            last_error      text,
            created_at      timestamptz NOT NULL,
            UNIQUE (event_key, meter_id, channel)
        );
        CREATE INDEX push_notification_due_idx ON push_notification (next_attempt_at)
            WHERE status = 'queued';
        CREATE INDEX push_notification_meter_idx ON push_notification (meter_id, created_at DESC);

        ALTER TABLE live_outage
            ADD COLUMN announced_end timestamptz,
            ADD COLUMN announced_seq integer NOT NULL DEFAULT 0;
        UPDATE live_outage SET announced_end = estimated_end;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE live_outage DROP COLUMN IF EXISTS announced_seq,
                                DROP COLUMN IF EXISTS announced_end;
        DROP TABLE IF EXISTS push_notification;
        DROP TABLE IF EXISTS push_work_notice;
        DROP TABLE IF EXISTS push_subscription;
        """
    )
