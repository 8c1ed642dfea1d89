-- Statements of spatial.tags, each introduced by "-- name: <key>". Values are bound parameters.

-- name: overlay_fingerprint
SELECT count(*)::text || ':' || coalesce(max(updated_at)::text, '') FROM overlay_feature;

-- name: admin_fingerprint
SELECT count(*)::text || ':' || coalesce(max(updated_at)::text, '')
FROM admin_division WHERE level = 'county';

-- name: rebuild_overlay_pieces
DELETE FROM overlay_piece;
INSERT INTO overlay_piece (layer, feature_id, geom)
SELECT layer, feature_id, piece
FROM (SELECT layer, feature_id, ST_Subdivide(geom, :max_vertices) AS piece FROM overlay_feature) s
WHERE GeometryType(piece) = 'POLYGON';
DELETE FROM overlay_union_piece;
INSERT INTO overlay_union_piece (layer, geom)
SELECT layer, piece
FROM (
    SELECT layer, ST_Subdivide(u, :max_vertices) AS piece
    FROM (SELECT layer, ST_UnaryUnion(ST_Collect(geom)) AS u FROM overlay_feature GROUP BY layer) l
) s
WHERE GeometryType(piece) = 'POLYGON';
ANALYZE overlay_piece;
ANALYZE overlay_union_piece;

-- name: rebuild_admin_pieces
DELETE FROM admin_piece;
INSERT INTO admin_piece (adcode, parent_adcode, geom)
SELECT adcode, parent_adcode, piece
FROM (
    SELECT adcode, parent_adcode, ST_Subdivide(geom, :max_vertices) AS piece
    FROM admin_division WHERE level = 'county'
) s
WHERE GeometryType(piece) = 'POLYGON';
ANALYZE admin_piece;

-- name: create_todo
CREATE TEMP TABLE IF NOT EXISTS _spatial_todo (
    asset_type text NOT NULL,
    asset_id   text NOT NULL,
    geom       geometry NOT NULL,
    size       double precision NOT NULL,
    do_tags    boolean NOT NULL,
    do_regions boolean NOT NULL
) ON COMMIT DROP;
TRUNCATE _spatial_todo;

-- name: fill_todo
-- Every asset whose tags (all_tags) or region (all_regions) must be recomputed, plus those that
-- changed since they were last computed (updated_at after their asset_region row).
INSERT INTO _spatial_todo (asset_type, asset_id, geom, size, do_tags, do_regions)
SELECT a.asset_type, a.asset_id, a.geom, a.size,
       CAST(:all_tags AS boolean) OR a.stale, CAST(:all_regions AS boolean) OR a.stale
FROM (
    SELECT 'area' AS asset_type, x.area_id AS asset_id, x.geom,
           ST_Area(x.geom::geography) AS size,
           (r.asset_id IS NULL OR x.updated_at > r.computed_at) AS stale
    FROM area x
    LEFT JOIN asset_region r ON r.asset_type = 'area' AND r.asset_id = x.area_id
    UNION ALL
    SELECT 'feeder', x.feeder_id, x.geom, ST_Length(x.geom::geography),
           (r.asset_id IS NULL OR x.updated_at > r.computed_at)
    FROM feeder x
    LEFT JOIN asset_region r ON r.asset_type = 'feeder' AND r.asset_id = x.feeder_id
) a
WHERE CAST(:all_tags AS boolean) OR CAST(:all_regions AS boolean) OR a.stale;
CREATE INDEX ON _spatial_todo USING gist (geom);
ANALYZE _spatial_todo;

-- name: drop_gone
DELETE FROM asset_tag t WHERE (t.asset_type = 'area' AND NOT EXISTS
        (SELECT 1 FROM area a WHERE a.area_id = t.asset_id))
    OR (t.asset_type = 'feeder' AND NOT EXISTS
        (SELECT 1 FROM feeder f WHERE f.feeder_id = t.asset_id));
DELETE FROM asset_region t WHERE (t.asset_type = 'area' AND NOT EXISTS
        (SELECT 1 FROM area a WHERE a.area_id = t.asset_id))
    OR (t.asset_type = 'feeder' AND NOT EXISTS
        (SELECT 1 FROM feeder f WHERE f.feeder_id = t.asset_id));

