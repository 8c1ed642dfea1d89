-- name: lock
-- One lock per bucket of areas; every refresh takes its buckets' locks in ascending order.
SELECT pg_advisory_xact_lock(hashtext('gridwatch.inferred_interruption'), CAST(:bucket AS integer))

-- name: drop_temp
DROP TABLE IF EXISTS _refresh_change, _refresh_area, _refresh_meter, _refresh_seed

-- name: pending_changes
-- The change-log rows of this refresh's buckets not folded in yet. Exactly these are marked
-- done at the end: a batch committed meanwhile stays pending for the next refresh.
CREATE TEMP TABLE _refresh_change ON COMMIT DROP AS
SELECT c.change_id, c.asset_id AS area_id, c.from_time
  FROM ingest_change c
 WHERE c.refreshed_at IS NULL AND c.stream = 'meter-events' AND c.asset_type = 'area'
   AND (hashtext(c.asset_id) & 2147483647) % CAST(:nbuckets AS integer)
       = ANY(CAST(:buckets AS integer[]))

-- name: pending_buckets
-- How many areas of each bucket wait for a refresh (decides whether and how to split it).
SELECT (hashtext(c.asset_id) & 2147483647) % CAST(:nbuckets AS integer) AS bucket,
       count(DISTINCT c.asset_id) AS areas
  FROM ingest_change c
 WHERE c.refreshed_at IS NULL AND c.stream = 'meter-events' AND c.asset_type = 'area'
 GROUP BY 1

-- name: pending_areas
-- Areas with meter events not yet folded in, and where to restart: the earliest changed
-- time, or the start of the "some meter off" span open at that time (just before a span
-- starts, every meter of the area is on). need = meters that must be off (>= 1).
-- Never before the retention horizon: raw events before it may be gone, so what was derived
-- from them cannot be rebuilt. Such an area is "clamped": it restarts at the horizon, and
-- the rows that start before the horizon are kept as they are.
CREATE TEMP TABLE _refresh_area ON COMMIT DROP AS
WITH pending AS (
    SELECT c.area_id, min(c.from_time) AS t0
      FROM _refresh_change c
     GROUP BY c.area_id
), sized AS (
    SELECT p.*, (SELECT count(*) FROM meter m WHERE m.area_id = p.area_id)::integer AS total
      FROM pending p
), anchored AS (
    SELECT s.*,
           LEAST(s.t0, (SELECT min(o.start_time) FROM area_meter_off_span o
                         WHERE o.area_id = s.area_id AND o.start_time < s.t0
                           AND (o.end_time IS NULL OR o.end_time >= s.t0))) AS wanted
      FROM sized s
)
SELECT a.area_id, (row_number() OVER ())::integer AS aid,
       GREATEST(a.wanted, CAST(:horizon AS timestamptz)) AS anchor,
       a.wanted < CAST(:horizon AS timestamptz) AS clamped,
       a.total,
       GREATEST(1, ceil(CAST(:fraction AS numeric) * a.total))::integer AS need
  FROM anchored a

-- name: all_areas
-- Every area of the buckets with a registered meter, from the retention horizon (a full
-- rebuild: everything it can rebuild; rows that start before the horizon are kept).
CREATE TEMP TABLE _refresh_area ON COMMIT DROP AS
SELECT m.area_id, (row_number() OVER ())::integer AS aid,
       CAST(:horizon AS timestamptz) AS anchor, true AS clamped, count(*)::integer AS total,
       GREATEST(1, ceil(CAST(:fraction AS numeric) * count(*)))::integer AS need
  FROM meter m
 WHERE (hashtext(m.area_id) & 2147483647) % CAST(:nbuckets AS integer) = ANY(CAST(:buckets AS integer[]))
 GROUP BY m.area_id

-- name: delete_all_intervals
DELETE FROM inferred_interruption
 WHERE (hashtext(area_id) & 2147483647) % CAST(:nbuckets AS integer) = ANY(CAST(:buckets AS integer[]))
   AND start_time >= CAST(:horizon AS timestamptz)

-- name: delete_all_spans
DELETE FROM area_meter_off_span
 WHERE (hashtext(area_id) & 2147483647) % CAST(:nbuckets AS integer) = ANY(CAST(:buckets AS integer[]))
   AND start_time >= CAST(:horizon AS timestamptz)

-- name: meters
-- Small integer ids make the sorts below cheap.
CREATE TEMP TABLE _refresh_meter ON COMMIT DROP AS
SELECT m.meter_id, row_number() OVER ()::integer AS mid, r.aid, r.anchor, r.need
  FROM _refresh_area r
  JOIN meter m ON m.area_id = r.area_id

