-- Distributed PV (SPEC section 15): the same named statements as disconnections.sql, run by
-- ingest.records. A known pv_id replaces the stored installation (last line wins): this is how
-- an installation moves from registered to connected, or changes its kW or its area. An
-- unchanged one is a duplicate.

-- name: staging
CREATE TEMP TABLE IF NOT EXISTS _ingest_pv (
    line    integer NOT NULL,
    pv_id   text NOT NULL,
    area_id text NOT NULL,
    kw      double precision NOT NULL,
    status  text NOT NULL
) ON COMMIT DROP

-- name: truncate
TRUNCATE _ingest_pv

-- name: copy
COPY _ingest_pv (line, pv_id, area_id, kw, status) FROM STDIN

-- name: unknown_assets
DELETE FROM _ingest_pv s
 WHERE NOT EXISTS (SELECT 1 FROM area a WHERE a.area_id = s.area_id)
RETURNING s.line, 'area', s.area_id

-- name: classify
WITH o AS (
    SELECT s.*,
           row_number() OVER w AS rn,
           lag(ROW(s.area_id, s.kw, s.status)::text) OVER w AS previous
      FROM _ingest_pv s
    WINDOW w AS (PARTITION BY s.pv_id ORDER BY s.line)
), v AS (
    SELECT CASE
             WHEN o.rn > 1 THEN
               CASE WHEN ROW(o.area_id, o.kw, o.status)::text IS NOT DISTINCT FROM o.previous
                    THEN 'duplicates' ELSE 'updated' END
             WHEN p.pv_id IS NULL THEN 'accepted'
             WHEN (o.area_id, o.kw, o.status) = (p.area_id, p.kw, p.status) THEN 'duplicates'
             ELSE 'updated'
           END AS verdict
      FROM o
      LEFT JOIN pv_unit p ON p.pv_id = o.pv_id AND o.rn = 1
)
SELECT verdict, count(*) FROM v GROUP BY verdict

-- name: finals
CREATE TEMP TABLE _pv_final ON COMMIT DROP AS
SELECT f.*
  FROM (SELECT DISTINCT ON (s.pv_id) s.*
          FROM _ingest_pv s
         ORDER BY s.pv_id, s.line DESC) f
 WHERE NOT EXISTS (SELECT 1 FROM pv_unit p
                    WHERE p.pv_id = f.pv_id
                      AND (p.area_id, p.kw, p.status) = (f.area_id, f.kw, f.status))

-- name: drop_finals
DROP TABLE IF EXISTS _pv_final

-- name: log_changes
SELECT 1

-- name: delete_old
SELECT 1

-- name: insert_new
INSERT INTO pv_unit (pv_id, area_id, kw, status, batch_id, updated_at)
SELECT pv_id, area_id, kw, status, %(batch_id)s, clock_timestamp()
  FROM _pv_final
ON CONFLICT (pv_id) DO UPDATE
   SET area_id = EXCLUDED.area_id, kw = EXCLUDED.kw, status = EXCLUDED.status,
       batch_id = EXCLUDED.batch_id, updated_at = EXCLUDED.updated_at
