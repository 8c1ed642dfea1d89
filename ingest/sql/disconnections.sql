-- Disconnections (SPEC section 14): the same named statements as works.sql, run by
-- ingest.records. A known disconnection_id replaces the stored version (last line wins);
-- an unchanged one is a duplicate.

-- name: staging
CREATE TEMP TABLE IF NOT EXISTS _ingest_disconnection (
    line             integer NOT NULL,
    disconnection_id text NOT NULL,
    area_id          text NOT NULL,
    compound         text,
    households       integer NOT NULL,
    important_user   boolean NOT NULL,
    reason           text NOT NULL,
    planned_start    timestamptz NOT NULL,
    reported_at      timestamptz
) ON COMMIT DROP

-- name: truncate
TRUNCATE _ingest_disconnection

-- name: copy
COPY _ingest_disconnection (line, disconnection_id, area_id, compound, households,
                            important_user, reason, planned_start, reported_at)
FROM STDIN

-- name: unknown_assets
DELETE FROM _ingest_disconnection s
 WHERE NOT EXISTS (SELECT 1 FROM area a WHERE a.area_id = s.area_id)
RETURNING s.line, 'area', s.area_id

-- name: classify
WITH o AS (
    SELECT s.*,
           row_number() OVER w AS rn,
           lag(ROW(s.area_id, s.compound, s.households, s.important_user, s.reason,
                   s.planned_start, s.reported_at)::text) OVER w AS previous
      FROM _ingest_disconnection s
    WINDOW w AS (PARTITION BY s.disconnection_id ORDER BY s.line)
), v AS (
    SELECT CASE
             WHEN o.rn > 1 THEN
               CASE WHEN ROW(o.area_id, o.compound, o.households, o.important_user, o.reason,
                             o.planned_start, o.reported_at)::text IS NOT DISTINCT FROM o.previous
                    THEN 'duplicates' ELSE 'updated' END
             WHEN d.disconnection_id IS NULL THEN 'accepted'
             WHEN (o.area_id, o.compound, o.households, o.important_user, o.reason,
                   o.planned_start, o.reported_at)
                  IS NOT DISTINCT FROM
                  (d.area_id, d.compound, d.households, d.important_user, d.reason,
                   d.planned_start, d.reported_at)
                  THEN 'duplicates'
             ELSE 'updated'
           END AS verdict
      FROM o
      LEFT JOIN disconnection d ON d.disconnection_id = o.disconnection_id AND o.rn = 1
)
SELECT verdict, count(*) FROM v GROUP BY verdict

-- name: finals
CREATE TEMP TABLE _disconnection_final ON COMMIT DROP AS
SELECT f.*
  FROM (SELECT DISTINCT ON (s.disconnection_id) s.*
          FROM _ingest_disconnection s
         ORDER BY s.disconnection_id, s.line DESC) f
 WHERE NOT EXISTS (
        SELECT 1 FROM disconnection d
         WHERE d.disconnection_id = f.disconnection_id
           AND (d.area_id, d.compound, d.households, d.important_user, d.reason,
                d.planned_start, d.reported_at)
               IS NOT DISTINCT FROM
               (f.area_id, f.compound, f.households, f.important_user, f.reason,
                f.planned_start, f.reported_at))

-- name: drop_finals
DROP TABLE IF EXISTS _disconnection_final

-- name: log_changes
SELECT 1

-- name: delete_old
SELECT 1

-- name: insert_new
INSERT INTO disconnection (disconnection_id, area_id, compound, households, important_user,
                           reason, planned_start, reported_at, batch_id, updated_at)
SELECT disconnection_id, area_id, compound, households, important_user, reason,
       planned_start, reported_at, %(batch_id)s, clock_timestamp()
  FROM _disconnection_final
ON CONFLICT (disconnection_id) DO UPDATE
   SET area_id = EXCLUDED.area_id, compound = EXCLUDED.compound,
       households = EXCLUDED.households, important_user = EXCLUDED.important_user,
       reason = EXCLUDED.reason, planned_start = EXCLUDED.planned_start,
       reported_at = EXCLUDED.reported_at, batch_id = EXCLUDED.batch_id,
       updated_at = EXCLUDED.updated_at
