-- name: staging
-- Only chunks that may hold stored events (or a repeat spelled differently) pass through here;
-- unknown meters have been removed in Python already.
CREATE TEMP TABLE IF NOT EXISTS _ingest_meter_event (
    meter_id text NOT NULL,
    time     timestamptz NOT NULL,
    kind     text NOT NULL,
    event_id text,
    batch_id bigint NOT NULL
) ON COMMIT DROP

-- name: truncate
TRUNCATE _ingest_meter_event

-- name: copy
COPY _ingest_meter_event (meter_id, time, kind, event_id, batch_id) FROM STDIN

-- name: meter_areas
-- The areas of one chunk's distinct meters (never the whole registry); a meter missing here is
-- unknown.
SELECT meter_id, area_id FROM meter WHERE meter_id = ANY(%s)

-- name: stored_in_range
-- Whether an event of another batch is stored in the time range [lo, hi] (asked for each part
-- of the chunk's range outside what this ingest has copied fresh chunks into). If none is,
-- the chunk can only collide with this ingest's own events or a concurrent ingest, and it is
-- copied straight into meter_event (copy_fresh) under a savepoint: no staging and no ON
-- CONFLICT. Events of this batch do not count: a real repeat of one (spelled differently)
-- still fails the COPY and the chunk takes staging.
SELECT EXISTS (
    SELECT 1 FROM meter_event e
     WHERE e.time >= %(lo)s AND e.time <= %(hi)s
       AND e.batch_id IS DISTINCT FROM %(batch_id)s)

-- name: copy_fresh
COPY meter_event (meter_id, time, kind, event_id, batch_id) FROM STDIN

-- name: copy_change
COPY ingest_change (batch_id, stream, asset_type, asset_id, from_time, to_time) FROM STDIN

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
