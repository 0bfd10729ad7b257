"""Facts for data analysis: every ledger entry and every order, reported by the named task after the commit.

The ledger stages one fact per entry it writes (and `redeem` one per order) on the session; when
that transaction commits they go, in one message, to `data_analysis.record_facts` on the
`analytics` queue; a rollback drops them. Event ids are the entry's and the order's unique business
keys, so a report sent twice is counted once. A broker that is down loses only statistics: the
ledger itself is never held up by them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app, has_app_context
from sqlalchemy import event

from wedraw.points_mall.models import db

log = logging.getLogger("wedraw.points_mall.facts")

RECORD_FACTS_TASK, ANALYTICS_QUEUE = "data_analysis.record_facts", "analytics"
_STAGED = "wedraw.points_mall.analytics_facts"


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def _stage(fact: dict) -> None:
    db.session.info.setdefault(_STAGED, []).append(fact)


def stage_entry(
    entry_id: int, account_id: int, amount: int, business_type: str, business_id: str, balance: int, when: datetime
) -> None:
    _stage(
        {
            "event_id": f"points_mall:ledger:{business_type}:{business_id}",
            "source": "points_mall",
            "kind": "points.credit" if amount > 0 else "points.debit",
            "appid": None,
            "openid": None,
            "unionid": None,
            "occurred_at": _iso(when),
            "data": {
                "entry_id": entry_id,
                "account_id": account_id,
                "business_type": business_type,
                "business_id": business_id,
                "amount": amount,
                "balance_after": balance,
            },
        }
    )


def stage_order(order) -> None:
    _stage(
        {
            "event_id": f"points_mall:order:{order.order_no}",
            "source": "points_mall",
            "kind": "points.order",
            "appid": order.appid,
            "openid": None,
            "unionid": None,
            "occurred_at": _iso(order.created_at),
            "data": {
                "order_no": order.order_no,
                "product_id": order.product_id,
                "product_name": order.product_name,
                "quantity": order.quantity,
                "points_total": order.points_total,
            },
        }
    )


@event.listens_for(db.session, "after_commit")
def _send_staged(session) -> None:
    facts = session.info.pop(_STAGED, None)
    if not facts or not has_app_context():
        return
    try:
        current_app.extensions["celery"].send_task(
            RECORD_FACTS_TASK, kwargs={"facts": facts}, queue=ANALYTICS_QUEUE, retry=False
        )
    except Exception as exc:
        log.warning("%d analytics fact(s) not reported (%s)", len(facts), type(exc).__name__)


@event.listens_for(db.session, "after_rollback")
def _drop_staged(session) -> None:
    session.info.pop(_STAGED, None)
