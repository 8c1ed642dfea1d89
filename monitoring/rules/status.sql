-- name: drop_dirty
DROP TABLE IF EXISTS pg_temp.monitor_dirty;

-- name: dirty
-- Assets whose frequent-outage result may differ between the last evaluated as-of
-- (:old_as_of) and :as_of: interruptions changed since :since (records by updated_at, inferred
-- intervals and deleted/moved records through monitor_change, assets by updated_at), or
-- interruptions whose start crossed a window edge: the year's lower edge moved from
-- :old_lower to :new_lower, the upper edge from :old_as_of to :as_of, and an interruption
-- that was ongoing at :old_as_of may have turned out short (started after :old_short_edge).
CREATE TEMP TABLE monitor_dirty ON COMMIT DROP AS
SELECT DISTINCT asset_type, asset_id FROM (
    SELECT r.asset_type, r.asset_id FROM outage_record r WHERE r.updated_at > :since
    UNION ALL
    SELECT r.asset_type, r.asset_id FROM outage_record r
     WHERE (r.start_time > :old_lower AND r.start_time <= :new_lower)
        OR (r.start_time > :old_short_edge AND r.start_time <= :as_of)
    UNION ALL
    SELECT 'area', i.area_id FROM inferred_interruption i
     WHERE (i.start_time > :old_lower AND i.start_time <= :new_lower)
        OR (i.start_time > :old_short_edge AND i.start_time <= :as_of)
    UNION ALL
    SELECT c.asset_type, c.asset_id FROM monitor_change c WHERE c.changed_at > :since
    UNION ALL
    SELECT 'area', a.area_id FROM area a WHERE a.updated_at > :since
    UNION ALL
    SELECT 'feeder', f.feeder_id FROM feeder f WHERE f.updated_at > :since
) d;

-- name: dirty_feeder_areas
-- A feeder record interrupts every area on the feeder.
INSERT INTO monitor_dirty (asset_type, asset_id)
SELECT 'area', a.area_id
  FROM area a
  JOIN monitor_dirty d ON d.asset_type = 'feeder' AND d.asset_id = a.feeder_id
 WHERE NOT EXISTS (SELECT 1 FROM monitor_dirty x WHERE x.asset_type = 'area'
                                                   AND x.asset_id = a.area_id);

-- name: dirty_ids
SELECT asset_type, array_agg(asset_id) FROM monitor_dirty GROUP BY asset_type;

-- name: upsert
INSERT INTO asset_status (asset_type, asset_id, as_of, count_365, max_60, status)
SELECT s.asset_type, s.asset_id, CAST(:as_of AS timestamptz), s.count_365, s.max_60, s.status
  FROM ({status}) s
ON CONFLICT (asset_type, asset_id) DO UPDATE
   SET as_of = EXCLUDED.as_of, count_365 = EXCLUDED.count_365, max_60 = EXCLUDED.max_60,
       status = EXCLUDED.status;

-- name: delete_gone
DELETE FROM asset_status s
 WHERE (s.asset_type = 'area' AND NOT EXISTS (SELECT 1 FROM area a WHERE a.area_id = s.asset_id))
    OR (s.asset_type = 'feeder'
        AND NOT EXISTS (SELECT 1 FROM feeder f WHERE f.feeder_id = s.asset_id));

-- name: missing
-- Assets with no stored status yet (new since the last run).
INSERT INTO monitor_dirty (asset_type, asset_id)
SELECT 'area', a.area_id FROM area a
 WHERE NOT EXISTS (SELECT 1 FROM asset_status s WHERE s.asset_type = 'area'
                                                  AND s.asset_id = a.area_id)
UNION ALL
SELECT 'feeder', f.feeder_id FROM feeder f
 WHERE NOT EXISTS (SELECT 1 FROM asset_status s WHERE s.asset_type = 'feeder'
                                                  AND s.asset_id = f.feeder_id);

-- name: state
SELECT as_of, ran_at, settings_hash FROM monitor_state WHERE name = 'frequent_outage';

-- name: save_state
INSERT INTO monitor_state (name, as_of, ran_at, settings_hash)
VALUES ('frequent_outage', :as_of, :ran_at, :hash)
ON CONFLICT (name) DO UPDATE
   SET as_of = EXCLUDED.as_of, ran_at = EXCLUDED.ran_at, settings_hash = EXCLUDED.settings_hash;

-- name: prune_changes
DELETE FROM monitor_change WHERE changed_at < :before;
