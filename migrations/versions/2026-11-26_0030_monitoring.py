"""Monitoring: job runs, alerts and their webhook deliveries, incremental rule state.

Revision ID: 0030
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0030"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- One row per run of a monitoring job (monitoring.jobs).
        CREATE TABLE job_run (
            id          bigserial PRIMARY KEY,
            job         text NOT NULL,
            started_at  timestamptz NOT NULL,
            finished_at timestamptz,
            outcome     text NOT NULL DEFAULT 'running'
                          CHECK (outcome IN ('running', 'success', 'error', 'skipped')),
            rows        integer,
            detail      text
        );
        CREATE INDEX job_run_job_idx ON job_run (job, started_at DESC);

        -- SPEC section 7: one row per alert; at most one open (firing) per fingerprint.
        CREATE TABLE alert (
            id              bigserial PRIMARY KEY,
            fingerprint     text NOT NULL,
            rule            text NOT NULL,
            severity        text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
            subject_type    text NOT NULL,
            subject_id      text NOT NULL,
            state           text NOT NULL CHECK (state IN ('firing', 'resolved')),
            summary         text NOT NULL DEFAULT '',
            labels          jsonb NOT NULL DEFAULT '{}'::jsonb,
            annotations     jsonb NOT NULL DEFAULT '{}'::jsonb,
            starts_at       timestamptz NOT NULL,
            ends_at         timestamptz,
            last_seen_at    timestamptz NOT NULL,
            acknowledged_by text,
            acknowledged_at timestamptz,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX alert_open_fingerprint ON alert (fingerprint) WHERE state = 'firing';
        CREATE INDEX alert_state_idx ON alert (state, rule);
        CREATE INDEX alert_subject_idx ON alert (subject_type, subject_id);

        -- Webhook notifications: one row per notification reason, with its delivery attempts.
        CREATE TABLE alert_delivery (
            id              bigserial PRIMARY KEY,
            alert_id        bigint NOT NULL REFERENCES alert (id) ON DELETE CASCADE,
            reason          text NOT NULL CHECK (reason IN ('first', 'repeat', 'resolved')),
            status          text NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL,
            last_attempt_at timestamptz,
            delivered_at    timestamptz,
            http_status     integer,
            error           text,
            url             text,
            created_at      timestamptz NOT NULL
        );
        CREATE INDEX alert_delivery_due_idx ON alert_delivery (next_attempt_at)
            WHERE status = 'pending';
        CREATE INDEX alert_delivery_alert_idx ON alert_delivery (alert_id, created_at DESC);

        -- Incremental frequent-outage evaluation: the last evaluated as-of per rule, and the
        -- assets whose interruptions changed in ways outage_record.updated_at cannot show
        -- (inferred intervals, deleted or moved records).
        CREATE TABLE monitor_state (
            name          text PRIMARY KEY,
            as_of         timestamptz NOT NULL,
            ran_at        timestamptz NOT NULL,
            settings_hash text NOT NULL
        );
        CREATE TABLE monitor_change (
            asset_type text NOT NULL,
            asset_id   text NOT NULL,
            changed_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX monitor_change_time_idx ON monitor_change (changed_at);
        CREATE INDEX outage_record_updated_idx ON outage_record (updated_at);
        -- Room in each page so re-stamping as_of on every row (not indexed) is a HOT update.
        ALTER TABLE asset_status SET (fillfactor = 50);

        CREATE FUNCTION monitor_inferred_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO monitor_change (asset_type, asset_id)
                SELECT DISTINCT 'area', area_id FROM new_rows;
            END IF;
            IF TG_OP IN ('DELETE', 'UPDATE') THEN
                INSERT INTO monitor_change (asset_type, asset_id)
                SELECT DISTINCT 'area', area_id FROM old_rows;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER inferred_changed_ins AFTER INSERT ON inferred_interruption
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION monitor_inferred_changed();
        CREATE TRIGGER inferred_changed_upd AFTER UPDATE ON inferred_interruption
            REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION monitor_inferred_changed();
        CREATE TRIGGER inferred_changed_del AFTER DELETE ON inferred_interruption
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION monitor_inferred_changed();

        -- outage_record is a hypertable (no transition tables): row triggers, and only for
        -- updates and deletes; inserts are seen through updated_at.
        CREATE FUNCTION monitor_record_touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END $$;
        CREATE TRIGGER outage_record_touch BEFORE UPDATE ON outage_record
            FOR EACH ROW EXECUTE FUNCTION monitor_record_touch();
        CREATE FUNCTION monitor_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO monitor_change (asset_type, asset_id) VALUES (OLD.asset_type, OLD.asset_id);
            RETURN NULL;
        END $$;
        CREATE TRIGGER outage_record_changed AFTER UPDATE OR DELETE ON outage_record
            FOR EACH ROW EXECUTE FUNCTION monitor_record_changed();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER IF EXISTS outage_record_changed ON outage_record;
        DROP TRIGGER IF EXISTS outage_record_touch ON outage_record;
        DROP FUNCTION IF EXISTS monitor_record_changed();
        DROP FUNCTION IF EXISTS monitor_record_touch();
        DROP TRIGGER IF EXISTS inferred_changed_del ON inferred_interruption;
        DROP TRIGGER IF EXISTS inferred_changed_upd ON inferred_interruption;
        DROP TRIGGER IF EXISTS inferred_changed_ins ON inferred_interruption;
        DROP FUNCTION IF EXISTS monitor_inferred_changed();
        ALTER TABLE asset_status RESET (fillfactor);
        DROP INDEX IF EXISTS outage_record_updated_idx;
        DROP TABLE IF EXISTS monitor_change;
        DROP TABLE IF EXISTS monitor_state;
        DROP TABLE IF EXISTS alert_delivery;
        DROP TABLE IF EXISTS alert;
        DROP TABLE IF EXISTS job_run;
        """
    )
