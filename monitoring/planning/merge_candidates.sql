-- Merge candidates (SPEC section 14): pairs of works with method 'outage' on the same feeder
-- (a work on an area is on that area's feeder) whose planned starts are at most
-- :days_seconds apart. One row per pair; the pair is ordered by (planned_start, work_id), and
-- the later work's start selects it: :start <= later start < :hi.

-- name: pairs
WITH w AS (
    SELECT mw.work_id, mw.planned_start,
           CASE mw.asset_type WHEN 'feeder' THEN mw.asset_id ELSE a.feeder_id END AS feeder_id
      FROM maintenance_work mw
      LEFT JOIN area a ON mw.asset_type = 'area' AND a.area_id = mw.asset_id
     WHERE mw.method = 'outage'
       AND mw.planned_start < :hi
       AND mw.planned_start >= CAST(:start AS timestamptz) - make_interval(secs => :days_seconds)
)
SELECT w1.feeder_id, w1.work_id AS first_work_id, w1.planned_start AS first_start,
       w2.work_id AS second_work_id, w2.planned_start AS second_start,
       EXTRACT(epoch FROM w2.planned_start - w1.planned_start)::float8 AS seconds_apart
  FROM w w1
  JOIN w w2 ON w2.feeder_id = w1.feeder_id
           AND (w2.planned_start, w2.work_id) > (w1.planned_start, w1.work_id)
           AND w2.planned_start <= w1.planned_start + make_interval(secs => :days_seconds)
 WHERE w1.feeder_id IS NOT NULL
   AND w2.planned_start >= :start
   AND EXTRACT(epoch FROM w2.planned_start - w1.planned_start) <= :days_seconds
 ORDER BY w1.feeder_id, w2.planned_start, w1.planned_start, w1.work_id, w2.work_id
