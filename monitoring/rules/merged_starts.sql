-- The start of every counted, merged interruption at as-of :as_of (see counted_marked.sql):
-- the same rows as counted.sql's start_time, without grouping, still ordered by
-- (asset_type, asset_id COLLATE "C", start_time) for a window over the same partition.
WITH {marked}
SELECT asset_type, asset_id, start_time
  FROM marked
 WHERE is_new = 1
