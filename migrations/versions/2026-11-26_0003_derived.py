"""Derived results shared across packages: tags, regions and the latest frequent-outage status.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- SPEC section 6: one row per (asset, overlay layer) it touches; the asset *has* the
        -- tag when share >= the tag_min_share setting (readers filter on that).
        CREATE TABLE asset_tag (
            asset_type    text NOT NULL CHECK (asset_type IN ('feeder', 'area')),
            asset_id      text NOT NULL,
            layer         text NOT NULL,
            share         double precision NOT NULL CHECK (share >= 0 AND share <= 1.000001),
            feature_ids   text[] NOT NULL DEFAULT '{}',
            feature_names text[] NOT NULL DEFAULT '{}',
            computed_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (asset_type, asset_id, layer)
        );
        CREATE INDEX asset_tag_layer_idx ON asset_tag (layer, share);

        -- The county (and so prefecture) each asset overlaps most.
        CREATE TABLE asset_region (
            asset_type        text NOT NULL CHECK (asset_type IN ('feeder', 'area')),
            asset_id          text NOT NULL,
            county_adcode     text,
            prefecture_adcode text,
            computed_at       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (asset_type, asset_id)
        );
        CREATE INDEX asset_region_county_idx ON asset_region (county_adcode);
        CREATE INDEX asset_region_prefecture_idx ON asset_region (prefecture_adcode);

        -- SPEC section 4 result of the latest `monitor run`, one row per asset.
        CREATE TABLE asset_status (
            asset_type  text NOT NULL CHECK (asset_type IN ('feeder', 'area')),
            asset_id    text NOT NULL,
            as_of       timestamptz NOT NULL,
            count_365   integer NOT NULL,
            max_60      integer NOT NULL,
            status      text NOT NULL CHECK (status IN ('frequent', 'at_risk', 'ok')),
            PRIMARY KEY (asset_type, asset_id)
        );
        CREATE INDEX asset_status_status_idx ON asset_status (status);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS asset_status; DROP TABLE IF EXISTS asset_region; "
               "DROP TABLE IF EXISTS asset_tag;")
