-- Arrears disconnection pre-reports (task 56, SPEC section 14), set-based.
--
-- Only disconnections with reason 'arrears' are read. A compound that is the id of an
-- old_compound overlay feature (or, failing that, the name of exactly one) is that feature:
-- it is grouped by the feature and shown by the feature's name. Any other compound text is
-- grouped by its trimmed text; an empty compound is a group of its own disconnection.
-- Households of one group that start on the same local (:tz) day add up. A disconnection
-- needs a report when its group's total is above :limit, or when it has an important user.
-- deadline = planned_start - :notice_seconds. At :as_of, a report made after :as_of is not
-- yet known. Status: reported by the deadline 'ok'; reported after it 'late'; not reported
-- and :as_of past the deadline 'missing'; not reported and still in time 'due'.
-- Rows: the disconnections planned in [:lo, :hi) that need a report. The disconnections
-- read reach one day beyond each end, so every local day touched is whole.

-- name: prereports
WITH feature AS (
    SELECT f.feature_id, f.name
      FROM overlay_feature f
     WHERE f.layer = 'old_compound'
),
unique_name AS (
    SELECT f.name, min(f.feature_id) AS feature_id
      FROM feature f
     GROUP BY f.name
    HAVING count(*) = 1
),
d AS (
    SELECT d.disconnection_id, d.area_id, d.households, d.important_user, d.planned_start,
           d.reported_at, NULLIF(btrim(d.compound), '') AS compound_text,
           (d.planned_start AT TIME ZONE :tz)::date AS local_day
      FROM disconnection d
     WHERE d.reason = 'arrears'
       AND d.planned_start >= CAST(:lo AS timestamptz) - interval '1 day'
       AND d.planned_start < CAST(:hi AS timestamptz) + interval '1 day'
),
named AS (
    SELECT d.*, COALESCE(fi.feature_id, fn.feature_id) AS compound_id,
           COALESCE(fi.name, fn.name, d.compound_text) AS compound_name
      FROM d
      LEFT JOIN feature fi ON fi.feature_id = d.compound_text
      LEFT JOIN unique_name fn ON fi.feature_id IS NULL AND fn.name = d.compound_text
),
grouped AS (
    SELECT n.*,
           sum(n.households) OVER (
               PARTITION BY COALESCE('feature:' || n.compound_id, 'name:' || n.compound_text,
                                     'alone:' || n.disconnection_id), n.local_day
           )::bigint AS households_total,
           n.planned_start - make_interval(secs => :notice_seconds) AS deadline,
           CASE WHEN n.reported_at <= :as_of THEN n.reported_at END AS known_report
      FROM named n
)
SELECT g.disconnection_id, g.compound_name AS compound, g.households_total, g.important_user,
       g.planned_start, g.deadline, g.known_report AS reported_at,
       CASE WHEN g.known_report IS NOT NULL AND g.known_report <= g.deadline THEN 'ok'
            WHEN g.known_report IS NOT NULL THEN 'late'
            WHEN CAST(:as_of AS timestamptz) > g.deadline THEN 'missing'
            ELSE 'due' END AS status,
       g.area_id, g.households, g.compound_id,
       EXTRACT(epoch FROM g.deadline - CAST(:as_of AS timestamptz))::float8 AS seconds_left
  FROM grouped g
 WHERE g.planned_start >= :lo
   AND g.planned_start < :hi
   AND (g.households_total > :limit OR g.important_user)
 ORDER BY g.planned_start, g.compound_name, g.disconnection_id
