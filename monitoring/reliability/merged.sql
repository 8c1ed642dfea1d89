-- Interruptions of every area for reliability (SPEC section 9): section 3 steps 1 and 2 (the
-- area_interruption view), step 4 (a recorded end at most :short_seconds after the start does
-- not count; an open one does), then, per variant, the causes it leaves out are dropped BEFORE
-- step 5 merges overlapping or touching intervals. Step 3 does not apply.
-- Only intervals that start before :hi and have not ended before :lo are read: an interval
-- that ended before :lo can change only the start of a merged interruption that already
-- starts before :lo, never which intervals merge after it.
variants (variant, excluded) AS (
    VALUES ('all', ARRAY[]::text[]),
           ('no_external', ARRAY['weather', 'external']),
           ('no_planned', ARRAY['planned'])
),
raw AS (
    SELECT ai.area_id, ai.start_time, ai.end_time, ai.cause
      FROM area_interruption ai
     WHERE ai.start_time < :hi
       AND (ai.end_time IS NULL OR ai.end_time >= :lo)
       AND (ai.end_time IS NULL OR ai.end_time - ai.start_time > make_interval(secs => :short_seconds))
),
counted AS (
    SELECT v.variant, r.area_id, r.start_time, r.end_time
      FROM raw r
      JOIN variants v ON v.variant = ANY (CAST(:variants AS text[])) AND NOT (r.cause = ANY (v.excluded))
),
marked AS (
    SELECT variant, area_id, start_time, end_time,
           CASE WHEN start_time <= max(COALESCE(end_time, 'infinity'::timestamptz)) OVER w
                THEN 0 ELSE 1 END AS is_new
      FROM counted
    WINDOW w AS (PARTITION BY variant, area_id ORDER BY start_time, end_time NULLS LAST
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
grouped AS (
    SELECT variant, area_id, start_time, end_time,
           sum(is_new) OVER (PARTITION BY variant, area_id ORDER BY start_time, end_time NULLS LAST
                             ROWS UNBOUNDED PRECEDING) AS grp
      FROM marked
),
merged AS (
    SELECT variant, area_id, min(start_time) AS s,
           CASE WHEN bool_or(end_time IS NULL) THEN NULL ELSE max(end_time) END AS e
      FROM grouped
     GROUP BY variant, area_id, grp
)
