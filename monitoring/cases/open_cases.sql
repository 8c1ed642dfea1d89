-- SPEC section 8 opening and recurrence, from the asset_status table `monitor run` writes.
-- A case opens for every asset whose latest status is `frequent` when
--   * it has no case that is not yet signed off (open, in_progress or completed), and
--   * it has never had a case, or it had a counted interruption (causes fault, planned,
--     unknown; not short) that started after the completion day of its latest signed-off
--     case, so it "became frequent again" rather than still carrying the old count.
WITH candidate AS (
    SELECT s.asset_type, s.asset_id, s.as_of, s.count_365, s.max_60,
           last.completion_date
      FROM asset_status s
      LEFT JOIN LATERAL (
            SELECT c.completion_date
              FROM remediation_case c
             WHERE c.asset_type = s.asset_type AND c.asset_id = s.asset_id
             ORDER BY c.opened_at DESC, c.case_id DESC
             LIMIT 1) last ON true
     WHERE s.status = 'frequent'
       AND NOT EXISTS (SELECT 1 FROM remediation_case c
                        WHERE c.asset_type = s.asset_type AND c.asset_id = s.asset_id
                          AND c.status <> 'closed')
),
eligible AS (
    SELECT c.*
      FROM candidate c
     WHERE NOT EXISTS (SELECT 1 FROM remediation_case rc
                        WHERE rc.asset_type = c.asset_type AND rc.asset_id = c.asset_id)
        OR EXISTS (
            SELECT 1
              FROM (SELECT ai.start_time, ai.end_time, ai.cause
                      FROM area_interruption ai
                     WHERE c.asset_type = 'area' AND ai.area_id = c.asset_id
                    UNION ALL
                    SELECT fi.start_time, fi.end_time, fi.cause
                      FROM feeder_interruption fi
                     WHERE c.asset_type = 'feeder' AND fi.feeder_id = c.asset_id) i
             WHERE i.cause IN ('fault', 'planned', 'unknown')
               AND (i.end_time IS NULL
                    OR i.end_time - i.start_time > make_interval(secs => :short_seconds))
               AND i.start_time <= c.as_of
               AND i.start_time >= (CAST(COALESCE(c.completion_date, DATE '1900-01-01') AS timestamp)
                                    + interval '1 day') AT TIME ZONE 'Asia/Shanghai')
)
INSERT INTO remediation_case (asset_type, asset_id, status, opened_at, opened_as_of,
                              opened_count_365, opened_max_60, updated_at)
SELECT asset_type, asset_id, 'open', :at, as_of, count_365, max_60, :at
  FROM eligible
ON CONFLICT (asset_type, asset_id) WHERE status <> 'closed' DO NOTHING
RETURNING case_id
