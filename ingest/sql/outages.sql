-- name: staging
CREATE TEMP TABLE IF NOT EXISTS _ingest_outage (
    line       integer NOT NULL,
    outage_id  text NOT NULL,
    asset_type text NOT NULL,
    asset_id   text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time   timestamptz,
    cause      text NOT NULL,
    work_id    text,
    estimated_end timestamptz,
    progress   text
) ON COMMIT DROP

-- name: truncate
TRUNCATE _ingest_outage

-- name: copy
COPY _ingest_outage (line, outage_id, asset_type, asset_id, start_time, end_time, cause, work_id,
                     estimated_end, progress)
FROM STDIN

-- name: unknown_assets
DELETE FROM _ingest_outage s
 WHERE NOT (   (s.asset_type = 'feeder' AND EXISTS (SELECT 1 FROM feeder f WHERE f.feeder_id = s.asset_id))
            OR (s.asset_type = 'area' AND EXISTS (SELECT 1 FROM area a WHERE a.area_id = s.asset_id)))
RETURNING s.line, s.asset_type, s.asset_id

-- name: classify
-- Each row against the version before it: the previous row of the same outage_id in this
-- chunk, or else the stored record. Same as before: duplicate; different: updated; none: accepted.
WITH o AS (
    SELECT s.*,
           row_number() OVER w AS rn,
           lag(s.asset_type) OVER w AS p_asset_type, lag(s.asset_id) OVER w AS p_asset_id,
           lag(s.start_time) OVER w AS p_start_time, lag(s.end_time) OVER w AS p_end_time,
           lag(s.cause) OVER w AS p_cause, lag(s.work_id) OVER w AS p_work_id,
           lag(s.estimated_end) OVER w AS p_estimated_end, lag(s.progress) OVER w AS p_progress
      FROM _ingest_outage s
    WINDOW w AS (PARTITION BY s.outage_id ORDER BY s.line)
), v AS (
    SELECT CASE
             WHEN o.rn > 1 THEN
               CASE WHEN (o.asset_type, o.asset_id, o.start_time, o.end_time, o.cause, o.work_id,
                          o.estimated_end, o.progress)
                         IS NOT DISTINCT FROM
                         (o.p_asset_type, o.p_asset_id, o.p_start_time, o.p_end_time, o.p_cause, o.p_work_id,
                          o.p_estimated_end, o.p_progress)
                    THEN 'duplicates' ELSE 'updated' END
             WHEN st.outage_id IS NULL THEN 'accepted'
             WHEN (o.asset_type, o.asset_id, o.start_time, o.end_time, o.cause, o.work_id,
                   o.estimated_end, o.progress)
                  IS NOT DISTINCT FROM
                  (st.asset_type, st.asset_id, st.start_time, st.end_time, st.cause, st.work_id,
                   st.estimated_end, st.progress)
                  THEN 'duplicates'
             ELSE 'updated'
           END AS verdict
      FROM o
      -- A hash join on the stored versions of this chunk's ids. (A per-row LATERAL ... LIMIT 1
      -- let the planner walk the hypertable's start_time index for every row: quadratic.)
      LEFT JOIN (
            SELECT DISTINCT ON (r.outage_id) r.*
              FROM outage_record r
             WHERE r.outage_id IN (SELECT outage_id FROM _ingest_outage)
             ORDER BY r.outage_id, r.updated_at DESC, r.start_time DESC) st
        ON st.outage_id = o.outage_id AND o.rn = 1
)
SELECT verdict, count(*) FROM v GROUP BY verdict

-- name: finals
-- The last version of each outage_id in the chunk, where it differs from what is stored.
CREATE TEMP TABLE _outage_final ON COMMIT DROP AS
SELECT f.*
  FROM (SELECT DISTINCT ON (s.outage_id) s.*
          FROM _ingest_outage s
         ORDER BY s.outage_id, s.line DESC) f
 WHERE NOT EXISTS (
        SELECT 1 FROM outage_record r
         WHERE r.outage_id = f.outage_id
           AND (r.asset_type, r.asset_id, r.start_time, r.end_time, r.cause, r.work_id,
                r.estimated_end, r.progress)
               IS NOT DISTINCT FROM (f.asset_type, f.asset_id, f.start_time, f.end_time, f.cause,
                                     f.work_id, f.estimated_end, f.progress)
           AND (SELECT count(*) FROM outage_record r2 WHERE r2.outage_id = f.outage_id) = 1)

-- name: drop_finals
DROP TABLE IF EXISTS _outage_final

-- name: log_changes
-- Old and new versions of every changed record: the asset, and for a feeder each of its areas.
WITH versions AS (
    SELECT r.asset_type, r.asset_id, r.start_time, r.end_time
      FROM outage_record r JOIN _outage_final f ON f.outage_id = r.outage_id
    UNION ALL
    SELECT f.asset_type, f.asset_id, f.start_time, f.end_time FROM _outage_final f
), assets AS (
    SELECT asset_type, asset_id, start_time, end_time FROM versions
    UNION ALL
    SELECT 'area', a.area_id, v.start_time, v.end_time
      FROM versions v JOIN area a ON a.feeder_id = v.asset_id
     WHERE v.asset_type = 'feeder'
)
INSERT INTO ingest_change (batch_id, stream, asset_type, asset_id, from_time, to_time, refreshed_at)
SELECT %(batch_id)s, 'outages', asset_type, asset_id, min(start_time),
       CASE WHEN bool_or(end_time IS NULL) THEN NULL ELSE max(end_time) END, now()
  FROM assets
 GROUP BY asset_type, asset_id

-- name: delete_old
DELETE FROM outage_record r USING _outage_final f WHERE r.outage_id = f.outage_id

-- name: insert_new
INSERT INTO outage_record (outage_id, asset_type, asset_id, start_time, end_time, cause, work_id,
                           estimated_end, progress, batch_id, updated_at)
SELECT outage_id, asset_type, asset_id, start_time, end_time, cause, work_id, estimated_end,
       progress, %(batch_id)s, clock_timestamp()
  FROM _outage_final
