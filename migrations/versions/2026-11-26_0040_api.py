"""HTTP API: hashed API keys with roles, and server-side browser sessions.

Revision ID: 0040
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0040"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- API keys (SPEC section 11): only the sha256 of the key is stored; the key itself is
        -- shown once when it is created. A revoked key keeps its row for the audit trail.
        CREATE TABLE api_key (
            key_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name         text,
            role         text NOT NULL CHECK (role IN ('ingest', 'planner', 'regulator', 'admin')),
            key_hash     text NOT NULL UNIQUE,
            prefix       text NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            revoked_at   timestamptz,
            last_used_at timestamptz
        );

        -- Browser sessions made by /login: the cookie holds a random token, the table its
        -- sha256. A session dies with its key.
        CREATE TABLE api_session (
            token_hash  text PRIMARY KEY,
            key_id      bigint NOT NULL REFERENCES api_key (key_id) ON DELETE CASCADE,
            created_at  timestamptz NOT NULL DEFAULT now(),
            expires_at  timestamptz NOT NULL
        );
        CREATE INDEX api_session_key_idx ON api_session (key_id);
        CREATE INDEX api_session_expires_idx ON api_session (expires_at);

        -- Vector tile ETags read the newest change of each layer's inputs: index-only lookups.
        CREATE INDEX IF NOT EXISTS feeder_updated_at_idx ON feeder (updated_at);
        CREATE INDEX IF NOT EXISTS area_updated_at_idx ON area (updated_at);
        CREATE INDEX IF NOT EXISTS overlay_feature_updated_idx ON overlay_feature (layer, updated_at);
        CREATE INDEX IF NOT EXISTS asset_status_as_of_idx ON asset_status (asset_type, as_of);
        CREATE INDEX IF NOT EXISTS asset_tag_computed_at_idx ON asset_tag (asset_type, computed_at);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS asset_tag_computed_at_idx;
        DROP INDEX IF EXISTS asset_status_as_of_idx;
        DROP INDEX IF EXISTS overlay_feature_updated_idx;
        DROP INDEX IF EXISTS area_updated_at_idx;
        DROP INDEX IF EXISTS feeder_updated_at_idx;
        DROP TABLE IF EXISTS api_session;
        DROP TABLE IF EXISTS api_key;
        """
    )
