-- Customer notifications (SPEC section 13, task 54). One row per subscriber and event; the
-- unique key (event_key, meter_id, channel) keeps any event from being queued twice, whoever
-- queues it and however often. Event keys:
--   outage_start/AREA/SINCE, restoration/AREA/SINCE, estimate_changed/AREA/SINCE/SEQ
--   planned_work/WORK/SEQ
-- SINCE is the outage's start in UTC with microseconds, so the key never depends on the
-- session's time zone.

-- name: queue_outage
WITH c AS (
    SELECT *
      FROM jsonb_to_recordset(CAST(:changes AS jsonb)) AS c(
           kind text, area_id text, since timestamptz, cause text, estimated_end timestamptz,
           progress text, restored_at timestamptz, seq integer)
)
INSERT INTO push_notification (event_key, kind, meter_id, channel, contact, area_id, since,
                               cause, estimated_end, progress, restored_at, next_attempt_at,
                               created_at)
SELECT concat_ws('/', c.kind, c.area_id,
                 to_char(c.since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                 CASE WHEN c.kind = 'estimate_changed' THEN c.seq::text END),
       c.kind, s.meter_id, s.channel, s.contact, c.area_id, c.since, c.cause, c.estimated_end,
       c.progress, c.restored_at, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
  FROM c
  JOIN meter m ON m.area_id = c.area_id
  JOIN push_subscription s ON s.meter_id = m.meter_id
ON CONFLICT (event_key, meter_id, channel) DO NOTHING
RETURNING id;

-- name: queue_works
-- Every work still to begin whose current version (asset, planned times, method) subscribers
-- have not been told about gets a new notice version (seq), recorded with the time it was
-- noticed and notice_late: less than 7 days between then and the planned start. Then one
-- notification per subscriber in the areas it covers (the area, or every area of the feeder).
-- Two processes at once: the primary key of push_work_notice lets one of them insert a
-- version; the other inserts nothing and so queues nothing.
WITH due AS (
    SELECT w.work_id, COALESCE(last.seq, 0) + 1 AS seq, w.asset_type, w.asset_id,
           w.planned_start, w.planned_end, w.method
      FROM maintenance_work w
      LEFT JOIN LATERAL (
            SELECT n.seq, n.asset_type, n.asset_id, n.planned_start, n.planned_end, n.method
              FROM push_work_notice n
             WHERE n.work_id = w.work_id
             ORDER BY n.seq DESC
             LIMIT 1) last ON true
     WHERE w.planned_start > CAST(:now AS timestamptz)
       AND (last.seq IS NULL
            OR (last.asset_type, last.asset_id, last.planned_start, last.planned_end, last.method)
               IS DISTINCT FROM (w.asset_type, w.asset_id, w.planned_start, w.planned_end, w.method))
), noticed AS (
    INSERT INTO push_work_notice (work_id, seq, asset_type, asset_id, planned_start,
                                  planned_end, method, noticed_at, notice_late)
    SELECT work_id, seq, asset_type, asset_id, planned_start, planned_end, method,
           CAST(:now AS timestamptz),
           planned_start - CAST(:now AS timestamptz) < make_interval(secs => :notice_seconds)
      FROM due
    ON CONFLICT (work_id, seq) DO NOTHING
    RETURNING *
), covered AS (
    SELECT n.*, a.area_id
      FROM noticed n JOIN area a ON a.area_id = n.asset_id
     WHERE n.asset_type = 'area'
    UNION ALL
    SELECT n.*, a.area_id
      FROM noticed n JOIN area a ON a.feeder_id = n.asset_id
     WHERE n.asset_type = 'feeder'
), queued AS (
    INSERT INTO push_notification (event_key, kind, meter_id, channel, contact, area_id,
                                   work_id, planned_start, planned_end, method, notice_late,
                                   next_attempt_at, created_at)
    SELECT concat_ws('/', 'planned_work', c.work_id, c.seq::text), 'planned_work', s.meter_id,
           s.channel, s.contact, c.area_id, c.work_id, c.planned_start, c.planned_end, c.method,
           c.notice_late, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
      FROM covered c
      JOIN meter m ON m.area_id = c.area_id
      JOIN push_subscription s ON s.meter_id = m.meter_id
    ON CONFLICT (event_key, meter_id, channel) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM noticed) AS works, (SELECT count(*) FROM queued) AS notifications;

-- name: unsent
SELECT count(*) FROM push_notification
 WHERE status = 'queued' AND next_attempt_at <= CAST(:now AS timestamptz);

-- name: due
SELECT n.id, n.kind, n.meter_id, n.channel, n.contact, n.area_id, a.name AS area_name,
       n.since, n.cause, n.estimated_end, n.progress, n.restored_at, n.planned_start,
       n.planned_end, n.method, n.notice_late, n.attempts, n.created_at
  FROM push_notification n
  LEFT JOIN area a ON a.area_id = n.area_id
 WHERE n.status = 'queued' AND n.next_attempt_at <= CAST(:now AS timestamptz)
 ORDER BY n.id
 LIMIT :batch
   FOR UPDATE OF n SKIP LOCKED;

-- name: record_attempt
UPDATE push_notification
   SET status = :status, attempts = :attempts, last_attempt_at = :now,
       next_attempt_at = :next, http_status = :code, last_error = :error,
       sent_at = CASE WHEN :status = 'sent' THEN CAST(:now AS timestamptz) END
 WHERE id = :id;
