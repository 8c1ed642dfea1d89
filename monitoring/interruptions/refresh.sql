-- name: lock
SELECT pg_advisory_xact_lock(hashtext('gridwatch.inferred_interruption'))

-- name: drop_temp
DROP TABLE IF EXISTS _refresh_area, _refresh_meter

-- name: pending_areas
-- Areas with meter events not yet folded in, and where to recompute from: the earliest
-- changed time, or the start of the stored interval that is open at that time.
CREATE TEMP TABLE _refresh_area ON COMMIT DROP AS
WITH pending AS (
    SELECT c.asset_id AS area_id, min(c.from_time) AS t0
      FROM ingest_change c
     WHERE c.refreshed_at IS NULL AND c.stream = 'meter-events' AND c.asset_type = 'area'
     GROUP BY c.asset_id
)
SELECT p.area_id,
       LEAST(p.t0, (SELECT min(i.start_time) FROM inferred_interruption i
                     WHERE i.area_id = p.area_id AND i.start_time < p.t0
                       AND (i.end_time IS NULL OR i.end_time >= p.t0))) AS anchor,
       (SELECT count(*) FROM meter m WHERE m.area_id = p.area_id)::integer AS total
  FROM pending p

-- name: all_areas
-- Every area with a registered meter, from the beginning (a full rebuild).
CREATE TEMP TABLE _refresh_area ON COMMIT DROP AS
SELECT m.area_id, '-infinity'::timestamptz AS anchor, count(*)::integer AS total
  FROM meter m
 GROUP BY m.area_id

-- name: meters
-- Each meter's state just before the anchor: the kind of its last event (default on).
CREATE TEMP TABLE _refresh_meter ON COMMIT DROP AS
SELECT m.meter_id, m.area_id, r.anchor, COALESCE(b.kind, 'on') AS base_kind
  FROM _refresh_area r
  JOIN meter m ON m.area_id = r.area_id
  LEFT JOIN LATERAL (
        SELECT e.kind FROM meter_event e
         WHERE e.meter_id = m.meter_id AND e.time < r.anchor
         ORDER BY e.time DESC, e.kind DESC
         LIMIT 1) b ON r.anchor > '-infinity'::timestamptz

-- name: analyze
ANALYZE _refresh_area, _refresh_meter

-- name: delete_stale
DELETE FROM inferred_interruption i
 USING _refresh_area r
 WHERE i.area_id = r.area_id
   AND (i.end_time IS NULL OR i.end_time >= r.anchor)

-- name: recompute
-- Meter transitions (an event whose kind differs from the meter's previous state), summed per
-- area and instant into a running count of meters off; an area is down while that count is
-- >= 1 and >= fraction * registered meters. Islands of "down" become intervals.
INSERT INTO inferred_interruption (area_id, start_time, end_time, meters_off, meters_total)
WITH ev AS (
    SELECT m.area_id, e.time, e.kind,
           COALESCE(lag(e.kind) OVER (PARTITION BY e.meter_id ORDER BY e.time, e.kind),
                    m.base_kind) AS prev
      FROM _refresh_meter m
      JOIN meter_event e ON e.meter_id = m.meter_id AND e.time >= m.anchor
), steps AS (
    SELECT area_id, time, CASE WHEN kind = 'off' THEN 1 ELSE -1 END AS d
      FROM ev WHERE kind <> prev
    UNION ALL
    SELECT area_id, anchor, 0 FROM _refresh_area
), per_instant AS (
    SELECT area_id, time, sum(d) AS d FROM steps GROUP BY area_id, time
), running AS (
    SELECT p.area_id, p.time, r.total,
           b.off0 + sum(p.d) OVER (PARTITION BY p.area_id ORDER BY p.time) AS off
      FROM per_instant p
      JOIN _refresh_area r ON r.area_id = p.area_id
      JOIN (SELECT area_id, count(*) FILTER (WHERE base_kind = 'off') AS off0
              FROM _refresh_meter GROUP BY area_id) b ON b.area_id = p.area_id
), flagged AS (
    SELECT area_id, time, off, total,
           (off >= 1 AND off >= CAST(:fraction AS numeric) * total) AS down
      FROM running
), changes AS (
    SELECT *, (down IS DISTINCT FROM lag(down) OVER (PARTITION BY area_id ORDER BY time)) AS chg
      FROM flagged
), grouped AS (
    SELECT *, count(*) FILTER (WHERE chg) OVER (PARTITION BY area_id ORDER BY time) AS g
      FROM changes
), islands AS (
    SELECT area_id, g, bool_and(down) AS down, min(time) AS start_time, max(off) AS peak,
           max(total) AS total
      FROM grouped GROUP BY area_id, g
), bounded AS (
    SELECT *, lead(start_time) OVER (PARTITION BY area_id ORDER BY start_time) AS end_time
      FROM islands
)
SELECT area_id, start_time, end_time, peak, total
  FROM bounded
 WHERE down AND start_time > '-infinity'::timestamptz

-- name: mark_done
UPDATE ingest_change SET refreshed_at = now() WHERE refreshed_at IS NULL

-- name: count_areas
SELECT count(*) FROM _refresh_area
