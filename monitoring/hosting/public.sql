-- The public hosting-capacity document (SPEC section 15): the latest computed quarter's areas,
-- their centroids (a point on each area's surface) and grades, and nothing else: no loads, no
-- PV. Made in the database as one JSON text, so a province (200,000 areas) never becomes
-- Python objects. Run by api.routers.public through monitoring.hosting.public.

-- name: latest
SELECT quarter, computed_at FROM hosting_run ORDER BY quarter DESC LIMIT 1

-- name: document
SELECT json_build_object(
           'quarter', r.quarter,
           'computed_at', to_char(r.computed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'areas', COALESCE((
               SELECT json_agg(json_build_object('area_id', h.area_id, 'lon', h.lon,
                                                 'lat', h.lat, 'grade', h.grade)
                               ORDER BY h.area_id)
                 FROM hosting_area h
                WHERE h.quarter = r.quarter), '[]'::json))::text
  FROM hosting_run r
 WHERE r.quarter = %(quarter)s
