"""Small builders for assets and events in tests (plain SQL against the real schema)."""

from __future__ import annotations

import socket
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


def square(lon: float, lat: float, size: float = 0.01) -> str:
    """EWKT of a square MultiPolygon with its south-west corner at (lon, lat)."""
    x2, y2 = lon + size, lat + size
    return (
        f"SRID=4326;MULTIPOLYGON((({lon} {lat},{x2} {lat},{x2} {y2},{lon} {y2},{lon} {lat})))"
    )


def add_feeder(session: Session, feeder_id: str, lon: float = 106.7, lat: float = 26.5,
               name: str | None = None) -> None:
    session.execute(
        text(
            "INSERT INTO feeder (feeder_id, name, geom) VALUES (:f, :n, "
            "ST_GeomFromEWKT(:g))"
        ),
        {"f": feeder_id, "n": name or feeder_id,
         "g": f"SRID=4326;MULTILINESTRING(({lon} {lat},{lon + 0.05} {lat + 0.05}))"},
    )


def add_area(session: Session, area_id: str, feeder_id: str, customers: int = 100,
             lon: float = 106.7, lat: float = 26.5, size: float = 0.01,
             name: str | None = None) -> None:
    session.execute(
        text(
            "INSERT INTO area (area_id, feeder_id, customers, name, geom) "
            "VALUES (:a, :f, :c, :n, ST_GeomFromEWKT(:g))"
        ),
        {"a": area_id, "f": feeder_id, "c": customers, "n": name or area_id,
         "g": square(lon, lat, size)},
    )


def add_meters(session: Session, area_id: str, n: int, prefix: str | None = None) -> list[str]:
    ids = [f"{prefix or area_id}-m{i}" for i in range(n)]
    session.execute(
        text("INSERT INTO meter (meter_id, area_id) VALUES (:m, :a)"),
        [{"m": m, "a": area_id} for m in ids],
    )
    return ids


def add_outage(session: Session, outage_id: str, asset_type: str, asset_id: str,
               start: datetime, end: datetime | None, cause: str = "fault",
               work_id: str | None = None) -> None:
    session.execute(
        text(
            "INSERT INTO outage_record (outage_id, asset_type, asset_id, start_time, end_time, "
            "cause, work_id) VALUES (:o, :t, :a, :s, :e, :c, :w)"
        ),
        {"o": outage_id, "t": asset_type, "a": asset_id, "s": start, "e": end, "c": cause,
         "w": work_id},
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