-- name: tags
DELETE FROM asset_tag t USING _spatial_todo d
WHERE d.do_tags AND t.asset_type = d.asset_type AND t.asset_id = d.asset_id;
-- The share inside the union of the layer: its pieces are disjoint, so their overlaps add up.
-- An asset inside a piece needs no intersection (the common case once pieces are small).
INSERT INTO asset_tag (asset_type, asset_id, layer, share, feature_ids, feature_names)
WITH inside AS (
    SELECT d.asset_type, d.asset_id, p.layer, d.size,
           sum(CASE
                 WHEN ST_CoveredBy(d.geom, p.geom) THEN d.size
                 WHEN d.asset_type = 'area' THEN ST_Area(ST_Intersection(d.geom, p.geom)::geography)
                 ELSE ST_Length(ST_Intersection(d.geom, p.geom)::geography)
               END) AS covered
    FROM _spatial_todo d
    JOIN overlay_union_piece p ON ST_Intersects(d.geom, p.geom)
    WHERE d.do_tags AND d.size > 0
    GROUP BY d.asset_type, d.asset_id, p.layer, d.size
), touched AS (
    -- Features whose interior meets the asset's interior (a shared border does not count).
    SELECT DISTINCT d.asset_type, d.asset_id, p.layer, p.feature_id
    FROM _spatial_todo d
    JOIN overlay_piece p ON ST_Intersects(d.geom, p.geom)
    WHERE d.do_tags AND d.size > 0
      AND CASE WHEN ST_CoveredBy(d.geom, p.geom) THEN true
               ELSE ST_Relate(d.geom, p.geom, 'T********') END
), named AS (
    SELECT t.asset_type, t.asset_id, t.layer,
           array_agg(t.feature_id ORDER BY f.name, t.feature_id) AS ids,
           array_agg(f.name ORDER BY f.name, t.feature_id) AS names
    FROM touched t
    JOIN overlay_feature f ON f.layer = t.layer AND f.feature_id = t.feature_id
    GROUP BY t.asset_type, t.asset_id, t.layer
)
SELECT i.asset_type, i.asset_id, i.layer,
       least(1.0, round(CAST(i.covered / i.size AS numeric), :digits))::double precision,
       coalesce(n.ids, '{}'), coalesce(n.names, '{}')
FROM inside i
LEFT JOIN named n USING (asset_type, asset_id, layer)
WHERE round(CAST(i.covered / i.size AS numeric), :digits) > 0;

-- name: regions
DELETE FROM asset_region t USING _spatial_todo d
WHERE d.do_regions AND t.asset_type = d.asset_type AND t.asset_id = d.asset_id;
-- The county each asset overlaps most (area for areas, length for feeders); ties go to the
-- smaller adcode. An asset outside every county keeps a row with no county.
INSERT INTO asset_region (asset_type, asset_id, county_adcode, prefecture_adcode)
WITH overlap AS (
    SELECT d.asset_type, d.asset_id, p.adcode, p.parent_adcode,
           sum(CASE
                 WHEN ST_CoveredBy(d.geom, p.geom) THEN d.size
                 WHEN d.asset_type = 'area' THEN ST_Area(ST_Intersection(d.geom, p.geom)::geography)
                 ELSE ST_Length(ST_Intersection(d.geom, p.geom)::geography)
               END) AS overlap
    FROM _spatial_todo d
    JOIN admin_piece p ON ST_Intersects(d.geom, p.geom)
    WHERE d.do_regions
    GROUP BY d.asset_type, d.asset_id, p.adcode, p.parent_adcode
), best AS (
    SELECT DISTINCT ON (asset_type, asset_id) asset_type, asset_id, adcode, parent_adcode
    FROM overlap
    WHERE overlap > 0
    ORDER BY asset_type, asset_id, overlap DESC, adcode
)
SELECT d.asset_type, d.asset_id, b.adcode, b.parent_adcode
FROM _spatial_todo d
LEFT JOIN best b ON b.asset_type = d.asset_type AND b.asset_id = d.asset_id
WHERE d.do_regions;
