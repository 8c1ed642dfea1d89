-- Reliability sums per (region, variant) over the period [:lo, :hi) (SPEC section 9).
-- An open interruption ends at :open_end (the period's end, or now if earlier). Merged
-- interruptions that start on a major event day (:med_days, local dates) are left out.
-- The region_area CTE (one of indices.REGION_SQL) gives (region_id, region_name, area_id).
WITH {merged},
inside AS (
    SELECT variant, area_id,
           GREATEST(EXTRACT(EPOCH FROM LEAST(COALESCE(e, :open_end), :hi) - GREATEST(s, :lo)), 0)
               / 3600.0 AS hours
      FROM merged
     WHERE COALESCE(e, 'infinity'::timestamptz) > :lo
       AND (CAST(:med_days AS date[]) IS NULL
            OR NOT (CAST(s AT TIME ZONE 'Asia/Shanghai' AS date) = ANY (CAST(:med_days AS date[]))))
),
per_area AS (
    SELECT variant, area_id, count(*) AS n, sum(hours) AS h
      FROM inside
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
    SELECT w.region_id, v.variant,
           COALESCE(sum(p.n), 0)::bigint AS interruptions,
           COALESCE(sum(w.c * p.n), 0)::double precision AS customer_interruptions,
           COALESCE(sum(w.c * p.h), 0)::double precision AS customer_hours
      FROM weights w
      CROSS JOIN (SELECT variant FROM variants WHERE variant = ANY (CAST(:variants AS text[]))) v
      LEFT JOIN per_area p ON p.area_id = w.area_id AND p.variant = v.variant
     GROUP BY w.region_id, v.variant
)
SELECT t.region_id, t.region_name, s.variant, t.customers::bigint AS customers,
       s.interruptions, s.customer_interruptions, s.customer_hours
  FROM totals t
  JOIN sums s ON s.region_id = t.region_id
 ORDER BY t.region_id, s.variant
