-- What the public may see of the live outages (SPEC section 13). psycopg parameters
-- (%(name)s); no other percent sign may appear here.

-- name: feed
-- The areas out now as the JSON array of the open feed, in the PubOutages shape (IEC CIM
-- profile used by ODIN), made here in one pass: mRID (the area and the outage's start), cause,
-- customersAffected, reportedStartTime, estimatedRestorationTime, statusKind (active: out now),
-- the area's centroid (a point inside it, 5 decimals) and its county. Times in UTC, written as
-- Python's isoformat writes them. Each area is read by its key (scalar subqueries), so the cost
-- follows the areas out, not the province; MATERIALIZED computes each point once. No meter, no
-- customer, no record or work id.
WITH out_now AS MATERIALIZED (
    SELECT l.area_id, l.since, l.cause, l.customers,
           to_char(l.since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
             || CASE WHEN date_trunc('second', l.since) = l.since THEN ''
                     ELSE to_char(l.since AT TIME ZONE 'UTC', '.US') END || '+00:00' AS since_iso,
           to_char(l.estimated_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
             || CASE WHEN date_trunc('second', l.estimated_end) = l.estimated_end THEN ''
                     ELSE to_char(l.estimated_end AT TIME ZONE 'UTC', '.US') END || '+00:00' AS end_iso,
           (SELECT ST_PointOnSurface(a.geom) FROM area a WHERE a.area_id = l.area_id) AS point,
           (SELECT r.county_adcode FROM asset_region r
             WHERE r.asset_type = 'area' AND r.asset_id = l.area_id) AS county_adcode
      FROM live_outage l
), named AS (
    SELECT o.*, COALESCE(c.name, o.county_adcode) AS county
      FROM out_now o LEFT JOIN admin_division c ON c.adcode = o.county_adcode
)
SELECT COALESCE('[' || string_agg(
           '{"mRID":' || to_json(area_id || '@' || since_iso)::text
           || ',"cause":' || to_json(cause)::text
           || ',"customersAffected":' || customers::text
           || ',"reportedStartTime":' || to_json(since_iso)::text
           || ',"estimatedRestorationTime":' || COALESCE(to_json(end_iso)::text, 'null')
           || ',"statusKind":"active"'
           || ',"centroid":' || COALESCE(
                  '{"lon":' || round(ST_X(point)::numeric, 5)::float8::text
                  || ',"lat":' || round(ST_Y(point)::numeric, 5)::float8::text || '}', 'null')
           || ',"county":' || COALESCE(to_json(county)::text, 'null') || '}',
           ',' ORDER BY since, area_id) || ']', '[]')
  FROM named;

-- name: lookup
-- One meter's area: its live outage (if any), its last five interruptions (SPEC section 3,
-- steps 1 and 2) and the works planned on it or its feeder that overlap the next 7 days. No
-- row for an unknown meter. The three arrays of a list are sorted on the same full key, so
-- their items line up.
SELECT l.since, l.cause, l.estimated_end, l.progress,
       recent.starts, recent.ends, recent.causes,
       works.starts, works.ends, works.methods
  FROM meter m
  JOIN area a ON a.area_id = m.area_id
  LEFT JOIN live_outage l ON l.area_id = m.area_id
 CROSS JOIN LATERAL (
       SELECT array_agg(i.start_time ORDER BY i.start_time DESC, i.end_time, i.cause) AS starts,
              array_agg(i.end_time ORDER BY i.start_time DESC, i.end_time, i.cause) AS ends,
              array_agg(i.cause ORDER BY i.start_time DESC, i.end_time, i.cause) AS causes
         FROM (SELECT start_time, end_time, cause FROM area_interruption
                WHERE area_id = m.area_id AND start_time <= %(now)s
                ORDER BY start_time DESC LIMIT 5) i) recent
 CROSS JOIN LATERAL (
       SELECT array_agg(w.planned_start ORDER BY w.planned_start, w.planned_end, w.method) AS starts,
              array_agg(w.planned_end ORDER BY w.planned_start, w.planned_end, w.method) AS ends,
              array_agg(w.method ORDER BY w.planned_start, w.planned_end, w.method) AS methods
         FROM maintenance_work w
        WHERE ((w.asset_type = 'area' AND w.asset_id = m.area_id)
            OR (w.asset_type = 'feeder' AND w.asset_id = a.feeder_id))
          AND w.planned_end >= %(now)s AND w.planned_start <= %(until)s) works
 WHERE m.meter_id = %(meter)s;
