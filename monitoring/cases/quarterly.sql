-- The quarterly remediation list (SPEC section 9) in one pass.
-- The merged CTE is monitoring.rules.counted.merged_starts_sql() (SPEC section 3 steps 3-6:
-- the starts of the counted, merged interruptions), evaluated with every end known by :as_of
-- (>= the quarter's end).
-- Counts rise only at interruption starts, so an asset is `frequent` at some moment of
-- [:q_start, :q_end) iff it is frequent at as-of :q_start or at as-of one of its (merged)
-- starts in (:q_start, :q_end). At as-of a start s_j the 365-day count exceeds the limit
-- iff s_{j-limit} > s_j - 365 days, and a 60-day window holds more than the limit iff
-- s_j - s_{j-limit} < 60 days (a window ending at an earlier start inside the quarter was
-- caught at that start; one ending before :q_start is caught at :q_start).
WITH merged AS (
{starts}
),
-- One window pass over the merged starts (they arrive ordered for it): the starts `limit`
-- back, and how many starts fall in [s, s + 60 days) (max_60 at the quarter's end is the
-- most of those over the starts in the year to the quarter's end; later starts in a window
-- are in that year too).
starts AS (
    SELECT asset_type, asset_id, start_time AS s,
           lag(start_time, CAST(:year_limit AS integer)) OVER w AS s_year,
           lag(start_time, CAST(:window_limit AS integer)) OVER w AS s_win,
           count(*) OVER (w RANGE BETWEEN CURRENT ROW AND CAST(:window_span AS interval) FOLLOWING)
               AS in_window
      FROM merged
     WHERE start_time < :q_end
    WINDOW w AS (PARTITION BY asset_type, asset_id ORDER BY start_time)
),
per_asset AS (
    SELECT asset_type, asset_id,
           count(*) FILTER (WHERE s > :end_as_of - CAST(:year AS interval))::integer AS count_365,
           max(in_window) FILTER (WHERE s > :end_as_of - CAST(:year AS interval))::integer
               AS max_60,
           (count(*) FILTER (WHERE s > :q_start - CAST(:year AS interval) AND s <= :q_start)
                > :year_limit
            OR COALESCE(bool_or(s <= :q_start AND s_win > :q_start - CAST(:year AS interval)
                                AND s - s_win < CAST(:window AS interval)), false)
            OR COALESCE(bool_or(s > :q_start
                                AND (s_year > s - CAST(:year AS interval)
                                     OR s - s_win < CAST(:window AS interval))), false)
           ) AS frequent_in_quarter
      FROM starts
     GROUP BY asset_type, asset_id
),
case_pick AS (
    SELECT DISTINCT ON (asset_type, asset_id) asset_type, asset_id, case_id
      FROM remediation_case
     WHERE opened_at < :q_end
     ORDER BY asset_type, asset_id, opened_at DESC, case_id DESC
),
case_open AS (
    SELECT DISTINCT asset_type, asset_id
      FROM remediation_case
     WHERE opened_at < :q_end AND (signed_off_at IS NULL OR signed_off_at >= :q_start)
),
listed AS (
    SELECT asset_type, asset_id FROM per_asset WHERE frequent_in_quarter
    UNION
    SELECT asset_type, asset_id FROM case_open
),
case_state AS (
    SELECT case_id,
           max(new_value) FILTER (WHERE field = 'status') AS case_status,
           max(new_value) FILTER (WHERE field = 'measures') AS measures,
           max(new_value) FILTER (WHERE field = 'responsible_unit') AS responsible_unit,
           max(new_value) FILTER (WHERE field = 'due_date') AS due_date,
           max(new_value) FILTER (WHERE field = 'completion_date') AS completion_date,
           max(new_value) FILTER (WHERE field = 'signed_off_at') AS signed_off_at,
           max(new_value) FILTER (WHERE field = 'signed_off_by') AS signed_off_by,
           max(new_value) FILTER (WHERE field = 'verification_note') AS verification_note,
           max(new_value) FILTER (WHERE field = 'verified_by') AS verified_by,
           max(new_value) FILTER (WHERE field = 'internal_note') AS internal_note
      FROM (SELECT DISTINCT ON (h.case_id, h.field) h.case_id, h.field, h.new_value
              FROM remediation_case_history h
              JOIN case_pick p ON p.case_id = h.case_id
             WHERE h.at < :q_end
             ORDER BY h.case_id, h.field, h.at DESC, h.history_id DESC) last_values
     GROUP BY case_id
),
-- Raw interruptions by cause in the year to the quarter's end. A feeder record interrupts
-- every area on the feeder (the view's feeder_record rows): those are counted once per
-- (feeder, cause) and added to each listed area of the feeder, instead of fanning every
-- record out to every area first.
feeder_causes AS (
    SELECT fi.feeder_id, fi.cause, count(*) AS n
      FROM feeder_interruption fi
     WHERE fi.start_time > :end_as_of - CAST(:year AS interval) AND fi.start_time <= :end_as_of
     GROUP BY fi.feeder_id, fi.cause
),
raw AS (
    SELECT 'area'::text AS asset_type, ai.area_id AS asset_id, ai.cause, 1::bigint AS n
      FROM area_interruption ai
     WHERE ai.source <> 'feeder_record'
       AND ai.area_id IN (SELECT asset_id FROM listed WHERE asset_type = 'area')
       AND ai.start_time > :end_as_of - CAST(:year AS interval) AND ai.start_time <= :end_as_of
    UNION ALL
    SELECT 'area'::text, a.area_id, fc.cause, fc.n
      FROM listed l
      JOIN area a ON a.area_id = l.asset_id
      JOIN feeder_causes fc ON fc.feeder_id = a.feeder_id
     WHERE l.asset_type = 'area'
    UNION ALL
    SELECT 'feeder'::text, fc.feeder_id, fc.cause, fc.n
      FROM feeder_causes fc
     WHERE fc.feeder_id IN (SELECT asset_id FROM listed WHERE asset_type = 'feeder')
),
by_cause AS (
    SELECT asset_type, asset_id,
           COALESCE(sum(n) FILTER (WHERE cause = 'fault'), 0)::integer AS interruptions_fault,
           COALESCE(sum(n) FILTER (WHERE cause = 'planned'), 0)::integer AS interruptions_planned,
           COALESCE(sum(n) FILTER (WHERE cause = 'unknown'), 0)::integer AS interruptions_unknown,
           COALESCE(sum(n) FILTER (WHERE cause = 'weather'), 0)::integer AS interruptions_weather,
           COALESCE(sum(n) FILTER (WHERE cause = 'external'), 0)::integer AS interruptions_external,
           COALESCE(sum(n) FILTER (WHERE cause = 'customer'), 0)::integer AS interruptions_customer
      FROM raw
     GROUP BY asset_type, asset_id
)
SELECT l.asset_type, l.asset_id,
       COALESCE(ar.name, fd.name) AS name,
       cty.name AS county, pref.name AS prefecture,
       rg.county_adcode, rg.prefecture_adcode,
       COALESCE(tg.tags, ARRAY[]::text[]) AS tags,
       COALESCE(p.count_365, 0) AS count_365,
       COALESCE(p.max_60, 0) AS max_60,
       CASE WHEN COALESCE(p.count_365, 0) > :year_limit OR COALESCE(p.max_60, 0) > :window_limit
                THEN 'frequent'
            WHEN COALESCE(p.count_365, 0) = :year_limit OR COALESCE(p.max_60, 0) = :window_limit
                THEN 'at_risk'
            ELSE 'ok' END AS status,
       COALESCE(p.frequent_in_quarter, false) AS frequent_in_quarter,
       COALESCE(b.interruptions_fault, 0) AS interruptions_fault,
       COALESCE(b.interruptions_planned, 0) AS interruptions_planned,
       COALESCE(b.interruptions_unknown, 0) AS interruptions_unknown,
       COALESCE(b.interruptions_weather, 0) AS interruptions_weather,
       COALESCE(b.interruptions_external, 0) AS interruptions_external,
       COALESCE(b.interruptions_customer, 0) AS interruptions_customer,
       cp.case_id, cs.case_status, cs.measures, cs.responsible_unit, cs.due_date,
       cs.completion_date, cs.signed_off_at, cs.signed_off_by, cs.verification_note,
       cs.verified_by, cs.internal_note
  FROM listed l
  LEFT JOIN per_asset p USING (asset_type, asset_id)
  LEFT JOIN by_cause b USING (asset_type, asset_id)
  LEFT JOIN case_pick cp USING (asset_type, asset_id)
  LEFT JOIN case_state cs ON cs.case_id = cp.case_id
  LEFT JOIN area ar ON l.asset_type = 'area' AND ar.area_id = l.asset_id
  LEFT JOIN feeder fd ON l.asset_type = 'feeder' AND fd.feeder_id = l.asset_id
  LEFT JOIN asset_region rg ON rg.asset_type = l.asset_type AND rg.asset_id = l.asset_id
  LEFT JOIN admin_division cty ON cty.adcode = rg.county_adcode
  LEFT JOIN admin_division pref ON pref.adcode = rg.prefecture_adcode
  LEFT JOIN LATERAL (
        SELECT array_agg(t.layer ORDER BY t.layer) AS tags
          FROM asset_tag t
         WHERE t.asset_type = l.asset_type AND t.asset_id = l.asset_id
           AND t.share >= :min_share) tg ON true
 ORDER BY rg.prefecture_adcode NULLS LAST, rg.county_adcode NULLS LAST, l.asset_type, l.asset_id
