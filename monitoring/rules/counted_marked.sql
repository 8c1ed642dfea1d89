-- The CTE chain (no WITH) behind counted.sql and merged_starts.sql: counted intervals at
-- as-of :as_of (SPEC section 3, steps 3 to 6), each marked is_new = 1 when it starts a merged
-- interruption (it starts after every earlier counted interval of the asset has ended, so its
-- start is the merged interruption's start).
-- Every area (records, feeder records, unexplained inferred intervals: the area_interruption
-- view) and every feeder (its own records: the feeder_interruption view).
--   * only interruptions that start at or before :as_of exist;
--   * an end after :as_of is not yet known at :as_of: the interruption is treated as ongoing;
--   * causes fault, planned and unknown count; an interruption whose (known) end is at most
--     :short_seconds after its start does not count; an open one counts;
--   * counted intervals that overlap or touch merge into one that starts at the earliest start.
-- :since (nullable) drops intervals that ended before it: they can only belong to merged
-- interruptions that start before :since, so results starting after :since are unchanged.
-- :area_ids / :feeder_ids (nullable text[]) restrict the assets; NULL means every asset.
-- Windows partition by asset_id (byte order, cheaper to sort than the database
-- collation); readers that window over the same partition use the same key, so the rows
-- arrive sorted and are not sorted again.
raw AS (
    SELECT 'area'::text AS asset_type, ai.area_id AS asset_id, ai.start_time,
           CASE WHEN ai.end_time > :as_of THEN NULL ELSE ai.end_time END AS end_time
      FROM area_interruption ai
     WHERE :include_areas
       AND ai.start_time <= :as_of
       AND ai.cause IN ('fault', 'planned', 'unknown')
       AND (CAST(:since AS timestamptz) IS NULL OR ai.end_time IS NULL
            OR ai.end_time >= CAST(:since AS timestamptz))
       AND (CAST(:area_ids AS text[]) IS NULL OR ai.area_id = ANY (CAST(:area_ids AS text[])))
    UNION ALL
    SELECT 'feeder'::text, fi.feeder_id, fi.start_time,
           CASE WHEN fi.end_time > :as_of THEN NULL ELSE fi.end_time END
      FROM feeder_interruption fi
     WHERE :include_feeders
       AND fi.start_time <= :as_of
       AND fi.cause IN ('fault', 'planned', 'unknown')
       AND (CAST(:since AS timestamptz) IS NULL OR fi.end_time IS NULL
            OR fi.end_time >= CAST(:since AS timestamptz))
       AND (CAST(:feeder_ids AS text[]) IS NULL
            OR fi.feeder_id = ANY (CAST(:feeder_ids AS text[])))
),
counted AS (
    SELECT asset_type, asset_id, start_time, end_time
      FROM raw
     WHERE end_time IS NULL OR end_time - start_time > make_interval(secs => :short_seconds)
),
marked AS (
    SELECT asset_type, asset_id, start_time, end_time,
           CASE WHEN start_time <= max(COALESCE(end_time, 'infinity'::timestamptz)) OVER w
                THEN 0 ELSE 1 END AS is_new
      FROM counted
    WINDOW w AS (PARTITION BY asset_type, asset_id ORDER BY start_time, end_time NULLS LAST
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
