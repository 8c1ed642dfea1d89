"""A small map dataset for the map tests and the screenshots: two counties, statuses, overlays, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.builders import add_area, add_feeder, add_outage, square

PREFECTURE = "520100"
COUNTIES = {"520102": ("南明区", 106.60), "520103": ("云岩区", 106.70)}
STATUS_CYCLE = ("frequent", "at_risk", "ok", "ok", None, "ok", "at_risk", "ok")


def seed(session: Session, *, now: datetime | None = None, per_county: int = 24) -> dict[str, object]:
    """Insert counties, feeders, areas, statuses, tags, overlays, outages and a firing alert."""
    now = now or datetime.now(UTC)
    session.execute(text(
        "INSERT INTO admin_division (adcode, name, level, parent_adcode, geom) VALUES "
        "('520000', '贵州省', 'province', NULL, ST_GeomFromEWKT(:p)), "
        "(:pref, '贵阳市', 'prefecture', '520000', ST_GeomFromEWKT(:p))"),
        {"p": square(106.6, 26.5, 0.2), "pref": PREFECTURE})
    areas: list[str] = []
    for n, (adcode, (name, lon)) in enumerate(COUNTIES.items()):
        session.execute(text(
            "INSERT INTO admin_division (adcode, name, level, parent_adcode, geom) "
            "VALUES (:a, :n, 'county', :p, ST_GeomFromEWKT(:g))"),
            {"a": adcode, "n": name, "p": PREFECTURE, "g": square(lon, 26.5, 0.1)})
        for f in range(per_county // 6):
            fid = f"F{n}{f}"
            flat = 26.505 + 0.016 * f
            add_feeder(session, fid, lon=lon + 0.004, lat=flat, name=f"{name} {f + 1}号线")
            session.execute(text("UPDATE feeder SET geom = ST_GeomFromEWKT(:g) WHERE feeder_id = :f"),
                            {"f": fid, "g": f"SRID=4326;MULTILINESTRING(({lon + 0.004} {flat + 0.006},"
                                            f"{lon + 0.095} {flat + 0.006}))"})
            for k in range(6):
                aid = f"A{n}{f}{k}"
                add_area(session, aid, fid, customers=80 + 10 * k, lon=lon + 0.004 + 0.015 * k, lat=flat,
                         size=0.012, name=f"{name}{f + 1}-{k + 1}台区")
                areas.append(aid)
                session.execute(text(
                    "INSERT INTO asset_region VALUES ('area', :a, :c, :p, now())"),
                    {"a": aid, "c": adcode, "p": PREFECTURE})
            session.execute(text("INSERT INTO asset_region VALUES ('feeder', :a, :c, :p, now())"),
                            {"a": fid, "c": adcode, "p": PREFECTURE})
    for i, aid in enumerate(areas):
        status = STATUS_CYCLE[i % len(STATUS_CYCLE)]
        if status is None:
            continue
        count = {"frequent": 6, "at_risk": 5, "ok": 1}[status]
        session.execute(text(
            "INSERT INTO asset_status VALUES ('area', :a, :t, :c, :m, :s)"),
            {"a": aid, "t": now, "c": count, "m": min(count, 3), "s": status})
    session.execute(text("INSERT INTO asset_status VALUES ('feeder', 'F00', :t, 6, 4, 'frequent'), "
                         "('feeder', 'F11', :t, 5, 2, 'at_risk')"), {"t": now})
    overlays = [
        ("weak_supply_village", "V1", "沙冲村", square(106.598, 26.50, 0.035)),
        ("ethnic_minority_area", "E1", "苗族聚居区", square(106.72, 26.53, 0.05)),
        ("old_compound", "O1", "花果园老旧小区", square(106.64, 26.55, 0.02)),
        ("core_zone", "C1", "贵阳核心区", square(106.602, 26.503, 0.025)),
    ]
    for layer, fid, name, geom in overlays:
        session.execute(text("INSERT INTO overlay_feature (layer, feature_id, name, geom) "
                             "VALUES (:l, :f, :n, ST_GeomFromEWKT(:g))"),
                        {"l": layer, "f": fid, "n": name, "g": geom})
    session.execute(text(
        "INSERT INTO asset_tag (asset_type, asset_id, layer, share, feature_ids, feature_names) VALUES "
        "('area', 'A000', 'weak_supply_village', 0.8, '{V1}', '{沙冲村}'), "
        "('area', 'A000', 'core_zone', 0.6, '{C1}', '{贵阳核心区}')"))
    hist = "A000"
    for j, (days, hours, cause) in enumerate(((20, 3.0, "fault"), (45, 1.5, "planned"), (80, 0.02, "fault"),
                                              (130, 6.0, "weather"), (200, 2.0, "fault"), (300, 12, "fault"),
                                              (420, 4, "external"))):
        start = now - timedelta(days=days)
        add_outage(session, f"OUT-{j}", "area", hist, start, start + timedelta(hours=hours), cause)
    add_outage(session, "OUT-F", "feeder", "F00", now - timedelta(days=60),
               now - timedelta(days=60, hours=-2))
    session.execute(text("INSERT INTO inferred_interruption VALUES (:a, :s, :e, 7, 10)"),
                    {"a": hist, "s": now - timedelta(days=10), "e": now - timedelta(days=10, hours=-1)})
    session.execute(text(
        "INSERT INTO alert (fingerprint, rule, severity, subject_type, subject_id, state, summary, "
        "starts_at, last_seen_at) VALUES ('fp-a000', 'frequent_outage', 'critical', 'area', :a, 'firing', "
        "'6 interruptions in 365 days', :t, :t), ('fp-a001', 'frequent_outage_risk', 'warning', 'area', "
        "'A001', 'firing', 'one more breaches', :t, :t), ('fp-old', 'frequent_outage', 'critical', 'area', "
        "'A002', 'resolved', '', :t, :t)"), {"a": hist, "t": now - timedelta(days=1)})
    session.execute(text(
        "INSERT INTO remediation_case (asset_type, asset_id, status, opened_at, measures, responsible_unit, "
        "due_date, updated_at) VALUES ('area', :a, 'in_progress', :t, '更换配变并新增联络线', '南明供电所', "
        ":d, :t)"), {"a": hist, "t": now - timedelta(days=5), "d": (now + timedelta(days=60)).date()})
    return {"areas": areas, "history_area": hist}
