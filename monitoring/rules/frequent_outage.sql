-- SPEC section 4 for every area and feeder (or the listed ones) at as-of :as_of, in one pass.
-- count_365: merged interruptions starting in (:year_start, :as_of].
-- max_60: the most of those whose starts fall in one half-open window [t, t + 60 days); the
-- best t is always one of the starts, and timestamps have microsecond resolution, so the
-- window [s, s + 60 days - 1 microsecond] (closed, a RANGE frame) is exactly [s, s + 60 days).
-- {starts} is monitoring.rules.counted.merged_starts_sql(): already ordered for this window.
WITH merged AS (
{starts}
),
in_year AS (
    SELECT asset_type, asset_id,
           count(*) OVER (PARTITION BY asset_type, asset_id COLLATE "C" ORDER BY start_time
                          RANGE BETWEEN CURRENT ROW AND CAST(:window_span AS interval) FOLLOWING)
               AS in_window
      FROM merged
     WHERE start_time > :year_start
),
per_asset AS (
    SELECT asset_type, asset_id, count(*)::integer AS count_365, max(in_window)::integer AS max_60
      FROM in_year
     GROUP BY asset_type, asset_id
),
assets AS (
    SELECT 'area'::text AS asset_type, area_id AS asset_id
      FROM area
     WHERE :include_areas
       AND (CAST(:area_ids AS text[]) IS NULL OR area_id = ANY (CAST(:area_ids AS text[])))
    UNION ALL
    SELECT 'feeder'::text, feeder_id
      FROM feeder
     WHERE :include_feeders
       AND (CAST(:feeder_ids AS text[]) IS NULL OR feeder_id = ANY (CAST(:feeder_ids AS text[])))
)
SELECT a.asset_type, a.asset_id,
       COALESCE(p.count_365, 0) AS count_365,
       COALESCE(p.max_60, 0) AS max_60,
       CASE WHEN COALESCE(p.count_365, 0) > :year_limit OR COALESCE(p.max_60, 0) > :window_limit
                THEN 'frequent'
            WHEN COALESCE(p.count_365, 0) = :year_limit OR COALESCE(p.max_60, 0) = :window_limit
                THEN 'at_risk'
            ELSE 'ok' END AS status
  FROM assets a
  LEFT JOIN per_asset p ON p.asset_type = a.asset_type AND p.asset_id = a.asset_id
