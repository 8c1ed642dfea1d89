-- Repeated planned outages (一停多用, SPEC section 14), set-based.
--
-- A planned interruption of an area is
--   * an outage record with cause 'planned' on the area or on its feeder, unless its recorded
--     end is at most :short_seconds after its start (SPEC section 3 step 4; an open record
--     counts), or
--   * a work with method 'outage' on the area or its feeder, unless an outage record carries
--     its work_id: then the record is the same interruption and the record is kept (it counts
--     only if it is planned and long enough itself).
-- Planned interruptions of an area that overlap or touch in time are one interruption (the
-- customers lost supply once; a work and an unlinked record of the same job, or a feeder and
-- an area record of it, are not two): it starts at the earliest start and is named by its
-- first part (at equal starts a record before a work, then by id). An open record's end is
-- taken as its start for this.
-- Each pair of consecutive interruptions of an area whose starts are at most :days_seconds
-- apart is a finding; :start <= second start < :hi selects the findings.
-- Intervals that ended before :lo = :start - the window cannot reach a selected finding
-- (any interruption they belong to starts before :lo), so they are not read.
-- :area_ids (nullable text[]) restricts the areas; NULL means every area.

-- name: chain
WITH scope AS (
    SELECT a.area_id, a.feeder_id
      FROM area a
     WHERE CAST(:area_ids AS text[]) IS NULL OR a.area_id = ANY (CAST(:area_ids AS text[]))
),
planned_record AS (
    SELECT r.outage_id AS ref, r.asset_type, r.asset_id, r.start_time,
           COALESCE(r.end_time, r.start_time) AS end_time
      FROM outage_record r
     WHERE r.cause = 'planned'
       AND r.start_time < :hi
       AND COALESCE(r.end_time, r.start_time) >= :lo
       AND (r.end_time IS NULL
            OR EXTRACT(epoch FROM r.end_time - r.start_time) > :short_seconds)
       AND (CAST(:area_ids AS text[]) IS NULL
            OR (r.asset_type = 'area' AND r.asset_id = ANY (CAST(:area_ids AS text[])))
            OR (r.asset_type = 'feeder' AND r.asset_id IN (SELECT feeder_id FROM scope)))
),
outage_work AS (
    SELECT w.work_id AS ref, w.asset_type, w.asset_id, w.planned_start AS start_time,
           w.planned_end AS end_time
      FROM maintenance_work w
     WHERE w.method = 'outage'
       AND w.planned_start < :hi
       AND w.planned_end >= :lo
       AND NOT EXISTS (SELECT 1 FROM outage_record r WHERE r.work_id = w.work_id)
),
item AS (
    SELECT s.area_id, p.start_time, p.end_time, 0 AS prio, p.ref
      FROM planned_record p JOIN scope s ON p.asset_type = 'area' AND s.area_id = p.asset_id
    UNION ALL
    SELECT s.area_id, p.start_time, p.end_time, 0, p.ref
      FROM planned_record p JOIN scope s ON p.asset_type = 'feeder' AND s.feeder_id = p.asset_id
    UNION ALL
    SELECT s.area_id, w.start_time, w.end_time, 1, w.ref
      FROM outage_work w JOIN scope s ON w.asset_type = 'area' AND s.area_id = w.asset_id
    UNION ALL
    SELECT s.area_id, w.start_time, w.end_time, 1, w.ref
      FROM outage_work w JOIN scope s ON w.asset_type = 'feeder' AND s.feeder_id = w.asset_id
),
marked AS (
    SELECT i.area_id, i.start_time, i.prio, i.ref,
           CASE WHEN i.start_time <= max(i.end_time) OVER w THEN 0 ELSE 1 END AS is_new
      FROM item i
    WINDOW w AS (PARTITION BY i.area_id COLLATE "C" ORDER BY i.start_time, i.prio, i.ref COLLATE "C"
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)

-- name: findings
, starts AS (
    SELECT m.area_id, m.start_time, m.prio, m.ref,
           lag(m.ref) OVER w AS first_ref, lag(m.prio) OVER w AS first_prio,
           lag(m.start_time) OVER w AS first_start
      FROM marked m
     WHERE m.is_new = 1
    WINDOW w AS (PARTITION BY m.area_id COLLATE "C" ORDER BY m.start_time, m.prio, m.ref COLLATE "C")
)
SELECT s.area_id,
       s.first_ref, CASE s.first_prio WHEN 0 THEN 'outage' ELSE 'work' END AS first_kind,
       s.first_start,
       s.ref AS second_ref, CASE s.prio WHEN 0 THEN 'outage' ELSE 'work' END AS second_kind,
       s.start_time AS second_start,
       EXTRACT(epoch FROM s.start_time - s.first_start)::float8 AS seconds_apart,
       a.customers
  FROM starts s
  JOIN area a ON a.area_id = s.area_id
 WHERE s.first_start IS NOT NULL
   AND s.start_time >= :start
   AND EXTRACT(epoch FROM s.start_time - s.first_start) <= :days_seconds
 ORDER BY s.start_time, s.area_id, s.ref

-- name: findings_with_parts
, grouped AS (
    SELECT m.*, sum(m.is_new) OVER w AS grp
      FROM marked m
    WINDOW w AS (PARTITION BY m.area_id COLLATE "C" ORDER BY m.start_time, m.prio, m.ref COLLATE "C"
                 ROWS UNBOUNDED PRECEDING)
),
island AS (
    SELECT g.area_id, g.grp,
           (array_agg(g.ref ORDER BY g.start_time, g.prio, g.ref COLLATE "C"))[1] AS ref,
           (array_agg(g.prio ORDER BY g.start_time, g.prio, g.ref COLLATE "C"))[1] AS prio,
           min(g.start_time) AS start_time,
           array_agg(g.ref ORDER BY g.ref) FILTER (WHERE g.prio = 1) AS work_ids
      FROM grouped g
     GROUP BY g.area_id, g.grp
),
pair AS (
    SELECT i.*, lag(i.ref) OVER w AS first_ref, lag(i.prio) OVER w AS first_prio,
           lag(i.start_time) OVER w AS first_start, lag(i.work_ids) OVER w AS first_work_ids
      FROM island i
    WINDOW w AS (PARTITION BY i.area_id ORDER BY i.grp)
)
SELECT p.area_id,
       p.first_ref, CASE p.first_prio WHEN 0 THEN 'outage' ELSE 'work' END AS first_kind,
       p.first_start, COALESCE(p.first_work_ids, '{}') AS first_work_ids,
       p.ref AS second_ref, CASE p.prio WHEN 0 THEN 'outage' ELSE 'work' END AS second_kind,
       p.start_time AS second_start, COALESCE(p.work_ids, '{}') AS second_work_ids,
       EXTRACT(epoch FROM p.start_time - p.first_start)::float8 AS seconds_apart,
       a.customers
  FROM pair p
  JOIN area a ON a.area_id = p.area_id
 WHERE p.first_start IS NOT NULL
   AND p.start_time >= :start
   AND EXTRACT(epoch FROM p.start_time - p.first_start) <= :days_seconds
 ORDER BY p.start_time, p.area_id, p.ref

-- name: upcoming_work_areas
-- The areas covered by outage works that start after :as_of and that no record carries.
SELECT DISTINCT a.area_id
  FROM maintenance_work w
  JOIN area a ON (w.asset_type = 'area' AND a.area_id = w.asset_id)
              OR (w.asset_type = 'feeder' AND a.feeder_id = w.asset_id)
 WHERE w.method = 'outage'
   AND w.planned_start > :as_of
   AND NOT EXISTS (SELECT 1 FROM outage_record r WHERE r.work_id = w.work_id)

-- name: upcoming_works
-- Those works themselves, with their asset and window.
SELECT w.work_id, w.asset_type, w.asset_id, w.planned_start, w.planned_end
  FROM maintenance_work w
 WHERE w.method = 'outage'
   AND w.planned_start > :as_of
   AND NOT EXISTS (SELECT 1 FROM outage_record r WHERE r.work_id = w.work_id)
