"""Facts for data analysis: each recipient's final outcome, and each campaign's size when it completes.

Reported by the named task `data_analysis.record_facts` (queue `analytics`) right after the commit
that recorded them. Outcomes are read back from the rows themselves, so only what was really
recorded is reported (a result a run lost to another is reported by that other run). Event ids
are the delivery's id and final state, and the campaign's id: a report sent twice counts once.
A broker that is down loses only statistics, never a send.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from wedraw.core.db import utcnow
from wedraw.message_center.models import FAILED_FINAL, Campaign, Delivery, Sender, db

log = logging.getLogger("wedraw.message_center.facts")

RECORD_FACTS_TASK, ANALYTICS_QUEUE = "data_analysis.record_facts", "analytics"
BATCH = 500


def _send(facts: list[dict]) -> None:
    for start in range(0, len(facts), BATCH):
        try:
            current_app.extensions["celery"].send_task(
                RECORD_FACTS_TASK, kwargs={"facts": facts[start : start + BATCH]}, queue=ANALYTICS_QUEUE, retry=False
            )
        except Exception as exc:
            log.warning("%d analytics fact(s) not reported (%s)", len(facts), type(exc).__name__)
            return


def report_outcomes(delivery_ids: list[int]) -> None:
    """After the commit that recorded them: the final outcomes (sent / failed) of these deliveries."""
    if not delivery_ids:
        return
    try:
        rows = db.session.execute(
            select(
                Delivery.id,
                Delivery.campaign_id,
                Delivery.channel,
                Delivery.status,
                Delivery.category,
                Delivery.errcode,
                Delivery.unionid,
                Delivery.sent_at,
                Delivery.updated_at,
                Sender.app_key,
            )
            .join(Sender, Sender.id == Delivery.sender_id)
            .where(Delivery.id.in_(delivery_ids), Delivery.status.in_(("sent", FAILED_FINAL)))
        ).all()
        db.session.commit()
    except Exception as exc:  # statistics never break a send
        db.session.rollback()
        log.warning("outcomes not read for analytics (%s)", type(exc).__name__)
        return
    facts = []
    for row in rows:
        sent = row.status == "sent"
        reason = None if sent else (row.category or (f"errcode {row.errcode}" if row.errcode else "unknown"))
        facts.append(
            {
                "event_id": f"message_center:delivery:{row.id}:{row.status}",
                "source": "message_center",
                "kind": "message.send",
                "appid": row.app_key,
                "openid": None,
                "unionid": row.unionid,
                "occurred_at": (row.sent_at or row.updated_at or utcnow()).isoformat() + "Z",
                "data": {
                    "channel": row.channel,
                    "outcome": "sent" if sent else "failed",
                    "reason": reason,
                    "errcode": row.errcode,
                    "campaign_id": row.campaign_id,
                },
            }
        )
    _send(facts)


def report_campaign(campaign_id: int) -> None:
    """After a campaign completed: how many recipients it targeted (the top of its funnel)."""
    try:
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is None:
            return
        fact = {
            "event_id": f"message_center:campaign:{campaign.id}:completed",
            "source": "message_center",
            "kind": "message.campaign",
            "appid": None,
            "openid": None,
            "unionid": None,
            "occurred_at": (campaign.finished_at or utcnow()).isoformat() + "Z",
            "data": {
                "campaign_id": campaign.id,
                "name": campaign.name,
                "channel": campaign.channel,
                "total": campaign.total,
            },
        }
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.warning("campaign %s not read for analytics (%s)", campaign_id, type(exc).__name__)
        return
    _send([fact])