-- name: no_seeds
-- Meters read as off at their area's anchor without an event there (see seed_meters).
CREATE TEMP TABLE _refresh_seed (aid integer, mid integer, need integer, time timestamptz)
    ON COMMIT DROP

-- name: seed_meters
-- A clamped area restarts at the horizon, where some meters may still be off. A meter is read
-- as off from there (a seeded `off` at the anchor) when its last stored event before the
-- horizon is `off`, which is exact while those events are still stored. Once they are gone,
-- if a kept span shows some meter was off at the horizon, a meter with no stored event before
-- it whose first event from the horizon on is `on` was one of them. Any other meter counts
-- as on at the horizon.
INSERT INTO _refresh_seed (aid, mid, need, time)
WITH clamped AS (
    SELECT m.meter_id, m.mid, m.aid, m.need, m.anchor
      FROM _refresh_meter m
      JOIN _refresh_area r ON r.aid = m.aid AND r.clamped
), open_at AS (
    SELECT DISTINCT r.aid
      FROM _refresh_area r
      JOIN area_meter_off_span o ON o.area_id = r.area_id
     WHERE r.clamped AND o.start_time < r.anchor
       AND (o.end_time IS NULL OR o.end_time >= r.anchor)
), last_before AS (
    SELECT DISTINCT ON (e.meter_id) e.meter_id, e.kind
      FROM clamped c
      JOIN meter_event e ON e.meter_id = c.meter_id AND e.time < c.anchor
     WHERE e.time < CAST(:horizon AS timestamptz)        -- = c.anchor; excludes later chunks
     ORDER BY e.meter_id, e.time DESC, e.kind = 'on' DESC
), first_after AS (
    SELECT DISTINCT ON (e.meter_id) e.meter_id, e.kind
      FROM clamped c
      JOIN open_at a ON a.aid = c.aid
      JOIN meter_event e ON e.meter_id = c.meter_id AND e.time >= c.anchor
     WHERE e.time >= CAST(:horizon AS timestamptz)
     ORDER BY e.meter_id, e.time, e.kind = 'on'
)
SELECT c.aid, c.mid, c.need, c.anchor
  FROM clamped c
  LEFT JOIN last_before b ON b.meter_id = c.meter_id
  LEFT JOIN first_after f ON f.meter_id = c.meter_id
 WHERE b.kind = 'off' OR (b.kind IS NULL AND f.kind = 'on')

-- name: analyze
ANALYZE _refresh_area, _refresh_meter, _refresh_seed

-- name: delete_intervals
-- What the recompute rebuilds; never a row that starts before the horizon.
DELETE FROM inferred_interruption i
 USING _refresh_area r
 WHERE i.area_id = r.area_id
   AND (i.end_time IS NULL OR i.end_time >= r.anchor)
   AND i.start_time >= CAST(:horizon AS timestamptz)

-- name: delete_spans
DELETE FROM area_meter_off_span o
 USING _refresh_area r
 WHERE o.area_id = r.area_id
   AND (o.end_time IS NULL OR o.end_time >= r.anchor)
   AND o.start_time >= CAST(:horizon AS timestamptz)

