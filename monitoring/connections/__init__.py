"""Connection time limits (SPEC section 16): elapsed working days, status, the monthly upgrade filing.

The limits of task 3, in working days, by customer class and whether external works are needed.
They are the one table ``LIMITS``; SQL receives it as arrays (``limit_params``), so the code and
the queries cannot disagree.
"""

from __future__ import annotations

from typing import Any

from core.sqlfiles import statements
from ingest.validation import CUSTOMER_CLASSES as CLASSES

LOW_VOLTAGE = ("lv_resident", "lv_three_zero", "lv_other")
LIMITS: dict[tuple[str, bool], int] = {
    ("lv_resident", False): 5, ("lv_resident", True): 15,
    ("lv_three_zero", False): 5, ("lv_three_zero", True): 15,
    ("lv_other", False): 6, ("lv_other", True): 6,
    ("hv_single", False): 22, ("hv_single", True): 22,
    ("hv_dual", False): 32, ("hv_dual", True): 32,
}
"""Working days from the booked service to supply on (task 3): (class, external works) → limit."""
STATUSES = ("ok", "at_risk", "over_limit")
CLASS_LABELS = {
    "lv_resident": "低压居民", "lv_three_zero": "低压“三零”客户", "lv_other": "其他低压客户",
    "hv_single": "高压单电源", "hv_dual": "高压双电源", "all": "合计",
}
STATUS_LABELS = {"ok": "未超时限", "at_risk": "临近超时", "over_limit": "超时限"}


def limit_days(customer_class: str, external_works: bool) -> int:
    """The limit of a class (external works matter for residents and 三零 customers only)."""
    return LIMITS[(customer_class, bool(external_works))]


def limit_params() -> dict[str, Any]:
    """``LIMITS`` as the bound arrays the SQL unnests (:classes, :externals, :limits)."""
    keys = list(LIMITS)
    return {"classes": [c for c, _ in keys], "externals": [e for _, e in keys],
            "limits": [LIMITS[k] for k in keys], "class_order": list(CLASSES)}


def sql(filename: str, name: str) -> str:
    """One named statement of ``monitoring/connections/<filename>``."""
    return statements(__name__, filename)[name]
