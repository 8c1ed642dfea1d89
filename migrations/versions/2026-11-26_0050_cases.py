"""Remediation ledger (SPEC section 8): cases and their audit trail.

Revision ID: 0050
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0050"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE remediation_case (
            case_id           bigserial PRIMARY KEY,
            asset_type        text NOT NULL CHECK (asset_type IN ('feeder', 'area')),
            asset_id          text NOT NULL,
            status            text NOT NULL DEFAULT 'open'
                                CHECK (status IN ('open', 'in_progress', 'completed', 'closed')),
            opened_at         timestamptz NOT NULL,
            opened_as_of      timestamptz,
            opened_count_365  integer,
            opened_max_60     integer,
            measures          text,
            responsible_unit  text,
            due_date          date,
            completion_date   date,
            verification_note text,
            verified_by       text,
            verified_at       timestamptz,
            internal_note     text,
            signed_off_at     timestamptz,
            signed_off_by     text,
            sign_off_note     text,
            updated_at        timestamptz NOT NULL,
            CHECK (status <> 'closed' OR signed_off_at IS NOT NULL)
        );
        -- At most one case per asset that is not yet signed off.
        CREATE UNIQUE INDEX remediation_case_one_open
            ON remediation_case (asset_type, asset_id) WHERE status <> 'closed';
        CREATE INDEX remediation_case_asset_idx ON remediation_case (asset_type, asset_id, opened_at);
        CREATE INDEX remediation_case_status_idx ON remediation_case (status);

        -- Every field change of a case: who, when, from what, to what.
        CREATE TABLE remediation_case_history (
            history_id  bigserial PRIMARY KEY,
            case_id     bigint NOT NULL REFERENCES remediation_case (case_id) ON DELETE CASCADE,
            at          timestamptz NOT NULL,
            actor       text NOT NULL,
            field       text NOT NULL,
            old_value   text,
            new_value   text
        );
        CREATE INDEX remediation_case_history_case_idx
            ON remediation_case_history (case_id, field, at);
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS remediation_case_history; DROP TABLE IF EXISTS remediation_case;"
    )
