"""The tags report (SPEC section 9): one row per tag an asset has."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring.reports import Report
from spatial.tags import tags_of

COLUMNS = ["asset_type", "asset_id", "layer", "share", "names", "feature_ids"]


def build(*, session: Session, settings: Settings, asset_type: str | None = None) -> Report:
    """Tags with share at or above ``tag_min_share``, with the overlay features' names and ids."""
    rows = [
        {
            "asset_type": r["asset_type"],
            "asset_id": r["asset_id"],
            "layer": r["layer"],
            "share": r["share"],
            "names": list(r["feature_names"]),
            "feature_ids": list(r["feature_ids"]),
        }
        for r in tags_of(session=session, settings=settings, asset_type=asset_type)
    ]
    return Report(
        name="tags", columns=COLUMNS, rows=rows, title="tags",
        meta={"tag_min_share": settings.tag_min_share},
    )
