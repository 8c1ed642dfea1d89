-- Interruptions of every area for reliability (SPEC section 9): section 3 steps 1 and 2 (the
-- area_interruption view), step 4 (a recorded end at most :short_seconds after the start does
-- not count; an open one does), then for each variant the causes it leaves out are dropped
-- BEFORE step 5 merges overlapping or touching intervals. Step 3 does not apply.
-- One sort serves all three variants: running maxima FILTERed by variant find where each
-- variant's merged interruptions start (gs: the start of the merged interruption a row belongs
-- to), and each row's `contrib` is the time, inside [:clip_lo, :clip_hi], that it adds to the
-- union of the earlier rows, so the contribs of a merged interruption sum to its length.
-- An open interval merges with everything after it and lasts until :open_end.
-- Only intervals that start before :hi and have not ended before :lo are read: an interval
-- that ended before :lo can change only the start of a merged interruption that already
-- starts before :lo, never which intervals merge after it.
raw AS (
    SELECT ai.area_id, ai.start_time AS s, ai.end_time AS e,
           LEAST(COALESCE(ai.end_time, :open_end), :clip_hi) AS e_clip,
           GREATEST(ai.start_time, :clip_lo) AS s_clip,
           ai.cause NOT IN ('weather', 'external') AS in_ne,
           ai.cause <> 'planned' AS in_np
      FROM area_interruption ai
     WHERE ai.start_time < :hi
       AND (ai.end_time IS NULL OR ai.end_time >= :lo)
       AND (ai.end_time IS NULL OR ai.end_time - ai.start_time > make_interval(secs => :short_seconds))
),
runs AS (
    SELECT r.*,
           max(COALESCE(e, 'infinity'::timestamptz)) OVER w AS m_all,
           max(COALESCE(e, 'infinity'::timestamptz)) FILTER (WHERE in_ne) OVER w AS m_ne,
           max(COALESCE(e, 'infinity'::timestamptz)) FILTER (WHERE in_np) OVER w AS m_np,
           max(e_clip) OVER w AS c_all,
           max(e_clip) FILTER (WHERE in_ne) OVER w AS c_ne,
           max(e_clip) FILTER (WHERE in_np) OVER w AS c_np
      FROM raw r
    WINDOW w AS (PARTITION BY area_id ORDER BY s, e NULLS LAST
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
starts AS (
    SELECT r.*,
           max(s) FILTER (WHERE m_all IS NULL OR s > m_all) OVER w AS gs_all,
           max(s) FILTER (WHERE in_ne AND (m_ne IS NULL OR s > m_ne)) OVER w AS gs_ne,
           max(s) FILTER (WHERE in_np AND (m_np IS NULL OR s > m_np)) OVER w AS gs_np
      FROM runs r
    WINDOW w AS (PARTITION BY area_id ORDER BY s, e NULLS LAST ROWS UNBOUNDED PRECEDING)
),
pieces AS (
    SELECT x.area_id, v.variant, x.s, x.e, x.s_clip, x.e_clip, v.gs, (v.m IS NULL OR x.s > v.m) AS is_new,
           GREATEST(EXTRACT(EPOCH FROM x.e_clip - GREATEST(x.s_clip, COALESCE(v.c, x.s_clip))), 0)
               AS contrib
      FROM starts x
     CROSS JOIN LATERAL (VALUES ('all', true, x.gs_all, x.c_all, x.m_all),
                                ('no_external', x.in_ne, x.gs_ne, x.c_ne, x.m_ne),
                                ('no_planned', x.in_np, x.gs_np, x.c_np, x.m_np))
                        v (variant, inside, gs, c, m)
     WHERE v.inside AND v.variant = ANY (CAST(:variants AS text[]))
)
