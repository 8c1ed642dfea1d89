"""MQTT messages → rows for the ingest path: topics, JSON payloads and IEC 61968-9 codes.

A payload is one JSON object or a JSON array of objects with the fields of SPEC section 2. A
message that is not JSON, too large, or not an object or array is one rejected row; so is an
array item that is not an object. Each row remembers its origin: (topic, message, item).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.accounting import Origin
from core.records import json_row
from ingest.validation import SPECS

PREFIX = "gridwatch"
TOPICS = {
    "meter-events": f"{PREFIX}/meter-events/#",
    "outages": f"{PREFIX}/outages/#",
    "works": f"{PREFIX}/works/#",
}
SHARE_GROUP = "gridwatch"
ERROR = "__error__"


def shared(topic_filter: str, group: str = SHARE_GROUP) -> str:
    """The shared-subscription form of a filter, so consumers of one group split the stream."""
    return f"$share/{group}/{topic_filter}"


def kind_of(topic: str) -> str | None:
    """The input kind a topic carries (``gridwatch/<kind>/...``), or None."""
    parts = topic.split("/", 2)
    if len(parts) >= 2 and parts[0] == PREFIX and parts[1] in TOPICS:
        return parts[1]
    return None


@dataclass
class Rows:
    """The rows of one kind in a micro-batch, each with its origin (line = position + 1)."""

    kind: str
    rows: list[tuple[int, dict[str, str | None]]] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def add(self, row: dict[str, str | None], origin: Origin) -> None:
        """Append a row (an ``__error__`` field makes it a rejected row with that reason)."""
        self.origins.append(origin)
        self.rows.append((len(self.origins), row))


def _event_kind(obj: dict[str, object], codes: Mapping[str, str]) -> dict[str, object] | str:
    """A meter event with ``code`` and no ``kind`` gets its kind from ``codes``; or a reason."""
    if "code" not in obj:
        return obj
    rest = {k: v for k, v in obj.items() if k != "code"}
    if obj.get("kind") not in (None, ""):
        return rest
    code = obj["code"]
    kind = codes.get(str(code).strip()) if isinstance(code, (str, int, float)) else None
    if kind is None:
        return (f"unknown IEC 61968-9 event code {str(code)[:60]!r}: map it to off or on with "
                "GRIDWATCH_STREAM_EVENT_CODES")
    rest["kind"] = kind
    return rest


def add_message(
    batch: dict[str, Rows], *, topic: str, payload: bytes, position: int,
    codes: Mapping[str, str], max_bytes: int,
) -> int:
    """Parse one message into ``batch`` (rows by kind); returns the rows it added.

    Nothing a publisher sends raises here: every problem becomes a rejected row.
    """
    kind = kind_of(topic) or "meter-events"
    rows = batch.setdefault(kind, Rows(kind))
    whole: Origin = (topic, position, 0)
    if kind_of(topic) is None:
        rows.add({ERROR: f"topic {topic[:200]!r} is not one gridwatch subscribes to"}, whole)
        return 1
    if len(payload) > max_bytes:
        rows.add({ERROR: f"the message is {len(payload)} bytes, more than the "
                         f"{max_bytes} allowed (GRIDWATCH_STREAM_MAX_PAYLOAD_BYTES)"}, whole)
        return 1
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        rows.add({ERROR: f"the message is not JSON ({reason})"}, whole)
        return 1
    items = value if isinstance(value, list) else [value]
    if not isinstance(value, (list, dict)):
        rows.add({ERROR: "the message must be a JSON object or an array of objects"}, whole)
        return 1
    known = set(SPECS[kind].fields)
    for i, obj in enumerate(items, start=1):
        origin: Origin = (topic, position, i)
        if not isinstance(obj, dict):
            rows.add({ERROR: "each item of the array must be a JSON object"}, origin)
            continue
        if kind == "meter-events":
            mapped = _event_kind(obj, codes)
            if isinstance(mapped, str):
                rows.add({ERROR: mapped}, origin)
                continue
            obj = mapped
        rows.add(json_row(obj, known, rows.unknown, f"mqtt {topic}"), origin)
    return max(len(items), 1)
