-- Statements of spatial.meters (the meter registry bulk load), each introduced by "-- name: <key>".
-- Rows that passed the per-row checks in Python are COPYed into _meter_stage in chunks; the
-- unknown-area check, in-file duplicates (the last line of a meter_id wins) and the upsert run here.
-- As in spatial.loaders._upsert, a meter identical to the stored one is not rewritten and counts
-- as a duplicate (it is not in RETURNING).

-- name: stage
CREATE TEMP TABLE _meter_stage (
    line     integer NOT NULL,
    meter_id text NOT NULL,
    area_id  text NOT NULL,
    lon      double precision,
    lat      double precision
) ON COMMIT DROP

-- name: unknown_areas
DELETE FROM _meter_stage s
WHERE NOT EXISTS (SELECT 1 FROM area a WHERE a.area_id = s.area_id)
RETURNING s.line, s.area_id

-- name: known_areas
SELECT area_id FROM area WHERE area_id = ANY(%(ids)s)

-- name: upsert
WITH kept AS (
    SELECT DISTINCT ON (meter_id) meter_id, area_id, lon, lat
    FROM _meter_stage
    ORDER BY meter_id, line DESC
), written AS (
    INSERT INTO meter (meter_id, area_id, geom, updated_at)
    SELECT meter_id, area_id,
           CASE WHEN lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326) END,
           now()
    FROM kept
    ON CONFLICT (meter_id) DO UPDATE
        SET area_id = EXCLUDED.area_id, geom = EXCLUDED.geom, updated_at = now()
        WHERE (meter.area_id, meter.geom) IS DISTINCT FROM (EXCLUDED.area_id, EXCLUDED.geom)
    RETURNING (xmax = 0) AS fresh
)
SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM written

-- name: drop
DROP TABLE _meter_stage

-- name: existing
SELECT count(*) FROM (SELECT 1 FROM meter LIMIT %(limit)s) m

-- name: secondary_indexes
-- Indexes of meter that back no constraint: dropped before a bulk load and built again after.
SELECT i.relname, pg_get_indexdef(i.oid)
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
 WHERE x.indrelid = 'meter'::regclass
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
 ORDER BY i.relname

-- name: analyze
ANALYZE meter
