-- Counted, merged interruptions (start, end, parts) at as-of :as_of; see counted_marked.sql.
WITH {marked},
grouped AS (
    SELECT asset_type, asset_id, start_time, end_time,
           sum(is_new) OVER (PARTITION BY asset_type, asset_id COLLATE "C"
                             ORDER BY start_time, end_time NULLS LAST
                             ROWS UNBOUNDED PRECEDING) AS grp
      FROM marked
)
SELECT asset_type, asset_id, min(start_time) AS start_time,
       CASE WHEN bool_or(end_time IS NULL) THEN NULL ELSE max(end_time) END AS end_time,
       count(*)::integer AS parts
  FROM grouped
 GROUP BY asset_type, asset_id, grp
