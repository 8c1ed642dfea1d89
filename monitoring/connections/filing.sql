-- The monthly ledger 业扩接入需改造不满足接电时限台账 (SPEC section 16, Appendix 2), set-based.
--
-- Qualifying: a low-voltage application (lv_*) that needs a 10 kV+ upgrade and whose
-- upgrade_estimated_days (working days) exceed its limit. The ledger of the month starting
-- :lo (UTC of the local month start; :month is its first day) at :as_of holds:
--   * the applications the month's own filings listed (as they were listed), filed by :as_of;
--   * every qualifying application booked before :lo (and by :as_of) that no filing made by
--     :as_of listed. carried_over (前期漏报) is true when it was booked before :prev_lo, the
--     start of the previous month: it belonged in an earlier filing.

-- name: candidates
WITH lim AS (
    SELECT * FROM unnest(CAST(:classes AS text[]), CAST(:externals AS boolean[]),
                         CAST(:limits AS integer[])) AS l(customer_class, external_works, limit_days)
)
SELECT a.app_id, a.customer_class, a.external_works, a.booked_at, l.limit_days,
       a.upgrade_estimated_days, a.upgrade_due,
       a.booked_at < CAST(:prev_lo AS timestamptz) AS carried_over
  FROM application a
  JOIN lim l ON l.customer_class = a.customer_class AND l.external_works = a.external_works
 WHERE a.needs_upgrade
   AND a.customer_class LIKE 'lv%'
   AND a.upgrade_estimated_days > l.limit_days
   AND a.booked_at < CAST(:lo AS timestamptz)
   AND a.booked_at <= CAST(:as_of AS timestamptz)
   AND NOT EXISTS (
        SELECT 1 FROM upgrade_filing_item i JOIN upgrade_filing f USING (filing_id)
         WHERE i.app_id = a.app_id AND f.filed_at <= CAST(:as_of AS timestamptz))

-- name: filed
SELECT i.app_id, i.customer_class, i.external_works, i.booked_at, i.limit_days,
       i.upgrade_estimated_days, i.upgrade_due, i.carried_over
  FROM upgrade_filing_item i
  JOIN upgrade_filing f USING (filing_id)
 WHERE f.month = CAST(:month AS date)
   AND f.filed_at <= CAST(:as_of AS timestamptz)

-- name: filings
SELECT filing_id, month, deadline, filed_at, filed_by, rows
  FROM upgrade_filing
 WHERE month = CAST(:month AS date)
   AND filed_at <= CAST(:as_of AS timestamptz)
 ORDER BY filed_at, filing_id

-- name: lock
SELECT pg_advisory_xact_lock(hashtext('gridwatch.upgrade_filing'))

-- name: open_filing
INSERT INTO upgrade_filing (month, deadline, filed_at, filed_by, rows)
VALUES (CAST(:month AS date), CAST(:deadline AS date), :filed_at, :filed_by, 0)
RETURNING filing_id

-- name: file_items
WITH c AS (
{candidates}
), ins AS (
    INSERT INTO upgrade_filing_item (app_id, filing_id, customer_class, external_works,
                                     booked_at, limit_days, upgrade_estimated_days,
                                     upgrade_due, carried_over)
    SELECT c.app_id, :filing_id, c.customer_class, c.external_works, c.booked_at, c.limit_days,
           c.upgrade_estimated_days, c.upgrade_due, c.carried_over
      FROM c
     WHERE NOT EXISTS (SELECT 1 FROM upgrade_filing_item i WHERE i.app_id = c.app_id)
    ON CONFLICT (app_id) DO NOTHING
    RETURNING app_id
)
SELECT count(*) FROM ins

-- name: count_filing
UPDATE upgrade_filing SET rows = :rows WHERE filing_id = :filing_id

-- name: drop_filing
DELETE FROM upgrade_filing WHERE filing_id = :filing_id
