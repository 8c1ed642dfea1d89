-- Connection times (SPEC section 16), set-based. "scope" is the body of a WITH clause that the
-- other statements follow; {where} is "month" or "open" (monitoring.connections.times puts
-- them together).
--
-- Rows: the applications known at :as_of (booked_at <= :as_of) that were booked in [:lo, :hi)
-- or still open during it (booked before :hi, and not energized before :lo). An energized_at
-- after :as_of is not known at :as_of: the application is open then. Local (:tz) dates count:
-- elapsed = working days in (booked date, end date], where the end date is the energizing
-- date, or :today (the local date of :as_of) while open. That is ordinal(end) - ordinal(booked)
-- in workday_calendar. A date the calendar lacks gives a NULL ordinal, which the caller turns
-- into an error naming the year. Status: over_limit when elapsed > limit; at_risk when open and
-- elapsed = limit (one more working day would put it over); otherwise ok.
-- county: the application's county (a county adcode is shown by its name), else the county of
-- its area.

-- name: scope
lim AS (
    SELECT * FROM unnest(CAST(:classes AS text[]), CAST(:externals AS boolean[]),
                         CAST(:limits AS integer[])) AS l(customer_class, external_works, limit_days)
),
a AS (
    SELECT a.app_id, a.customer_class, a.external_works, a.area_id, a.booked_at,
           NULLIF(btrim(a.county), '') AS county_text,
           CASE WHEN a.energized_at <= CAST(:as_of AS timestamptz) THEN a.energized_at END
               AS energized_at
      FROM application a
     WHERE {where}
),
s AS (
    SELECT a.app_id, a.customer_class, a.external_works, a.area_id, a.booked_at,
           a.energized_at, l.limit_days, a.county_text,
           ce.ordinal - cb.ordinal AS elapsed_days,
           (a.booked_at AT TIME ZONE :tz)::date AS booked_day
      FROM a
      JOIN lim l ON l.customer_class = a.customer_class AND l.external_works = a.external_works
      LEFT JOIN workday_calendar cb ON cb.day = (a.booked_at AT TIME ZONE :tz)::date
      LEFT JOIN workday_calendar ce
             ON ce.day = COALESCE((a.energized_at AT TIME ZONE :tz)::date, CAST(:today AS date))
),
st AS (
    SELECT s.*,
           CASE WHEN s.elapsed_days > s.limit_days THEN 'over_limit'
                WHEN s.energized_at IS NULL AND s.elapsed_days = s.limit_days THEN 'at_risk'
                ELSE 'ok' END AS status
      FROM s
)

-- name: month
a.booked_at <= CAST(:as_of AS timestamptz)
AND a.booked_at < CAST(:hi AS timestamptz)
AND (a.booked_at >= CAST(:lo AS timestamptz) OR a.energized_at IS NULL
     OR a.energized_at >= CAST(:lo AS timestamptz)
     OR a.energized_at > CAST(:as_of AS timestamptz))

-- name: open
a.booked_at <= CAST(:as_of AS timestamptz)
AND (a.energized_at IS NULL OR a.energized_at > CAST(:as_of AS timestamptz))

-- name: any_open
SELECT EXISTS (SELECT 1 FROM application a
                WHERE a.booked_at <= CAST(:as_of AS timestamptz)
                  AND (a.energized_at IS NULL OR a.energized_at > CAST(:as_of AS timestamptz)))

-- name: rows
SELECT st.app_id, st.customer_class, st.limit_days, st.elapsed_days, st.status,
       st.external_works, st.booked_at, st.energized_at, st.area_id,
       COALESCE(ad.name, st.county_text, rd.name, r.county_adcode) AS county,
       st.booked_day
  FROM st
  LEFT JOIN asset_region r ON st.county_text IS NULL AND r.asset_type = 'area'
                          AND r.asset_id = st.area_id
  LEFT JOIN admin_division ad ON ad.adcode = st.county_text
  LEFT JOIN admin_division rd ON rd.adcode = r.county_adcode
 ORDER BY st.booked_at, st.app_id

-- name: summary
, labelled AS (
    SELECT st.*,
           CASE WHEN CAST(:by_county AS boolean)
                THEN COALESCE(ad.name, st.county_text, rd.name, r.county_adcode, '(none)')
                ELSE '' END AS grp
      FROM st
      LEFT JOIN asset_region r ON CAST(:by_county AS boolean) AND st.county_text IS NULL
                              AND r.asset_type = 'area' AND r.asset_id = st.area_id
      LEFT JOIN admin_division ad ON CAST(:by_county AS boolean) AND ad.adcode = st.county_text
      LEFT JOIN admin_division rd ON rd.adcode = r.county_adcode
)
SELECT CASE WHEN grouping(grp) = 1 THEN 'all' ELSE grp END AS county,
       CASE WHEN grouping(customer_class) = 1 THEN 'all' ELSE customer_class END AS customer_class,
       count(*)::int AS applications,
       count(*) FILTER (WHERE energized_at IS NOT NULL)::int AS energized,
       count(*) FILTER (WHERE energized_at IS NULL)::int AS open,
       count(*) FILTER (WHERE status = 'ok')::int AS ok,
       count(*) FILTER (WHERE status = 'at_risk')::int AS at_risk,
       count(*) FILTER (WHERE status = 'over_limit')::int AS over_limit,
       round(CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY elapsed_days)
                  FILTER (WHERE energized_at IS NOT NULL) AS numeric), 1)::float8 AS median_days,
       round(CAST(percentile_cont(0.9) WITHIN GROUP (ORDER BY elapsed_days)
                  FILTER (WHERE energized_at IS NOT NULL) AS numeric), 1)::float8 AS p90_days,
       count(*) FILTER (WHERE elapsed_days IS NULL)::int AS unknown_days,
       min(booked_day) FILTER (WHERE elapsed_days IS NULL) AS first_unknown
  FROM labelled
 GROUP BY GROUPING SETS ((grp, customer_class), (grp), ())
HAVING CAST(:by_county AS boolean) OR grouping(grp) = 0
 ORDER BY grouping(grp), grp, grouping(customer_class),
          array_position(CAST(:class_order AS text[]), customer_class)
