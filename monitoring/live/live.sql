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
-- What customers are told about (monitoring.notify): an outage started, ended, or its estimated
-- restoration moved more than 30 minutes from the one last announced (seq counts those).
CREATE TEMP TABLE IF NOT EXISTS live_change (
    kind text, area_id text, since timestamptz, cause text, estimated_end timestamptz,
    progress text, restored_at timestamptz, seq integer
) ON COMMIT DROP;

-- name: clear
TRUNCATE live_now, live_change;

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

-- name: estimates
-- Before the upsert: the open outages whose estimate moved more than 30 minutes from the one
-- last announced (from none to one counts; from one to none does not). Row locks keep two
-- refreshes from both seeing the same move.
INSERT INTO live_change (kind, area_id, since, cause, estimated_end, progress, seq)
SELECT 'estimate_changed', n.area_id, n.since, n.cause, n.estimated_end, n.progress,
       l.announced_seq + 1
  FROM live_now n
  JOIN live_outage l ON l.area_id = n.area_id
 WHERE n.estimated_end IS NOT NULL
   AND (l.announced_end IS NULL
        OR abs(extract(epoch FROM n.estimated_end - l.announced_end)) > :etr_seconds)
   FOR UPDATE OF l;

-- name: ended
-- restored_at: when the last interval that kept the area out ended (else the refresh time).
WITH gone AS (
    DELETE FROM live_outage l
     WHERE NOT EXISTS (SELECT 1 FROM live_now n WHERE n.area_id = l.area_id)
    RETURNING l.area_id, l.since, l.cause, l.estimated_end, l.progress
), noted AS (
    INSERT INTO live_change (kind, area_id, since, cause, estimated_end, progress, restored_at)
    SELECT 'restoration', g.area_id, g.since, g.cause, g.estimated_end, g.progress,
           GREATEST(g.since, COALESCE(
               (SELECT max(i.end_time) FROM area_interruption i
                 WHERE i.area_id = g.area_id AND i.end_time >= g.since
                   AND i.end_time <= CAST(:now AS timestamptz)),
               CAST(:now AS timestamptz)))
      FROM gone g
)
SELECT area_id FROM gone;

-- name: upsert
WITH up AS (
    INSERT INTO live_outage AS l (area_id, since, cause, customers, source, estimated_end,
                                  progress, updated_at, announced_end, announced_seq)
    SELECT area_id, since, cause, customers, source, estimated_end, progress, now(),
           estimated_end, 0
      FROM live_now
    ON CONFLICT (area_id) DO UPDATE
       SET since = EXCLUDED.since, cause = EXCLUDED.cause, customers = EXCLUDED.customers,
           source = EXCLUDED.source, estimated_end = EXCLUDED.estimated_end,
           progress = EXCLUDED.progress, updated_at = now()
     WHERE (l.since, l.cause, l.customers, l.source, l.estimated_end, l.progress)
           IS DISTINCT FROM (EXCLUDED.since, EXCLUDED.cause, EXCLUDED.customers, EXCLUDED.source,
                             EXCLUDED.estimated_end, EXCLUDED.progress)
    RETURNING l.area_id, (xmax = 0) AS started, l.since, l.cause, l.estimated_end, l.progress
), noted AS (
    INSERT INTO live_change (kind, area_id, since, cause, estimated_end, progress, seq)
    SELECT 'outage_start', area_id, since, cause, estimated_end, progress, 0
      FROM up WHERE started
)
SELECT area_id, started FROM up;

-- name: announced
UPDATE live_outage l
   SET announced_end = c.estimated_end, announced_seq = c.seq
  FROM live_change c
 WHERE c.kind = 'estimate_changed' AND c.area_id = l.area_id;

-- name: changes
SELECT kind, area_id, since, cause, estimated_end, progress, restored_at, seq
  FROM live_change
 ORDER BY area_id, kind;
