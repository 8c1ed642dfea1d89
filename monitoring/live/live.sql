-- The areas out at :now (SPEC section 13): open interruptions of steps 1 and 2 of section 3,
-- of any cause and length. since = the earliest start; cause = that of the earliest record
-- ('unknown' when only meters show it); source = record when any record says so;
-- estimated_end = the latest estimate of the open records (the area is back only when all
-- are); progress = that of the earliest open record that gives one.
-- name: scratch
CREATE TEMP TABLE IF NOT EXISTS live_now (
    area_id text PRIMARY KEY, since timestamptz, cause text, customers integer, source text,
    estimated_end timestamptz, progress text
) ON COMMIT DROP;

-- name: clear
TRUNCATE live_now;

-- name: fill
INSERT INTO live_now
{outages}

-- name: outages
-- {r_open} / {i_open}: "has no end" for the live table (partial indexes), "had not ended by
-- :now" for the report at a past moment.
WITH open_records AS (
    SELECT r.asset_id AS area_id, r.start_time, r.cause, r.outage_id, r.estimated_end, r.progress
      FROM outage_record r
     WHERE r.asset_type = 'area' AND {r_open} AND r.start_time <= CAST(:now AS timestamptz)
    UNION ALL
    SELECT a.area_id, r.start_time, r.cause, r.outage_id, r.estimated_end, r.progress
      FROM outage_record r
      JOIN area a ON a.feeder_id = r.asset_id
     WHERE r.asset_type = 'feeder' AND {r_open} AND r.start_time <= CAST(:now AS timestamptz)
), open_inferred AS (
    SELECT i.area_id, i.start_time
      FROM inferred_interruption i
      JOIN area a ON a.area_id = i.area_id
     WHERE {i_open} AND i.start_time <= CAST(:now AS timestamptz)
       AND NOT EXISTS (
            SELECT 1 FROM outage_record r
             WHERE ((r.asset_type = 'area' AND r.asset_id = i.area_id)
                 OR (r.asset_type = 'feeder' AND r.asset_id = a.feeder_id))
               AND r.start_time <= COALESCE(i.end_time, 'infinity'::timestamptz)
               AND COALESCE(r.end_time, 'infinity'::timestamptz) >= i.start_time)
), open_all AS (
    SELECT area_id, start_time, cause, outage_id, estimated_end, progress, true AS is_record
      FROM open_records
    UNION ALL
    SELECT area_id, start_time, 'unknown', NULL, NULL, NULL, false FROM open_inferred
)
SELECT o.area_id,
       min(o.start_time),
       COALESCE((array_agg(o.cause ORDER BY o.start_time, o.outage_id)
                 FILTER (WHERE o.is_record))[1], 'unknown'),
       a.customers,
       CASE WHEN bool_or(o.is_record) THEN 'record' ELSE 'meters' END,
       max(o.estimated_end),
       (array_agg(o.progress ORDER BY o.start_time, o.outage_id)
         FILTER (WHERE o.is_record AND o.progress IS NOT NULL))[1]
  FROM open_all o
  JOIN area a ON a.area_id = o.area_id
 GROUP BY o.area_id, a.customers;

-- name: ended
DELETE FROM live_outage l
 WHERE NOT EXISTS (SELECT 1 FROM live_now n WHERE n.area_id = l.area_id)
RETURNING l.area_id;

-- name: upsert
INSERT INTO live_outage AS l (area_id, since, cause, customers, source, estimated_end, progress,
                              updated_at)
SELECT area_id, since, cause, customers, source, estimated_end, progress, now() FROM live_now
ON CONFLICT (area_id) DO UPDATE
   SET since = EXCLUDED.since, cause = EXCLUDED.cause, customers = EXCLUDED.customers,
       source = EXCLUDED.source, estimated_end = EXCLUDED.estimated_end,
       progress = EXCLUDED.progress, updated_at = now()
 WHERE (l.since, l.cause, l.customers, l.source, l.estimated_end, l.progress)
       IS DISTINCT FROM (EXCLUDED.since, EXCLUDED.cause, EXCLUDED.customers, EXCLUDED.source,
                         EXCLUDED.estimated_end, EXCLUDED.progress)
RETURNING l.area_id, (xmax = 0) AS started;
