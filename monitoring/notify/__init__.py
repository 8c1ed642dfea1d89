"""Push notifications to customers (SPEC section 13, task 54): subscriptions, queue, gateway.

A meter subscribes to a channel (``sms`` or ``wechat``). When its area's outage starts, ends
or its estimated restoration moves more than 30 minutes, and when a maintenance work on its
area or feeder is ingested, one notification is queued for it in the transaction that saw the
change, then delivered to the notification gateway's webhook with retries, like alerts.
"""

from __future__ import annotations

from monitoring.notify.deliver import deliver_due, deliver_soon, payload
from monitoring.notify.queue import (
    ESTIMATE_CHANGE,
    NOTICE_PERIOD,
    queue_outage_changes,
    queue_work_notices,
)
from monitoring.notify.subscriptions import CHANNELS, list_subscriptions, subscribe, unsubscribe

__all__ = [
    "CHANNELS",
    "ESTIMATE_CHANGE",
    "NOTICE_PERIOD",
    "deliver_due",
    "deliver_soon",
    "list_subscriptions",
    "payload",
    "queue_outage_changes",
    "queue_work_notices",
    "subscribe",
    "unsubscribe",
]
