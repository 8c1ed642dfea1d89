"""Foundation: extensions, assets with geometry, stream hypertables, maintenance works.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    op.execute(
        """
        CREATE TABLE feeder (
            feeder_id   text PRIMARY KEY,
            name        text,
            substation  text,
            voltage_kv  double precision,
            geom        geometry(MultiLineString, 4326) NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX feeder_geom_gist ON feeder USING gist (geom);

        CREATE TABLE area (
            area_id      text PRIMARY KEY,
            feeder_id    text NOT NULL REFERENCES feeder (feeder_id),
            customers    integer NOT NULL CHECK (customers >= 0),
            name         text,
            capacity_kva double precision,
            geom         geometry(MultiPolygon, 4326) NOT NULL,
            updated_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX area_geom_gist ON area USING gist (geom);
        CREATE INDEX area_feeder_idx ON area (feeder_id);

        CREATE TABLE meter (
            meter_id   text PRIMARY KEY,
            area_id    text NOT NULL REFERENCES area (area_id),
            geom       geometry(Point, 4326),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX meter_area_idx ON meter (area_id);
        CREATE INDEX meter_geom_gist ON meter USING gist (geom);

        CREATE TABLE overlay_feature (
            layer      text NOT NULL CHECK (layer IN
                         ('weak_supply_village', 'ethnic_minority_area', 'old_compound', 'core_zone')),
            feature_id text NOT NULL,
            name       text NOT NULL,
            geom       geometry(MultiPolygon, 4326) NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (layer, feature_id)
        );
        CREATE INDEX overlay_feature_geom_gist ON overlay_feature USING gist (geom);

        CREATE TABLE admin_division (
            adcode        text PRIMARY KEY,
            name          text,
            level         text CHECK (level IN ('province', 'prefecture', 'county')),
            parent_adcode text,
            geom          geometry(MultiPolygon, 4326) NOT NULL,
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX admin_division_geom_gist ON admin_division USING gist (geom);
        CREATE INDEX admin_division_level_idx ON admin_division (level);

        CREATE TABLE meter_event (
            meter_id  text NOT NULL,
            time      timestamptz NOT NULL,
            kind      text NOT NULL CHECK (kind IN ('off', 'on')),
            event_id  text,
            batch_id  bigint
        );
        SELECT create_hypertable('meter_event', 'time', chunk_time_interval => interval '7 days');
        CREATE UNIQUE INDEX meter_event_key ON meter_event (meter_id, time, kind);

        CREATE TABLE outage_record (
            outage_id   text NOT NULL,
            asset_type  text NOT NULL CHECK (asset_type IN ('feeder', 'area')),
            asset_id    text NOT NULL,
            start_time  timestamptz NOT NULL,
            end_time    timestamptz,
            cause       text NOT NULL CHECK (cause IN
                          ('fault', 'planned', 'weather', 'external', 'customer', 'unknown')),
            work_id     text,
            batch_id    bigint,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            CHECK (end_time IS NULL OR end_time >= start_time)
        );
        SELECT create_hypertable('outage_record', 'start_time',
                                 chunk_time_interval => interval '90 days');
        CREATE UNIQUE INDEX outage_record_key ON outage_record (outage_id, start_time);
        CREATE INDEX outage_record_id_idx ON outage_record (outage_id);
        CREATE INDEX outage_record_asset_idx ON outage_record (asset_type, asset_id, start_time);
        CREATE INDEX outage_record_work_idx ON outage_record (work_id) WHERE work_id IS NOT NULL;

        CREATE TABLE maintenance_work (
            work_id       text PRIMARY KEY,
            asset_type    text NOT NULL CHECK (asset_type IN ('feeder', 'area')),
            asset_id      text NOT NULL,
            planned_start timestamptz NOT NULL,
            planned_end   timestamptz NOT NULL,
            method        text CHECK (method IN ('live_line', 'load_transfer', 'generator', 'outage')),
            batch_id      bigint,
            updated_at    timestamptz NOT NULL DEFAULT now(),
            CHECK (planned_end >= planned_start)
        );
        CREATE INDEX maintenance_work_asset_idx ON maintenance_work (asset_type, asset_id);
        CREATE INDEX maintenance_work_window_idx ON maintenance_work (planned_start, planned_end);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS maintenance_work;
        DROP TABLE IF EXISTS outage_record;
        DROP TABLE IF EXISTS meter_event;
        DROP TABLE IF EXISTS admin_division;
        DROP TABLE IF EXISTS overlay_feature;
        DROP TABLE IF EXISTS meter;
        DROP TABLE IF EXISTS area;
        DROP TABLE IF EXISTS feeder;
        """
    )
