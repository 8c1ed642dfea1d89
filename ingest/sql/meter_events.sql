-- name: staging
CREATE TEMP TABLE IF NOT EXISTS _ingest_meter_event (
    line     integer NOT NULL,
    meter_id text NOT NULL,
    time     timestamptz NOT NULL,
    kind     text NOT NULL,
    event_id text
) ON COMMIT DROP

-- name: truncate
TRUNCATE _ingest_meter_event

-- name: copy
COPY _ingest_meter_event (line, meter_id, time, kind, event_id) FROM STDIN

-- name: unknown_meters
DELETE FROM _ingest_meter_event s
 WHERE NOT EXISTS (SELECT 1 FROM meter m WHERE m.meter_id = s.meter_id)
RETURNING s.line, s.meter_id

-- name: stored_in_range
-- Whether a stored event falls in the staged chunk's time range. If none does, the chunk can
-- only collide with itself or a concurrent ingest, and merge_fresh (no ON CONFLICT, which
-- costs about half again as much per row) is tried first under a savepoint.
SELECT EXISTS (
    SELECT 1 FROM meter_event e
     WHERE e.time >= (SELECT min(time) FROM _ingest_meter_event)
       AND e.time <= (SELECT max(time) FROM _ingest_meter_event))

-- name: merge_fresh
-- merge without the conflict check: every staged row is inserted, so the touched areas come
-- from the staging table. A unique violation rolls back to the savepoint and the chunk goes
-- through merge.
INSERT INTO meter_event (meter_id, time, kind, event_id, batch_id)
SELECT meter_id, time, kind, event_id, %(batch_id)s FROM _ingest_meter_event

-- name: log_fresh
INSERT INTO ingest_change (batch_id, stream, asset_type, asset_id, from_time, to_time)
SELECT %(batch_id)s, 'meter-events', 'area', m.area_id, min(s.time), max(s.time)
  FROM _ingest_meter_event s
  JOIN meter m ON m.meter_id = s.meter_id
 GROUP BY m.area_id

-- name: merge
-- Insert the staged events (unknown meters already removed) that are not stored yet, the
-- first copy kept; log the areas and time ranges they touch; count what was inserted.
WITH ins AS (
    INSERT INTO meter_event (meter_id, time, kind, event_id, batch_id)
    SELECT meter_id, time, kind, event_id, %(batch_id)s FROM _ingest_meter_event
    ON CONFLICT (meter_id, time, kind) DO NOTHING
    RETURNING meter_id, time
), touched AS (
    INSERT INTO ingest_change (batch_id, stream, asset_type, asset_id, from_time, to_time)
    SELECT %(batch_id)s, 'meter-events', 'area', m.area_id, min(i.time), max(i.time)
      FROM ins i
      JOIN meter m ON m.meter_id = i.meter_id
     GROUP BY m.area_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins) AS inserted,
       (SELECT count(*) FROM touched) AS areas
