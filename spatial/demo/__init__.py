"""The Guizhou demo dataset: real boundaries, a synthetic grid and 14 months of streams.

Deterministic: the same ``seed`` and ``anchor`` give the same files, byte for byte.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.errors import UsageError
from core.settings import Settings
from spatial import loaders, tags
from spatial.crs import GCJ02, WGS84
from spatial.demo.boundaries import URBAN, admin_path, counties, overlays
from spatial.demo.connections import generate_connections
from spatial.demo.grid import build_grid
from spatial.demo.hosting import generate_hosting
from spatial.demo.planning import generate_planning
from spatial.demo.streams import generate_streams, storm

log = logging.getLogger(__name__)

SCALES: dict[str, dict[str, Any]] = {
    # A handful of counties: Guiyang's and Zunyi's centres, Huaxi (Gui'an), Kaili and Sandu.
    "county": {
        "areas": {"520102": 60, "520103": 60, "520111": 40, "520302": 50, "520303": 40,
                  "522601": 40, "522732": 30},
        "areas_per_feeder": 12, "villages": 15, "compounds": 30, "meter_event_areas": None,
    },
    # All 88 counties: about 200,000 areas, 10,000 feeders and 10 million meters.
    "province": {
        "areas": 200_000, "urban_areas": 3_500, "areas_per_feeder": 20, "villages": 3_000,
        "compounds": 600, "meter_event_areas": 3_000,
    },
}
LAYERS = loaders.OVERLAY_LAYERS


def default_anchor() -> datetime:
    """The start of today in Asia/Shanghai: the demo's data ends here."""
    now = datetime.now(LOCAL_TZ)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _areas_per_county(spec: dict[str, Any]) -> dict[str, int]:
    if isinstance(spec["areas"], dict):
        return dict(spec["areas"])
    cty = counties()
    urban = [c for c in cty.index if c in URBAN]
    rural = [c for c in cty.index if c not in URBAN]
    left = spec["areas"] - spec["urban_areas"] * len(urban)
    size = cty.loc[rural].to_crs("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105").area.to_numpy()
    share = np.floor(size / size.sum() * left).astype(int)
    share[: left - share.sum()] += 1
    return {**{c: spec["urban_areas"] for c in urban}, **dict(zip(rural, share.tolist(), strict=True))}


def generate(*, out_dir: Path, scale: str, seed: int, anchor: datetime | None = None,
             holidays_file: Path | None = None) -> dict[str, Any]:
    """Write the demo's input files to ``out_dir``; return their paths and counts.

    ``holidays_file`` (GRIDWATCH_HOLIDAYS_FILE) is the working-day calendar the connection
    applications are laid out on."""
    if scale not in SCALES:
        raise UsageError(f"unknown scale {scale!r}; use one of: {', '.join(SCALES)}")
    spec = SCALES[scale]
    anchor = anchor or default_anchor()
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    per_county = _areas_per_county(spec)
    cty = counties()
    grid = build_grid(rng, cty, per_county, spec["areas_per_feeder"])
    log.info("grid: %d feeders, %d areas, %d meters in %.1f s", len(grid.feeders), len(grid.areas),
             len(grid.meters), time.perf_counter() - started)
    sites = pd.DataFrame({
        "x": grid.areas["x"], "y": grid.areas["y"], "urban": grid.areas["urban"],
        "county_name": cty.loc[grid.areas["county"], "name"].to_numpy(),
        "size": shapely.area(grid.areas.geometry.values),
    })
    feats = overlays(rng, sites, spec["villages"], spec["compounds"])
    core = [f.geom for f in feats if f.layer == "core_zone"]
    core_union = gpd.GeoSeries(core, crs=WGS84).union_all()
    core_area = shapely.contains_xy(core_union, grid.areas["x"].to_numpy(), grid.areas["y"].to_numpy())
    streams = generate_streams(rng, grid.feeders, grid.areas, grid.meters, core_area, anchor,
                               spec["meter_event_areas"])

    files: dict[str, Any] = {"admin": str(admin_path())}
    files["feeders"] = _write_geo(grid.feeders[["feeder_id", "name", "substation", "voltage_kv", "geometry"]],
                                  out_dir / "feeders.geojson")
    files["areas"] = _write_geo(
        grid.areas[["area_id", "feeder_id", "customers", "name", "capacity_kva", "geometry"]],
        out_dir / "areas.geojson")
    files["meters"] = _write_csv(grid.meters, out_dir / "meters.csv")
    files["overlays"] = {}
    for layer in LAYERS:
        rows = [f for f in feats if f.layer == layer]
        gdf = gpd.GeoDataFrame({"id": [f.feature_id for f in rows], "name": [f.name for f in rows]},
                               geometry=[f.geom for f in rows], crs=WGS84)
        files["overlays"][layer] = _write_geo(gdf, out_dir / f"overlay-{layer}.geojson")
    files["outages"] = _write_csv(streams.outages, out_dir / "outages.csv")
    files["works"] = _write_csv(streams.works, out_dir / "works.csv")
    files["meter_events"] = _write_csv(streams.meter_events, out_dir / "meter-events.csv")
    # The storm for 'gridwatch replay --now' (not loaded): its own generator, so that it
    # leaves the other files as they were.
    storm_events = storm(np.random.default_rng([seed, 13]), grid.areas, grid.meters,
                         streams.outages, anchor)
    files["storm"] = _write_jsonl(storm_events, out_dir / "storm.jsonl")
    # The planning inputs (SPEC section 14), from their own generator too.
    plan = generate_planning(np.random.default_rng([seed, 19]), grid.areas, core_area, feats, anchor)
    files["planning_outages"] = _write_csv(plan.outages, out_dir / "planning-outages.csv")
    files["planning_works"] = _write_csv(plan.works, out_dir / "planning-works.csv")
    files["disconnections"] = _write_csv(plan.disconnections, out_dir / "disconnections.csv")
    # The PV hosting-capacity inputs (SPEC section 15), from their own generator.
    host = generate_hosting(np.random.default_rng([seed, 23]), grid.areas)
    files["area_loads"] = _write_csv(host.loads, out_dir / "area-loads.csv")
    files["pv"] = _write_csv(host.pv, out_dir / "pv.csv")
    # Connection applications (SPEC section 16), from their own generator; the late re-sends
    # and the months to mark filed are for after the load (gridwatch demo does both).
    conn = generate_connections(np.random.default_rng([seed, 16]), grid.areas, anchor, holidays_file)
    files["applications"] = _write_csv(conn.applications, out_dir / "applications.csv")
    files["applications_late"] = _write_csv(conn.late, out_dir / "applications-late.csv")
    counts = {
        "counties": len(per_county), "feeders": len(grid.feeders), "areas": len(grid.areas),
        "meters": len(grid.meters), "overlay_features": len(feats), "outages": len(streams.outages),
        "works": len(streams.works), "meter_events": len(streams.meter_events),
        "storm_events": len(storm_events), "planning_outages": len(plan.outages),
        "planning_works": len(plan.works), "disconnections": len(plan.disconnections),
        "area_loads": len(host.loads), "pv": len(host.pv),
        "applications": len(conn.applications), "applications_late": len(conn.late),
    }
    manifest = {"scale": scale, "seed": seed, "anchor": anchor.isoformat(), "counts": counts,
                "files": files, "upgrade_filings": conn.filings}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
    log.info("demo files written to %s in %.1f s", out_dir, time.perf_counter() - started)
    return manifest


