-- name: lock
SELECT pg_advisory_xact_lock(hashtext('gridwatch.meter_last'));

-- name: pending
-- The meter-event change rows not folded into meter_last yet (committed ones only).
CREATE TEMP TABLE meter_last_changes ON COMMIT DROP AS
SELECT change_id, asset_id AS area_id, from_time, COALESCE(to_time, from_time) AS to_time
  FROM ingest_change
 WHERE meter_last_at IS NULL AND stream = 'meter-events';

-- name: fold
-- For each meter of the changed areas :areas, its latest event inside its area's changed range;
-- kept when later than what meter_last holds. :lo and :hi bound every range of the call, so
-- only the chunks that overlap them are probed (one index probe per meter and chunk). At
-- equal times 'on' wins, as everywhere ('on' > 'off').
INSERT INTO meter_last AS l (meter_id, time, kind)
SELECT DISTINCT ON (x.meter_id) x.meter_id, x.time, x.kind
  FROM (SELECT area_id, min(from_time) AS from_time, max(to_time) AS to_time
          FROM meter_last_changes
         WHERE area_id = ANY(CAST(:areas AS text[]))
           AND from_time >= CAST(:lo AS timestamptz) AND to_time <= CAST(:hi AS timestamptz)
         GROUP BY area_id) c
  JOIN meter m ON m.area_id = c.area_id
  CROSS JOIN LATERAL (
        SELECT e.meter_id, e.time, e.kind FROM meter_event e
         WHERE e.meter_id = m.meter_id
           AND e.time >= CAST(:lo AS timestamptz) AND e.time <= CAST(:hi AS timestamptz)
           AND e.time >= c.from_time AND e.time <= c.to_time
         ORDER BY e.time DESC, e.kind DESC LIMIT 1) x
 ORDER BY x.meter_id, x.time DESC, x.kind DESC
ON CONFLICT (meter_id) DO UPDATE SET time = EXCLUDED.time, kind = EXCLUDED.kind
 WHERE (EXCLUDED.time, EXCLUDED.kind) > (l.time, l.kind);

-- name: ranges
SELECT area_id, from_time, to_time FROM meter_last_changes ORDER BY from_time;

-- name: rebuild_clear
DELETE FROM meter_last;

-- name: rebuild_fill
INSERT INTO meter_last (meter_id, time, kind)
SELECT DISTINCT ON (meter_id) meter_id, time, kind
  FROM meter_event
 ORDER BY meter_id, time DESC, kind DESC;

-- name: mark
UPDATE ingest_change c SET meter_last_at = now()
  FROM meter_last_changes p WHERE c.change_id = p.change_id;

-- name: drop
DROP TABLE IF EXISTS pg_temp.meter_last_changes;

-- name: later_than
-- Meters whose last event is after the as-of time: their last event at or before it must be
-- looked up (few when the as-of time is now: events may be up to 10 minutes ahead).
SELECT count(*) FROM meter_last WHERE time > :as_of

-- name: alert_table
-- The meters whose last event at or before :as_of is 'off' (all the meter rules look at),
-- from meter_last; a meter whose last event is later is looked up in meter_event.
CREATE TEMP TABLE alert_meter_last ON COMMIT DROP AS
SELECT m.meter_id, m.area_id, l.time, l.kind
  FROM meter_last l
  JOIN meter m ON m.meter_id = l.meter_id
 WHERE l.kind = 'off' AND l.time <= :as_of
UNION ALL
SELECT m.meter_id, m.area_id, x.time, x.kind
  FROM meter_last l
  JOIN meter m ON m.meter_id = l.meter_id
 CROSS JOIN LATERAL (
        SELECT e.time, e.kind FROM meter_event e
         WHERE e.meter_id = l.meter_id AND e.time <= :as_of
         ORDER BY e.time DESC, e.kind DESC LIMIT 1) x
 WHERE l.time > :as_of AND x.kind = 'off'
