-- name: staging
CREATE TEMP TABLE IF NOT EXISTS _ingest_work (
    line          integer NOT NULL,
    work_id       text NOT NULL,
    asset_type    text NOT NULL,
    asset_id      text NOT NULL,
    planned_start timestamptz NOT NULL,
    planned_end   timestamptz NOT NULL,
    method        text
) ON COMMIT DROP

-- name: truncate
TRUNCATE _ingest_work

-- name: copy
COPY _ingest_work (line, work_id, asset_type, asset_id, planned_start, planned_end, method)
FROM STDIN

-- name: unknown_assets
DELETE FROM _ingest_work s
 WHERE NOT (   (s.asset_type = 'feeder' AND EXISTS (SELECT 1 FROM feeder f WHERE f.feeder_id = s.asset_id))
            OR (s.asset_type = 'area' AND EXISTS (SELECT 1 FROM area a WHERE a.area_id = s.asset_id)))
RETURNING s.line, s.asset_type, s.asset_id

-- name: classify
WITH o AS (
    SELECT s.*,
           row_number() OVER w AS rn,
           lag(s.asset_type) OVER w AS p_asset_type, lag(s.asset_id) OVER w AS p_asset_id,
           lag(s.planned_start) OVER w AS p_planned_start, lag(s.planned_end) OVER w AS p_planned_end,
           lag(s.method) OVER w AS p_method
      FROM _ingest_work s
    WINDOW w AS (PARTITION BY s.work_id ORDER BY s.line)
), v AS (
    SELECT CASE
             WHEN o.rn > 1 THEN
               CASE WHEN (o.asset_type, o.asset_id, o.planned_start, o.planned_end, o.method)
                         IS NOT DISTINCT FROM
                         (o.p_asset_type, o.p_asset_id, o.p_planned_start, o.p_planned_end, o.p_method)
                    THEN 'duplicates' ELSE 'updated' END
             WHEN w.work_id IS NULL THEN 'accepted'
             WHEN (o.asset_type, o.asset_id, o.planned_start, o.planned_end, o.method)
                  IS NOT DISTINCT FROM
                  (w.asset_type, w.asset_id, w.planned_start, w.planned_end, w.method)
                  THEN 'duplicates'
             ELSE 'updated'
           END AS verdict
      FROM o
      LEFT JOIN maintenance_work w ON w.work_id = o.work_id AND o.rn = 1
)
SELECT verdict, count(*) FROM v GROUP BY verdict

-- name: finals
CREATE TEMP TABLE _work_final ON COMMIT DROP AS
SELECT f.*
  FROM (SELECT DISTINCT ON (s.work_id) s.*
          FROM _ingest_work s
         ORDER BY s.work_id, s.line DESC) f
 WHERE NOT EXISTS (
        SELECT 1 FROM maintenance_work w
         WHERE w.work_id = f.work_id
           AND (w.asset_type, w.asset_id, w.planned_start, w.planned_end, w.method)
               IS NOT DISTINCT FROM (f.asset_type, f.asset_id, f.planned_start, f.planned_end, f.method))

-- name: drop_finals
DROP TABLE IF EXISTS _work_final

-- name: log_changes
WITH versions AS (
    SELECT w.asset_type, w.asset_id, w.planned_start, w.planned_end
      FROM maintenance_work w JOIN _work_final f ON f.work_id = w.work_id
    UNION ALL
    SELECT f.asset_type, f.asset_id, f.planned_start, f.planned_end FROM _work_final f
), assets AS (
    SELECT asset_type, asset_id, planned_start, planned_end FROM versions
    UNION ALL
    SELECT 'area', a.area_id, v.planned_start, v.planned_end
      FROM versions v JOIN area a ON a.feeder_id = v.asset_id
     WHERE v.asset_type = 'feeder'
)
INSERT INTO ingest_change (batch_id, stream, asset_type, asset_id, from_time, to_time, refreshed_at)
SELECT %(batch_id)s, 'works', asset_type, asset_id, min(planned_start), max(planned_end), now()
  FROM assets
 GROUP BY asset_type, asset_id

-- name: delete_old
SELECT 1

-- name: insert_new
INSERT INTO maintenance_work (work_id, asset_type, asset_id, planned_start, planned_end, method,
                              batch_id, updated_at)
SELECT work_id, asset_type, asset_id, planned_start, planned_end, method, %(batch_id)s,
       clock_timestamp()
  FROM _work_final
ON CONFLICT (work_id) DO UPDATE
   SET asset_type = EXCLUDED.asset_type, asset_id = EXCLUDED.asset_id,
       planned_start = EXCLUDED.planned_start, planned_end = EXCLUDED.planned_end,
       method = EXCLUDED.method, batch_id = EXCLUDED.batch_id, updated_at = EXCLUDED.updated_at
