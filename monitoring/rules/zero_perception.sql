-- SPEC section 5 for the works whose planned window [planned_start, planned_end] overlaps
-- [:start, :end): one row per (in-scope work, core-zone area it covers), with whether the area
-- made the work a miss and the interruption minutes that did.
--   core-zone area: an asset_tag row layer 'core_zone' with share >= :min_share;
--   interruption: area_interruption rows (records, feeder records, unexplained inferred), any
--   cause except weather and external, any length, not merged, overlapping the closed planned
--   window (an open end is +infinity), starting at or before :as_of;
--   or any record (any cause, any time) that carries the work's work_id, on the area or on
--   its feeder (the view gives both).
-- An open interruption is measured up to :as_of (never less than zero).
WITH core_area AS (
    SELECT t.asset_id AS area_id, t.feature_ids
      FROM asset_tag t
     WHERE t.asset_type = 'area' AND t.layer = 'core_zone' AND t.share >= :min_share
),
works AS (
    SELECT work_id, asset_type, asset_id, planned_start, planned_end
      FROM maintenance_work
     WHERE planned_start < :end AND planned_end >= :start
       AND (CAST(:work_ids AS text[]) IS NULL OR work_id = ANY (CAST(:work_ids AS text[])))
),
covered AS (
    SELECT w.work_id, a.area_id, a.customers, c.feature_ids
      FROM works w
      JOIN area a ON w.asset_type = 'area' AND a.area_id = w.asset_id
      JOIN core_area c ON c.area_id = a.area_id
    UNION ALL
    SELECT w.work_id, a.area_id, a.customers, c.feature_ids
      FROM works w
      JOIN area a ON w.asset_type = 'feeder' AND a.feeder_id = w.asset_id
      JOIN core_area c ON c.area_id = a.area_id
),
hits AS (
    SELECT DISTINCT c.work_id, c.area_id, ai.source, ai.outage_id, ai.start_time, ai.end_time
      FROM covered c
      JOIN works w ON w.work_id = c.work_id
      JOIN area_interruption ai ON ai.area_id = c.area_id
     WHERE ai.start_time <= :as_of
       AND ((ai.cause NOT IN ('weather', 'external')
             AND ai.start_time <= w.planned_end
             AND COALESCE(ai.end_time, 'infinity'::timestamptz) >= w.planned_start)
            OR ai.work_id = c.work_id)
),
per_area AS (
    SELECT c.work_id, c.area_id, c.customers, c.feature_ids,
           count(h.start_time) > 0 AS hit,
           COALESCE(sum(EXTRACT(epoch FROM
               COALESCE(h.end_time, GREATEST(CAST(:as_of AS timestamptz), h.start_time))
               - h.start_time) / 60.0), 0) AS minutes
      FROM covered c
      LEFT JOIN hits h ON h.work_id = c.work_id AND h.area_id = c.area_id
     GROUP BY c.work_id, c.area_id, c.customers, c.feature_ids
)
