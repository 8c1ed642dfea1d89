"""A version of the meter registry, bumped by every statement that changes it.

Lets a long-running consumer keep meter → area lookups between batches and drop them as soon
as the registry changes, whichever way it was changed.

Revision ID: 0093
Revises: 0092
Create Date: 2026-11-28
"""

from alembic import op

revision = "0093"
down_revision = "0092"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE meter_registry (
            one     boolean PRIMARY KEY DEFAULT true CHECK (one),
            version bigint NOT NULL DEFAULT 0
        );
        INSERT INTO meter_registry DEFAULT VALUES;
        CREATE FUNCTION meter_registry_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE meter_registry SET version = version + 1;
            RETURN NULL;
        END $$;
        CREATE TRIGGER meter_registry_changed
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON meter
            FOR EACH STATEMENT EXECUTE FUNCTION meter_registry_bump();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER IF EXISTS meter_registry_changed ON meter;
        DROP FUNCTION IF EXISTS meter_registry_bump();
        DROP TABLE IF EXISTS meter_registry;
        """
    )