def _write_geo(gdf: gpd.GeoDataFrame, path: Path) -> str:
    gdf.to_file(path, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=6)
    return str(path)


def _write_csv(df: pd.DataFrame, path: Path) -> str:
    df.to_csv(path, index=False)
    return str(path)


def _write_jsonl(df: pd.DataFrame, path: Path) -> str:
    columns = list(df.columns)
    with path.open("w", encoding="utf-8") as fh:
        for row in df.itertuples(index=False, name=None):
            fh.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n")
    return str(path)


def load_demo(
    *, session: Session, settings: Settings, scale: str, seed: int, anchor: datetime | None = None,
    progress: Callable[[str, Any, float], None] | None = None,
) -> dict[str, Any]:
    """Generate the demo files under the data dir, load them through the real loaders and
    ingest path, and recompute tags and regions. Returns counts (does not commit).

    ``progress(step, value, seconds)`` is called as each step finishes."""
    out_dir = Path(settings.data_dir) / "demo" / f"{scale}-{seed}"
    step = time.perf_counter()
    manifest = generate(out_dir=out_dir, scale=scale, seed=seed, anchor=anchor,
                        holidays_file=settings.holidays_file)
    files = manifest["files"]
    timings: dict[str, float] = {"generate": time.perf_counter() - step}
    if progress is not None:
        progress("generate", manifest["counts"], timings["generate"])
    loaded: dict[str, Any] = {"dir": str(out_dir), "anchor": manifest["anchor"], "timings": timings,
                              "storm": files["storm"]}
    step = time.perf_counter()

    def done(what: str, value: Any) -> None:
        nonlocal step
        loaded[what] = value
        timings[what] = time.perf_counter() - step
        log.info("demo: %s %s in %.1f s", what, value, timings[what])
        if progress is not None:
            progress(what, value, timings[what])
        step = time.perf_counter()

    done("admin_divisions", _accepted(loaders.load_admin(session=session, paths=[files["admin"]], crs=GCJ02)))
    done("feeders", _accepted(loaders.load_feeders(session=session, path=files["feeders"])))
    done("areas", _accepted(loaders.load_areas(session=session, path=files["areas"])))
    done("meters", _accepted(loaders.load_meters(session=session, path=files["meters"])))
    n = 0
    for layer, path in files["overlays"].items():
        n += _accepted(loaders.load_overlay(session=session, layer=layer, path=path))
    done("overlay_features", n)
    tags.refresh(session=session, settings=settings, full=True)
    done("tags_refreshed", True)
    from ingest.service import ingest

    for kind, key in (("outages", "outages"), ("works", "works"), ("meter-events", "meter_events"),
                      ("outages", "planning_outages"), ("works", "planning_works"),
                      ("disconnections", "disconnections"), ("area-loads", "area_loads"),
                      ("pv", "pv"), ("applications", "applications")):
        result = ingest(session=session, kind=kind, source=Path(files[key]))
        done(key, _accepted(result.accounting))
    loaded["generated"] = manifest["counts"]
    loaded["connections"] = {"late": files["applications_late"],
                             "filings": manifest["upgrade_filings"]}
    return loaded


LOADED_TABLES = (
    "admin_division", "admin_piece", "feeder", "area", "meter", "overlay_feature",
    "overlay_piece", "overlay_union_piece", "asset_tag", "asset_region", "outage_record",
    "maintenance_work", "meter_event", "ingest_change", "inferred_interruption",
    "area_meter_off_span", "disconnection", "area_load", "pv_unit", "application",
)
"""The tables a demo load fills (analyzed before the first monitoring run)."""


def _accepted(acct: Any) -> int:
    if acct.rejected:
        first = acct.rejects[0]
        log.warning("%s: %d rejected, first at %s %s: %s", acct.source, acct.rejected, first.line,
                    first.field, first.reason)
    return int(acct.accepted + acct.updated + acct.duplicates)


__all__ = ["LOADED_TABLES", "SCALES", "default_anchor", "generate", "load_demo"]
