"""Spatial helpers: subdivided overlay and county pieces, and source fingerprints for tags.

Revision ID: 0020
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0020"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Each overlay feature cut into pieces of at most a few hundred vertices (feature ids).
        CREATE TABLE overlay_piece (
            layer      text NOT NULL,
            feature_id text NOT NULL,
            geom       geometry(Polygon, 4326) NOT NULL
        );
        CREATE INDEX overlay_piece_geom_gist ON overlay_piece USING gist (geom);
        CREATE INDEX overlay_piece_feature_idx ON overlay_piece (layer, feature_id);

        -- The union of each layer, cut into disjoint pieces (the shares of SPEC section 6).
        CREATE TABLE overlay_union_piece (
            layer text NOT NULL,
            geom  geometry(Polygon, 4326) NOT NULL
        );
        CREATE INDEX overlay_union_piece_geom_gist ON overlay_union_piece USING gist (geom);

        -- Counties cut into pieces (largest-overlap county of each asset).
        CREATE TABLE admin_piece (
            adcode        text NOT NULL,
            parent_adcode text,
            geom          geometry(Polygon, 4326) NOT NULL
        );
        CREATE INDEX admin_piece_geom_gist ON admin_piece USING gist (geom);

        -- What the pieces were built from, so a refresh knows when to rebuild them.
        CREATE TABLE spatial_source_state (
            source      text PRIMARY KEY,
            fingerprint text NOT NULL,
            built_at    timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS spatial_source_state; DROP TABLE IF EXISTS admin_piece; "
        "DROP TABLE IF EXISTS overlay_union_piece; DROP TABLE IF EXISTS overlay_piece;"
    )
