-- Area loads (SPEC section 15): the same named statements as disconnections.sql, run by
-- ingest.records. One typical load per area: a known area_id replaces the stored load (last
-- line wins); an unchanged one is a duplicate.

-- name: staging
CREATE TEMP TABLE IF NOT EXISTS _ingest_area_load (
    line            integer NOT NULL,
    area_id         text NOT NULL,
    typical_load_kw double precision NOT NULL
) ON COMMIT DROP

-- name: truncate
TRUNCATE _ingest_area_load

-- name: copy
COPY _ingest_area_load (line, area_id, typical_load_kw) FROM STDIN

-- name: unknown_assets
DELETE FROM _ingest_area_load s
 WHERE NOT EXISTS (SELECT 1 FROM area a WHERE a.area_id = s.area_id)
RETURNING s.line, 'area', s.area_id

-- name: classify
-- Each row against the version before it: the previous row of the same area in this chunk,
-- or else the stored load. Same: duplicate; different: updated; none: accepted.
WITH o AS (
    SELECT s.*,
           row_number() OVER w AS rn,
           lag(s.typical_load_kw) OVER w AS previous
      FROM _ingest_area_load s
    WINDOW w AS (PARTITION BY s.area_id ORDER BY s.line)
), v AS (
    SELECT CASE
             WHEN o.rn > 1 THEN
               CASE WHEN o.typical_load_kw = o.previous THEN 'duplicates' ELSE 'updated' END
             WHEN l.area_id IS NULL THEN 'accepted'
             WHEN o.typical_load_kw = l.typical_load_kw THEN 'duplicates'
             ELSE 'updated'
           END AS verdict
      FROM o
      LEFT JOIN area_load l ON l.area_id = o.area_id AND o.rn = 1
)
SELECT verdict, count(*) FROM v GROUP BY verdict

-- name: finals
CREATE TEMP TABLE _area_load_final ON COMMIT DROP AS
SELECT f.*
  FROM (SELECT DISTINCT ON (s.area_id) s.*
          FROM _ingest_area_load s
         ORDER BY s.area_id, s.line DESC) f
 WHERE NOT EXISTS (SELECT 1 FROM area_load l
                    WHERE l.area_id = f.area_id AND l.typical_load_kw = f.typical_load_kw)

-- name: drop_finals
DROP TABLE IF EXISTS _area_load_final

-- name: log_changes
SELECT 1

-- name: delete_old
SELECT 1

-- name: insert_new
INSERT INTO area_load (area_id, typical_load_kw, batch_id, updated_at)
SELECT area_id, typical_load_kw, %(batch_id)s, clock_timestamp()
  FROM _area_load_final
ON CONFLICT (area_id) DO UPDATE
   SET typical_load_kw = EXCLUDED.typical_load_kw, batch_id = EXCLUDED.batch_id,
       updated_at = EXCLUDED.updated_at
