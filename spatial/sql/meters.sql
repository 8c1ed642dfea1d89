-- Statements of spatial.meters (the meter registry load), each introduced by "-- name: <key>".
-- {stage} is this load's staging table (spatial.meter_stage), {delta} the rows of it that are
-- not identical to a stored meter, {fields} the stage's file columns (to tell a blank row).
-- Rows are checked here set-based: an empty meter_id or area_id, a meter_id longer than
-- %(longest)s characters, an area that is not loaded (checked before lon/lat, as always), one of
-- lon/lat without the other, lon/lat out of range (NaN and infinities included). In-file
-- duplicates: the last valid line of a meter_id wins. A meter identical to the stored one is
-- not rewritten and counts as a duplicate.

-- name: lock
-- One load at a time; readers of meter are not blocked.
LOCK TABLE meter IN SHARE ROW EXCLUSIVE MODE

-- name: empty
SELECT NOT EXISTS (SELECT 1 FROM meter)

-- name: existing
SELECT count(*) FROM (SELECT 1 FROM meter LIMIT %(limit)s) m

-- name: known_areas
SELECT area_id FROM area WHERE area_id = ANY(%s)

-- name: attention
-- Into an empty registry: every staged row that cannot be stored, and why (one parallel pass).
SELECT s.ctid::text, s.line, s.meter_id IS NULL, num_nonnulls({fields}),
       char_length(s.meter_id) > %(longest)s, s.area_id, a.area_id IS NOT NULL, s.lon, s.lat
  FROM {stage} s LEFT JOIN area a ON a.area_id = s.area_id
 WHERE s.meter_id IS NULL OR a.area_id IS NULL OR (s.lon IS NULL) <> (s.lat IS NULL)
    OR NOT (s.lon BETWEEN -180 AND 180 AND s.lat BETWEEN -90 AND 90)
    OR char_length(s.meter_id) > %(longest)s

-- name: forget
DELETE FROM {stage} WHERE ctid = ANY(%s::tid[])

-- name: insert_all
-- Into an empty registry with no primary key for the moment (its build then finds duplicates).
INSERT INTO meter (meter_id, area_id, geom, updated_at)
SELECT meter_id, area_id, ST_Point(lon, lat, 4326), now() FROM {stage}

-- name: insert_last
INSERT INTO meter (meter_id, area_id, geom, updated_at)
SELECT DISTINCT ON (meter_id) meter_id, area_id, ST_Point(lon, lat, 4326), now()
  FROM {stage}
 ORDER BY meter_id, line DESC

-- name: delta_table
CREATE {kind} TABLE {delta} (
    sid      tid,
    line     bigint,
    meter_id text,
    area_id  text,
    lon      double precision,
    lat      double precision,
    stored   boolean,
    filled   integer
)

-- name: delta
-- Into a registry that holds meters: the staged rows that are not identical to a stored meter
-- (new, changed, or bad), in one parallel hash join; a daily resync finds few.
COPY (
    SELECT s.ctid, s.line, s.meter_id, s.area_id, s.lon, s.lat, m.meter_id IS NOT NULL,
           num_nonnulls({fields})
      FROM {stage} s LEFT JOIN meter m ON m.meter_id = s.meter_id
     WHERE m.meter_id IS NULL OR m.area_id IS DISTINCT FROM s.area_id
        OR (s.lon IS NULL) <> (s.lat IS NULL)
        OR NOT (s.lon BETWEEN -180 AND 180 AND s.lat BETWEEN -90 AND 90)
        OR m.geom IS DISTINCT FROM ST_Point(s.lon, s.lat, 4326)
) TO STDOUT (FORMAT binary)

-- name: delta_load
COPY {delta} FROM STDIN (FORMAT binary)

-- name: delta_attention
SELECT d.sid::text, d.line, d.meter_id IS NULL, d.filled,
       char_length(d.meter_id) > %(longest)s, d.area_id, a.area_id IS NOT NULL, d.lon, d.lat
  FROM {delta} d LEFT JOIN area a ON a.area_id = d.area_id
 WHERE d.meter_id IS NULL OR a.area_id IS NULL OR (d.lon IS NULL) <> (d.lat IS NULL)
    OR NOT (d.lon BETWEEN -180 AND 180 AND d.lat BETWEEN -90 AND 90)
    OR char_length(d.meter_id) > %(longest)s

-- name: delta_forget
DELETE FROM {delta} WHERE sid = ANY(%s::tid[])

-- name: superseded
-- Delta rows that a later valid line of the same meter overrides (that line may be identical
-- to the stored meter, hence not in the delta).
SELECT d.sid::text
  FROM {delta} d
  JOIN (SELECT s.meter_id, max(s.line) AS last
          FROM {stage} s
         WHERE s.meter_id IN (SELECT meter_id FROM {delta})
         GROUP BY s.meter_id) w ON w.meter_id = d.meter_id
 WHERE d.line < w.last

-- name: delta_counts
SELECT count(*) FILTER (WHERE NOT stored), count(*) FILTER (WHERE stored) FROM {delta}

-- name: insert_new
INSERT INTO meter (meter_id, area_id, geom, updated_at)
SELECT meter_id, area_id, ST_Point(lon, lat, 4326), now() FROM {delta} WHERE NOT stored

-- name: update_changed
UPDATE meter m
   SET area_id = d.area_id, geom = ST_Point(d.lon, d.lat, 4326), updated_at = now()
  FROM {delta} d
 WHERE d.stored AND m.meter_id = d.meter_id

-- name: constraints
-- meter's foreign keys, and its primary key when no other table's key refers to it: dropped
-- before a bulk write and added back after (one sort and one anti-join instead of a check
-- per row).
SELECT conname, pg_get_constraintdef(oid), contype = 'p'
  FROM pg_constraint
 WHERE conrelid = 'meter'::regclass
   AND (contype = 'f' OR (contype = 'p' AND NOT EXISTS (
        SELECT 1 FROM pg_constraint r WHERE r.confrelid = 'meter'::regclass)))
 ORDER BY contype = 'p' DESC, conname

-- name: secondary_indexes
-- Indexes of meter that back no constraint: dropped before a bulk write and built again after.
SELECT i.relname, pg_get_indexdef(i.oid)
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
 WHERE x.indrelid = 'meter'::regclass
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
 ORDER BY i.relname

-- name: analyze
ANALYZE meter
