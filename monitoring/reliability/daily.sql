-- Daily SAIDI (minutes) of the whole system for IEEE 1366 major event days: every area,
-- variant `all`, each merged interruption counted whole (unclipped) on the local day it starts.
WITH {merged},
n AS (
    SELECT CASE WHEN :basis_area THEN count(*) ELSE sum(customers) END::double precision AS n
      FROM area
)
SELECT CAST(p.gs AT TIME ZONE 'Asia/Shanghai' AS date) AS day,
       sum(CASE WHEN :basis_area THEN 1 ELSE a.customers END * p.contrib / 60.0)
           / NULLIF(min(n.n), 0) AS saidi_minutes
  FROM pieces p
  JOIN area a ON a.area_id = p.area_id
 CROSS JOIN n
 WHERE p.gs >= :lo AND p.gs < :hi
 GROUP BY 1
 ORDER BY 1