-- name: recompute
-- A transition is an event whose kind differs from the meter's previous state (every meter is
-- on at the anchor; events of one meter at one instant count in the order off, on). Summed per
-- area and instant (delta), a running sum gives the meters off after each instant, and
-- off - delta the count just before it, so edges need no second lag. Spans: runs of "off > 0";
-- intervals: runs of "off >= need", with their peak; span_no / run_no number the runs.
-- Sorting by (aid, mid, ...) first lets the second ordering (aid, time) be an incremental sort.
-- Seeded meters (_refresh_seed, usually empty) get an `off` at the anchor.
WITH ev AS (
    SELECT x.aid, x.need, x.time, x.off_event,
           lag(x.off_event, 1, false) OVER (PARTITION BY x.aid, x.mid ORDER BY x.time, NOT x.off_event)
               AS was_off
      FROM (SELECT m.aid, m.mid, m.need, e.time, e.kind = 'off' AS off_event
              FROM _refresh_meter m
              JOIN meter_event e ON e.meter_id = m.meter_id AND e.time >= m.anchor
             WHERE e.time >= CAST(:min_anchor AS timestamptz)
            UNION ALL
            SELECT s.aid, s.mid, s.need, s.time, true FROM _refresh_seed s) x
), steps AS (
    SELECT aid, time, min(need) AS need, sum(CASE WHEN off_event THEN 1 ELSE -1 END)::integer AS delta
      FROM ev
     WHERE off_event <> was_off
     GROUP BY aid, time
), counted AS (
    SELECT aid, time, need, delta,
           sum(delta) OVER (PARTITION BY aid ORDER BY time ROWS UNBOUNDED PRECEDING)::integer AS off
      FROM steps
), flagged AS (
    SELECT aid, time, off, off > 0 AS some_off, off - delta > 0 AS was_some_off,
           off >= need AS down, off - delta >= need AS was_down,
           count(*) FILTER (WHERE off > 0 AND off - delta <= 0) OVER w AS span_no,
           count(*) FILTER (WHERE off >= need AND off - delta < need) OVER w AS run_no
      FROM counted
    WINDOW w AS (PARTITION BY aid ORDER BY time ROWS UNBOUNDED PRECEDING)
), spans AS (
    INSERT INTO area_meter_off_span (area_id, start_time, end_time)
    SELECT a.area_id, s.start_time, s.end_time
      FROM (SELECT aid, min(time) FILTER (WHERE some_off) AS start_time,
                   min(time) FILTER (WHERE NOT some_off) AS end_time
              FROM flagged
             WHERE some_off <> was_some_off
             GROUP BY aid, span_no) s
      JOIN _refresh_area a ON a.aid = s.aid
     WHERE s.start_time IS NOT NULL
    RETURNING 1
)
INSERT INTO inferred_interruption (area_id, start_time, end_time, meters_off, meters_total)
SELECT a.area_id, r.start_time, r.end_time, r.peak, a.total
  FROM (SELECT aid, min(time) FILTER (WHERE down) AS start_time,
               min(time) FILTER (WHERE NOT down) AS end_time, max(off) FILTER (WHERE down) AS peak
          FROM flagged
         WHERE down OR was_down
         GROUP BY aid, run_no) r
  JOIN _refresh_area a ON a.aid = r.aid

-- name: join_intervals_at_horizon
-- In a clamped area, a row recomputed from the horizon that starts there continues the kept
-- row (started before the horizon) that was open at the horizon. The kept row takes the later
-- end (an open end is the latest; an open kept row takes the recomputed end): it is extended
-- or closed, never shortened, as the state at the horizon may be incomplete.
WITH joined AS (
    DELETE FROM inferred_interruption n
     USING _refresh_area r, inferred_interruption k
     WHERE r.clamped AND n.area_id = r.area_id AND n.start_time = r.anchor
       AND k.area_id = r.area_id AND k.start_time < r.anchor
       AND (k.end_time IS NULL OR k.end_time >= r.anchor)
    RETURNING n.area_id, n.end_time, n.meters_off, n.meters_total
)
UPDATE inferred_interruption k
   SET end_time = CASE WHEN k.end_time IS NULL OR j.end_time IS NULL THEN j.end_time
                       ELSE GREATEST(k.end_time, j.end_time) END,
       meters_off = GREATEST(k.meters_off, j.meters_off),
       meters_total = j.meters_total
  FROM joined j, _refresh_area r
 WHERE k.area_id = j.area_id AND r.area_id = j.area_id AND k.start_time < r.anchor
   AND (k.end_time IS NULL OR k.end_time >= r.anchor)

-- name: join_spans_at_horizon
-- The same for the "some meter off" spans.
WITH joined AS (
    DELETE FROM area_meter_off_span n
     USING _refresh_area r, area_meter_off_span k
     WHERE r.clamped AND n.area_id = r.area_id AND n.start_time = r.anchor
       AND k.area_id = r.area_id AND k.start_time < r.anchor
       AND (k.end_time IS NULL OR k.end_time >= r.anchor)
    RETURNING n.area_id, n.end_time
)
UPDATE area_meter_off_span k
   SET end_time = CASE WHEN k.end_time IS NULL OR j.end_time IS NULL THEN j.end_time
                       ELSE GREATEST(k.end_time, j.end_time) END
  FROM joined j, _refresh_area r
 WHERE k.area_id = j.area_id AND r.area_id = j.area_id AND k.start_time < r.anchor
   AND (k.end_time IS NULL OR k.end_time >= r.anchor)

-- name: mark_done
UPDATE ingest_change c SET refreshed_at = now()
  FROM _refresh_change r
 WHERE c.change_id = r.change_id

-- name: count_areas
SELECT count(*), min(anchor)::text, count(*) FILTER (WHERE clamped) FROM _refresh_area
