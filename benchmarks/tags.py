"""Benchmark: tag the province-scale demo in PostGIS vs a geopandas overlay/sjoin reference.

Usage: .venv/bin/python benchmarks/tags.py [--seed 7] [--keep]
Creates a scratch database on the configured server (GRIDWATCH_DATABASE_URL, else the embedded
one), loads the province demo's admin divisions, feeders, areas and overlays through the real
loaders, then times ``spatial.tags.refresh`` (every area and feeder against every overlay layer
and the counties) and the same computation with geopandas in an Albers equal-area projection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import create, drop, server  # noqa: E402
from core.settings import Settings  # noqa: E402
from spatial import loaders, tags  # noqa: E402
from spatial.demo import generate  # noqa: E402

ALBERS_CHINA = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +ellps=WGS84 +units=m +no_defs"
ANCHOR = datetime.fromisoformat("2026-11-01T00:00:00+08:00")


def reference(engine, min_share: float) -> tuple[float, pd.DataFrame, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """The same tags and regions with geopandas (overlay + sjoin), equal-area projection."""
    with engine.connect() as c:
        areas = gpd.read_postgis("SELECT area_id AS asset_id, geom FROM area", c, geom_col="geom")
        feeders = gpd.read_postgis("SELECT feeder_id AS asset_id, geom FROM feeder", c, geom_col="geom")
        overlay = gpd.read_postgis("SELECT layer, feature_id, geom FROM overlay_feature", c, geom_col="geom")
        county = gpd.read_postgis(
            "SELECT adcode, parent_adcode, geom FROM admin_division WHERE level = 'county'", c,
            geom_col="geom")
    started = time.perf_counter()
    areas, feeders, overlay, county = (g.to_crs(ALBERS_CHINA) for g in (areas, feeders, overlay, county))
    areas["size"] = areas.area
    feeders["size"] = feeders.length
    out = []
    for layer, feats in overlay.groupby("layer"):
        union = gpd.GeoDataFrame({"layer": [layer]}, geometry=[feats.union_all()], crs=ALBERS_CHINA)
        inter = gpd.overlay(areas, union, how="intersection", keep_geom_type=True)
        share = inter.assign(inside=inter.area).groupby("asset_id")["inside"].sum() / areas.set_index(
            "asset_id")["size"]
        out.append(pd.DataFrame({"asset_type": "area", "asset_id": share.dropna().index, "layer": layer,
                                 "share": share.dropna().to_numpy()}))
        pairs = gpd.sjoin(feeders, union, predicate="intersects")
        clipped = shapely.intersection(pairs.geometry.values, union.geometry.values[0])
        fshare = pd.Series(shapely.length(clipped), index=pairs["asset_id"]).groupby(level=0).sum() \
            / feeders.set_index("asset_id")["size"]
        out.append(pd.DataFrame({"asset_type": "feeder", "asset_id": fshare.dropna().index, "layer": layer,
                                 "share": fshare.dropna().to_numpy()}))
        gpd.sjoin(areas, feats, predicate="intersects")  # the touched features' names
    tags_ref = pd.concat(out, ignore_index=True)
    inter = gpd.overlay(areas, county, how="intersection", keep_geom_type=True)
    inter["overlap"] = inter.area
    best = inter.sort_values(["asset_id", "overlap"], ascending=[True, False]).drop_duplicates("asset_id")
    pairs = gpd.sjoin(feeders, county, predicate="intersects")
    pairs["overlap"] = shapely.length(shapely.intersection(
        pairs.geometry.values, county.geometry.values[pairs["index_right"].to_numpy()]))
    fbest = pairs.sort_values(["asset_id", "overlap"], ascending=[True, False]).drop_duplicates("asset_id")
    regions = pd.concat([best.assign(asset_type="area")[["asset_type", "asset_id", "adcode"]],
                         fbest.assign(asset_type="feeder")[["asset_type", "asset_id", "adcode"]]])
    return time.perf_counter() - started, tags_ref[tags_ref["share"] > 0], regions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument("--generate-only", action="store_true", help="only write the demo files")
    ap.add_argument("--skip-reference", action="store_true", help="time PostGIS only")
    args = ap.parse_args()
    if args.generate_only:
        generate(out_dir=Path(Settings().data_dir) / "demo" / f"province-{args.seed}-bench",
                 scale="province", seed=args.seed, anchor=ANCHOR)
        return
    base = server()
    url = create(base.sqlalchemy_url(), f"gw_bench_tags_{uuid.uuid4().hex[:8]}")
    settings = Settings(database_url=url, data_dir=base.data_dir)
    try:
        out_dir = Path(base.data_dir) / "demo" / f"province-{args.seed}-bench"
        t = time.perf_counter()
        cached = out_dir / "manifest.json"
        if cached.exists() and json.loads(cached.read_text())["anchor"] == ANCHOR.isoformat():
            manifest = json.loads(cached.read_text())  # same seed and anchor: the same files
        else:
            manifest = generate(out_dir=out_dir, scale="province", seed=args.seed, anchor=ANCHOR)
        t_gen = time.perf_counter() - t
        files = manifest["files"]
        engine = create_engine(url)
        t = time.perf_counter()
        with Session(engine) as s:
            loaders.load_admin(session=s, paths=[files["admin"]], crs="gcj02")
            loaders.load_feeders(session=s, path=files["feeders"])
            loaders.load_areas(session=s, path=files["areas"])
            for layer, path in files["overlays"].items():
                loaders.load_overlay(session=s, layer=layer, path=path)
            s.commit()
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        with Session(engine) as s:
            tags.refresh(session=s, settings=settings, full=True)
            s.commit()
        t_db = time.perf_counter() - t
        print(f"PostGIS spatial.tags.refresh: {t_db:.1f} s (load {t_load:.1f} s); running the "
              "geopandas reference …", flush=True)
        if args.skip_reference:
            return
        t_ref, tags_ref, regions_ref = reference(engine, settings.tag_min_share)
        with engine.connect() as c:
            db_tags = pd.DataFrame(c.execute(text(
                "SELECT asset_type, asset_id, layer, share FROM asset_tag")).all(),
                columns=["asset_type", "asset_id", "layer", "share"])
            db_regions = pd.DataFrame(c.execute(text(
                "SELECT asset_type, asset_id, county_adcode FROM asset_region")).all(),
                columns=["asset_type", "asset_id", "county_adcode"])
            counts = c.execute(text(
                "SELECT (SELECT count(*) FROM area), (SELECT count(*) FROM feeder), "
                "(SELECT count(*) FROM overlay_feature), (SELECT count(*) FROM admin_division "
                "WHERE level = 'county'), (SELECT count(*) FROM overlay_piece), "
                "(SELECT count(*) FROM admin_piece)")).one()
        both = db_tags.merge(tags_ref, on=["asset_type", "asset_id", "layer"], how="outer",
                             suffixes=("_db", "_ref")).fillna(0.0)
        diff = (both["share_db"] - both["share_ref"]).abs()
        tagged_db = both["share_db"] >= settings.tag_min_share
        tagged_ref = both["share_ref"] >= settings.tag_min_share
        reg = db_regions.merge(regions_ref, on=["asset_type", "asset_id"], how="left")
        agree = float((reg["county_adcode"] == reg["adcode"]).mean())
        print(f"benchmark: tags and regions, province-scale Guizhou demo (seed {args.seed})")
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"data: {counts[0]} areas, {counts[1]} feeders, {counts[2]} overlay features, "
              f"{counts[3]} counties; {counts[4]} overlay pieces, {counts[5]} county pieces")
        print(f"generate files: {t_gen:.1f} s; load admin/feeders/areas/overlays: {t_load:.1f} s")
        print(f"{'method':<44}{'seconds':>10}")
        print(f"{'PostGIS spatial.tags.refresh (geography)':<44}{t_db:>10.1f}")
        print(f"{'geopandas overlay/sjoin (Albers equal-area)':<44}{t_ref:>10.1f}")
        print(f"ratio PostGIS / geopandas: {t_db / t_ref:.2f}  (target <= 1.0, and <= 60 s)")
        print(f"agreement: max |share diff| {diff.max():.2e}, p99 {np.quantile(diff, 0.99):.2e}; "
              f"tag decisions differ for {int((tagged_db != tagged_ref).sum())} of {len(both)} "
              f"(asset, layer) pairs; same county for {agree:.2%} of assets")
    finally:
        if not args.keep:
            drop(url)


if __name__ == "__main__":
    main()
