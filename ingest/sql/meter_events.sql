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
SELECT s.line, s.meter_id
  FROM _ingest_meter_event s
 WHERE NOT EXISTS (SELECT 1 FROM meter m WHERE m.meter_id = s.meter_id)
 ORDER BY s.line

-- name: merge
-- Insert the events of known meters that are not stored yet (the first copy is kept), log the
-- areas and time ranges they touch, and count known rows and inserted rows.
WITH known AS (
    SELECT s.line, s.meter_id, s.time, s.kind, s.event_id
      FROM _ingest_meter_event s
      JOIN meter m ON m.meter_id = s.meter_id
), ins AS (
    INSERT INTO meter_event (meter_id, time, kind, event_id, batch_id)
    SELECT meter_id, time, kind, event_id, %(batch_id)s FROM known
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
SELECT (SELECT count(*) FROM known) AS known,
       (SELECT count(*) FROM ins) AS inserted,
       (SELECT count(*) FROM touched) AS areas
