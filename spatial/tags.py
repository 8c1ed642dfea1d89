"""Tags (share of an asset inside each overlay layer) and regions (county, prefecture), SPEC section 6."""

from __future__ import annotations

import logging
import re
import time
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings

log = logging.getLogger(__name__)

MAX_VERTICES = 128
SHARE_DIGITS = 6


@cache
def statements() -> dict[str, list[str]]:
    """The named statement groups of ``sql/tags.sql``."""
    source = resources.files("spatial").joinpath("sql/tags.sql").read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    for block in re.split(r"^-- name: ", source, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        parts = [s.strip() for s in re.split(r";\s*$", body, flags=re.M)]
        out[name.strip()] = [p for p in parts if p and not all(
            ln.strip().startswith("--") or not ln.strip() for ln in p.splitlines())]
    return out


def _run(session: Session, name: str, **params: Any) -> None:
    for stmt in statements()[name]:
        used = {k: v for k, v in params.items() if f":{k}" in stmt}
        session.execute(text(stmt), used)


def _rebuild_if_changed(session: Session, source: str, force: bool) -> bool:
    """Rebuild the subdivided pieces of ``overlay`` or ``admin`` when their rows changed."""
    fingerprint = session.execute(text(statements()[f"{source}_fingerprint"][0])).scalar_one()
    stored = session.execute(
        text("SELECT fingerprint FROM spatial_source_state WHERE source = :s"), {"s": source}
    ).scalar()
    if stored == fingerprint and not force:
        return False
    _run(session, f"rebuild_{source}_pieces", max_vertices=MAX_VERTICES)
    session.execute(
        text(
            "INSERT INTO spatial_source_state (source, fingerprint, built_at) VALUES (:s, :f, now()) "
            "ON CONFLICT (source) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, built_at = now()"
        ),
        {"s": source, "f": fingerprint},
    )
    return True


def refresh(*, session: Session, settings: Settings, full: bool = False) -> None:
    """Recompute tags and regions: all of them when overlays or counties changed, else changed assets."""
    started = time.perf_counter()
    all_tags = _rebuild_if_changed(session, "overlay", full) or full
    all_regions = _rebuild_if_changed(session, "admin", full) or full
    _run(session, "drop_gone")
    _run(session, "create_todo")
    _run(session, "fill_todo", all_tags=all_tags, all_regions=all_regions)
    todo = session.execute(
        text("SELECT count(*) FILTER (WHERE do_tags), count(*) FILTER (WHERE do_regions) "
             "FROM _spatial_todo")
    ).one()
    if todo[0]:
        _run(session, "tags", digits=SHARE_DIGITS)
    if todo[1]:
        _run(session, "regions")
    session.execute(text("DROP TABLE IF EXISTS _spatial_todo"))
    log.info(
        "tags for %d assets, regions for %d assets in %.1f s (tag threshold %.2f)",
        todo[0], todo[1], time.perf_counter() - started, settings.tag_min_share,
    )


def tags_of(
    *, session: Session, settings: Settings, asset_type: str | None = None
) -> list[dict[str, Any]]:
    """Every tag an asset has (share at or above ``tag_min_share``), ordered by asset and layer."""
    rows = session.execute(
        text(
            "SELECT asset_type, asset_id, layer, share, feature_ids, feature_names FROM asset_tag "
            "WHERE share >= :min AND (CAST(:t AS text) IS NULL OR asset_type = :t) "
            "ORDER BY asset_type, asset_id, layer"
        ),
        {"min": settings.tag_min_share, "t": asset_type},
    ).mappings()
    return [dict(r) for r in rows]
