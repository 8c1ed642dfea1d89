-- PV hosting capacity of every area and feeder for one quarter (SPEC section 15), run by
-- monitoring.hosting.capacity. Every figure is rounded to 0.001 kW before grading (see areas):
--   S_d = (P + β·S·cos φ) / τ,  C1 = S_d − Σ connected kW,  C2 = C1 − Σ registered kW
--   green: C2 > 0;  yellow: C2 ≤ 0 < C1;  red: C1 ≤ 0;
--   unassessed: no usable capacity_kva (missing, 0, not finite) or no typical load.

-- name: stamp
SELECT COALESCE(string_agg(name || '=' || version, ' ' ORDER BY name), '')
  FROM change_stamp
 WHERE name IN ('area', 'area_load', 'feeder', 'pv', 'regions')

-- name: lock
SELECT pg_advisory_xact_lock(hashtext('gridwatch.hosting'))

-- name: stored_run
SELECT quarter, computed_at, stamp, beta, cos_phi, tau, areas, feeders
  FROM hosting_run WHERE quarter = :quarter

-- name: delete_areas
DELETE FROM hosting_area WHERE quarter = :quarter

-- name: delete_feeders
DELETE FROM hosting_feeder WHERE quarter = :quarter

-- name: delete_run
DELETE FROM hosting_run WHERE quarter = :quarter

-- name: insert_run
INSERT INTO hosting_run (quarter, computed_at, stamp, beta, cos_phi, tau, areas, feeders)
VALUES (:quarter, :computed_at, :stamp, :beta, :cos_phi, :tau, 0, 0)

-- name: areas
-- Every figure is rounded to 0.001 kW (1 W) as soon as it is made, in float8: round(x·1000)/1000
-- is the double nearest the decimal, so equal decimals give equal doubles and C1 or C2 is exactly
-- 0 when the inputs (given to 1 W) make it 0. (numeric arithmetic gave the same figures at twice
-- the cost: 4 s for 200,000 areas.)
INSERT INTO hosting_area (quarter, area_id, feeder_id, county, county_adcode, lon, lat, s_kva,
                          p_kw, s_d_kw, connected_kw, registered_kw, c1_kw, c2_kw, grade)
WITH pv AS (
    SELECT area_id,
           round(COALESCE(sum(kw) FILTER (WHERE status = 'connected'), 0) * 1000) / 1000 AS connected,
           round(COALESCE(sum(kw) FILTER (WHERE status = 'registered'), 0) * 1000) / 1000 AS registered
      FROM pv_unit
     GROUP BY area_id
), inputs AS (
    SELECT a.area_id, a.feeder_id, ST_PointOnSurface(a.geom) AS pt,
           COALESCE(c.name, r.county_adcode) AS county, r.county_adcode,
           CASE WHEN a.capacity_kva > 0 AND a.capacity_kva < 'Infinity'::float8
                THEN a.capacity_kva END AS s,
           l.typical_load_kw AS p,
           COALESCE(pv.connected, 0) AS connected,
           COALESCE(pv.registered, 0) AS registered
      FROM area a
      LEFT JOIN area_load l ON l.area_id = a.area_id
      LEFT JOIN pv ON pv.area_id = a.area_id
      LEFT JOIN asset_region r ON r.asset_type = 'area' AND r.asset_id = a.area_id
      LEFT JOIN admin_division c ON c.adcode = r.county_adcode
), figures AS MATERIALIZED (
    SELECT i.*,
           round((i.p + CAST(:beta AS float8) * i.s * CAST(:cos_phi AS float8))
                 / CAST(:tau AS float8) * 1000) / 1000 AS s_d
      FROM inputs i
), capacity AS MATERIALIZED (
    SELECT f.*, round((f.s_d - f.connected) * 1000) / 1000 + 0 AS c1,          -- + 0: never -0
           round((f.s_d - f.connected - f.registered) * 1000) / 1000 + 0 AS c2
      FROM figures f
)
SELECT :quarter, k.area_id, k.feeder_id, k.county, k.county_adcode,
       round(ST_X(k.pt) * 1e6) / 1e6, round(ST_Y(k.pt) * 1e6) / 1e6,
       k.s, k.p, k.s_d, k.connected, k.registered, k.c1, k.c2,
       CASE WHEN k.s_d IS NULL THEN 'unassessed'
            WHEN k.c1 <= 0 THEN 'red'
            WHEN k.c2 <= 0 THEN 'yellow'
            ELSE 'green' END
  FROM capacity k

-- name: feeders
-- The worst grade of a feeder's areas: red > yellow > unassessed > green. An unassessed area
-- keeps its feeder from green but does not hide a known yellow or red; a feeder with no areas
-- is unassessed.
INSERT INTO hosting_feeder (quarter, feeder_id, grade)
SELECT :quarter, f.feeder_id,
       (ARRAY['green', 'unassessed', 'yellow', 'red'])[COALESCE(max(
           CASE h.grade WHEN 'green' THEN 1 WHEN 'unassessed' THEN 2 WHEN 'yellow' THEN 3
                        WHEN 'red' THEN 4 END), 2)]
  FROM feeder f
  LEFT JOIN hosting_area h ON h.quarter = :quarter AND h.feeder_id = f.feeder_id
 GROUP BY f.feeder_id

-- name: finish
UPDATE hosting_run
   SET areas = (SELECT count(*) FROM hosting_area WHERE quarter = :quarter),
       feeders = (SELECT count(*) FROM hosting_feeder WHERE quarter = :quarter)
 WHERE quarter = :quarter
RETURNING areas, feeders
