-- Reliability sums per (region, variant) over the period [:lo, :hi) (SPEC section 9).
-- A merged interruption overlaps the period when one of its intervals ends after :lo; its
-- hours are the sum of its pieces' contribs clipped to the period. Merged interruptions that
-- start on a major event day (:med_days, local dates) are left out.
-- The region_area CTE (one of indices.REGION_SQL) gives (region_id, region_name, area_id).
-- customer_hours_rate: how fast customer_hours grows with :open_end (customer-hours per hour),
-- through the areas out now; monitoring.reliability.cache extrapolates cached sums with it.
WITH {merged},
kept AS (
    SELECT * FROM pieces
     WHERE CAST(:med_days AS date[]) IS NULL
        OR NOT (CAST(gs AT TIME ZONE 'Asia/Shanghai' AS date) = ANY (CAST(:med_days AS date[])))
),
per_area AS (
    SELECT variant, area_id,
           count(*) FILTER (WHERE is_new AND s >= :lo)
             + CASE WHEN bool_or(gs < :lo AND COALESCE(e, 'infinity'::timestamptz) > :lo)
                    THEN 1 ELSE 0 END AS n,
           sum(contrib) / 3600.0 AS h,
           -- g: 1 when h grows with :open_end (the right derivative of the union's length):
           -- an open interval has begun by :open_end and no closed one reaches past it.
           CASE WHEN :open_end < :clip_hi
                 AND bool_or(e IS NULL AND s_clip <= :open_end)
                 AND NOT COALESCE(bool_or(e IS NOT NULL AND s_clip <= :open_end
                                          AND e_clip > :open_end), false)
                THEN 1 ELSE 0 END AS g
      FROM kept
     GROUP BY variant, area_id
),
region_area AS (
{regions}
),
weights AS (
    SELECT ra.region_id, ra.region_name, a.area_id,
           CASE WHEN :basis_area THEN 1 ELSE a.customers END AS c
      FROM region_area ra
      JOIN area a ON a.area_id = ra.area_id
),
totals AS (
    SELECT region_id, min(region_name) AS region_name, sum(c) AS customers
      FROM weights
     GROUP BY region_id
),
sums AS (
    SELECT w.region_id, p.variant,
           sum(p.n)::bigint AS interruptions,
           sum(w.c * p.n)::double precision AS customer_interruptions,
           sum(w.c * p.h)::double precision AS customer_hours,
           sum(w.c * p.g)::double precision AS customer_hours_rate
      FROM weights w
      JOIN per_area p ON p.area_id = w.area_id
     GROUP BY w.region_id, p.variant
)
SELECT t.region_id, t.region_name, v.variant, t.customers::bigint AS customers,
       COALESCE(s.interruptions, 0) AS interruptions,
       COALESCE(s.customer_interruptions, 0) AS customer_interruptions,
       COALESCE(s.customer_hours, 0) AS customer_hours,
       COALESCE(s.customer_hours_rate, 0) AS customer_hours_rate
  FROM totals t
 CROSS JOIN unnest(CAST(:variants AS text[])) AS v (variant)
  LEFT JOIN sums s ON s.region_id = t.region_id AND s.variant = v.variant
 ORDER BY t.region_id, array_position(CAST(:variants AS text[]), v.variant)
