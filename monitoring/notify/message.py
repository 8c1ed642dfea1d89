"""The ready-made Chinese text of a customer notification (``message_zh``), in Beijing time."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from core.clock import LOCAL_TZ

CAUSES = {"fault": "设备故障", "planned": "计划检修", "weather": "恶劣天气", "external": "外力破坏",
          "customer": "用户侧原因", "unknown": "原因正在核查"}
PROGRESS = {"reported": "已受理", "dispatched": "已派单", "on_site": "抢修人员已到达现场",
            "repairing": "正在抢修", "restored": "已修复，正在恢复供电"}
NO_OUTAGE_METHODS = {"live_line": "带电作业", "load_transfer": "负荷转供"}
NAME_CHARS = 40


def clean(value: str | None, limit: int = NAME_CHARS) -> str:
    """Text from input, safe in an SMS: no control or format characters, at most ``limit``."""
    text = "".join(ch for ch in (value or "") if unicodedata.category(ch)[0] != "C")
    return text.strip()[:limit]


def when(t: datetime) -> str:
    """``11月28日 14:05`` in Beijing time."""
    local = t.astimezone(LOCAL_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def span(start: datetime, end: datetime) -> str:
    """``12月5日 08:00至18:00`` (the end's date only when it is another day)."""
    a, b = start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)
    return f"{when(start)}至{b:%H:%M}" if a.date() == b.date() else f"{when(start)}至{when(end)}"


def message_zh(n: dict[str, Any]) -> str:
    """The text a gateway can send as it is, for one notification row."""
    area = clean(n.get("area_name")) or clean(n["area_id"])
    who = f"您的电表（{clean(n['meter_id'], 64)}）所在台区「{area}」"
    kind = n["kind"]
    progress = f"抢修进度：{PROGRESS[n['progress']]}。" if n.get("progress") in PROGRESS else ""
    etr = n.get("estimated_end")
    if kind == "outage_start":
        cause = CAUSES.get(n.get("cause") or "unknown", CAUSES["unknown"])
        restore = f"预计{when(etr)}恢复供电。" if etr else "恢复供电时间正在评估。"
        return f"【停电通知】{who}自{when(n['since'])}起停电，原因：{cause}。{restore}{progress}"
    if kind == "estimate_changed":
        restore = f"预计恢复供电时间调整为{when(etr)}。" if etr else "恢复供电时间正在重新评估。"
        return f"【停电进展】{who}自{when(n['since'])}起停电，{restore}{progress}"
    if kind == "restoration":
        restored = n.get("restored_at") or n["since"]
        return (f"【恢复供电】{who}已于{when(restored)}恢复供电（{when(n['since'])}起停电）。"
                "给您带来不便，敬请谅解。")
    window = span(n["planned_start"], n["planned_end"])
    method = n.get("method")
    if method in NO_OUTAGE_METHODS:
        return (f"【检修通知】{who}计划于{window}进行电网检修，采用{NO_OUTAGE_METHODS[method]}"
                "方式，正常情况下不停电。")
    if method == "generator":
        return (f"【计划停电通知】{who}计划于{window}进行电网检修，期间由发电车临时供电，"
                "切换时可能短时停电，请提前做好准备。")
    return f"【计划停电通知】{who}因电网检修，计划于{window}停电，请提前做好准备。"
