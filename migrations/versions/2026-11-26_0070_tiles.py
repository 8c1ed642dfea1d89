"""Vector tiles: a shared cache of expensive tiles (low zooms), keyed by the tile's ETag.

Revision ID: 0070
Revises: 0040
Create Date: 2026-11-26
"""

from alembic import op

revision = "0070"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Tiles whose ST_AsMVT query was expensive (a low-zoom tile holds thousands of areas),
        -- shared by every API worker. A row is used only while its etag equals the layer's
        -- current ETag (data, statuses, tags, tag_min_share), so it can never serve stale data;
        -- the next render of that tile replaces it. UNLOGGED: it is a cache (emptied after a
        -- crash, never replicated).
        CREATE UNLOGGED TABLE tile_cache (
            layer      text NOT NULL,
            z          integer NOT NULL,
            x          integer NOT NULL,
            y          integer NOT NULL,
            etag       text NOT NULL,
            data       bytea NOT NULL,
            render_ms  real NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (layer, z, x, y)
        );
        ALTER TABLE tile_cache ALTER COLUMN data SET STORAGE EXTERNAL;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS tile_cache")
