-- Connection applications (SPEC section 16): the same named statements as disconnections.sql,
-- run by ingest.records. A known app_id replaces the stored application (last line wins): this
-- is how energized_at, or a new upgrade estimate, arrives. An unchanged one is a duplicate.
-- area_id is optional; when given it must name a known area.

-- name: staging
CREATE TEMP TABLE IF NOT EXISTS _ingest_application (
    line                   integer NOT NULL,
    app_id                 text NOT NULL,
    area_id                text,
    county                 text,
    customer_class         text NOT NULL,
    external_works         boolean NOT NULL,
    booked_at              timestamptz NOT NULL,
    energized_at           timestamptz,
    needs_upgrade          boolean NOT NULL,
    upgrade_estimated_days integer,
    upgrade_due            date
) ON COMMIT DROP

-- name: truncate
TRUNCATE _ingest_application

-- name: copy
COPY _ingest_application (line, app_id, area_id, county, customer_class, external_works,
                          booked_at, energized_at, needs_upgrade, upgrade_estimated_days,
                          upgrade_due)
FROM STDIN

-- name: unknown_assets
DELETE FROM _ingest_application s
 WHERE s.area_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM area a WHERE a.area_id = s.area_id)
RETURNING s.line, 'area', s.area_id

-- name: classify
WITH o AS (
    SELECT s.*,
           row_number() OVER w AS rn,
           lag(ROW(s.area_id, s.county, s.customer_class, s.external_works, s.booked_at,
                   s.energized_at, s.needs_upgrade, s.upgrade_estimated_days,
                   s.upgrade_due)::text) OVER w AS previous
      FROM _ingest_application s
    WINDOW w AS (PARTITION BY s.app_id ORDER BY s.line)
), v AS (
    SELECT CASE
             WHEN o.rn > 1 THEN
               CASE WHEN ROW(o.area_id, o.county, o.customer_class, o.external_works,
                             o.booked_at, o.energized_at, o.needs_upgrade,
                             o.upgrade_estimated_days, o.upgrade_due)::text
                         IS NOT DISTINCT FROM o.previous
                    THEN 'duplicates' ELSE 'updated' END
             WHEN d.app_id IS NULL THEN 'accepted'
             WHEN (o.area_id, o.county, o.customer_class, o.external_works, o.booked_at,
                   o.energized_at, o.needs_upgrade, o.upgrade_estimated_days, o.upgrade_due)
                  IS NOT DISTINCT FROM
                  (d.area_id, d.county, d.customer_class, d.external_works, d.booked_at,
                   d.energized_at, d.needs_upgrade, d.upgrade_estimated_days, d.upgrade_due)
                  THEN 'duplicates'
             ELSE 'updated'
           END AS verdict
      FROM o
      LEFT JOIN application d ON d.app_id = o.app_id AND o.rn = 1
)
SELECT verdict, count(*) FROM v GROUP BY verdict

-- name: finals
CREATE TEMP TABLE _application_final ON COMMIT DROP AS
SELECT f.*
  FROM (SELECT DISTINCT ON (s.app_id) s.*
          FROM _ingest_application s
         ORDER BY s.app_id, s.line DESC) f
 WHERE NOT EXISTS (
        SELECT 1 FROM application d
         WHERE d.app_id = f.app_id
           AND (d.area_id, d.county, d.customer_class, d.external_works, d.booked_at,
                d.energized_at, d.needs_upgrade, d.upgrade_estimated_days, d.upgrade_due)
               IS NOT DISTINCT FROM
               (f.area_id, f.county, f.customer_class, f.external_works, f.booked_at,
                f.energized_at, f.needs_upgrade, f.upgrade_estimated_days, f.upgrade_due))

-- name: drop_finals
DROP TABLE IF EXISTS _application_final

-- name: log_changes
SELECT 1

-- name: delete_old
SELECT 1

-- name: insert_new
INSERT INTO application (app_id, area_id, county, customer_class, external_works, booked_at,
                         energized_at, needs_upgrade, upgrade_estimated_days, upgrade_due,
                         batch_id, updated_at)
SELECT app_id, area_id, county, customer_class, external_works, booked_at, energized_at,
       needs_upgrade, upgrade_estimated_days, upgrade_due, %(batch_id)s, clock_timestamp()
  FROM _application_final
ON CONFLICT (app_id) DO UPDATE
   SET area_id = EXCLUDED.area_id, county = EXCLUDED.county,
       customer_class = EXCLUDED.customer_class, external_works = EXCLUDED.external_works,
       booked_at = EXCLUDED.booked_at, energized_at = EXCLUDED.energized_at,
       needs_upgrade = EXCLUDED.needs_upgrade,
       upgrade_estimated_days = EXCLUDED.upgrade_estimated_days,
       upgrade_due = EXCLUDED.upgrade_due, batch_id = EXCLUDED.batch_id,
       updated_at = EXCLUDED.updated_at
