"""Customers (external contacts) and customer groups, as WeCom's customer-contact API holds them.

- customers sync: the follow users (`externalcontact/get_follow_user_list`, or the synced active
  members when the secret may not list them), each one's customers (`externalcontact/list`), then
  each customer (`externalcontact/get`) with every member who follows it;
- groups sync: `externalcontact/groupchat/list` by cursor, then `groupchat/get` (names included)
  for each chat, with its members, their join times and how they joined.

Rows are rewritten only when their content hash changed; customers and groups WeCom no longer
lists are deleted. A customer's unionid links it to the same person elsewhere in WeDraw (the
members owned by the Mini Program / points services ask for it over `/internal/wecom/...`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, or_, select, update

from wedraw.core.db import naive_utc, utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.wechat import Final, WeComApp
from wedraw.wecom import facts
from wedraw.wecom.models import (
    Corp,
    Customer,
    CustomerFollow,
    CustomerGroup,
    CustomerGroupMember,
    Member,
    SyncJob,
    db,
)
from wedraw.wecom.services import SyncFailed, customer_client, fail_or_retry, get_corp

log = logging.getLogger("wedraw.wecom.customers")

FETCHERS = 6
CHUNK = 500
GROUP_PAGE = 1000
NO_CUSTOMERS = 84061


def _ts(value: Any) -> datetime | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return datetime.utcfromtimestamp(min(seconds, 4_102_444_800))  # noqa: DTZ004 - naive UTC is what we store


def _text(value: Any, length: int) -> str | None:
    if value in (None, ""):
        return None
    return str(value)[:length]


def _hash(*parts: Any) -> str:
    return hashlib.md5(repr(parts).encode(), usedforsecurity=False).hexdigest()


def _pipeline(items: list, fetch: Callable[[Any], Any], handle: Callable[[Any, Any], None]) -> None:
    """fetch(item) for every item, a few in flight, handled in order (a bounded look-ahead)."""
    with ThreadPoolExecutor(max_workers=FETCHERS, thread_name_prefix="wecom-customers") as pool:
        window = FETCHERS * 4
        futures = [pool.submit(fetch, i) for i in items[:window]]
        following = len(futures)
        for position, item in enumerate(items):
            result = futures[position].result()
            futures[position] = None
            if following < len(items):
                futures.append(pool.submit(fetch, items[following]))
                following += 1
            try:
                handle(item, result)
            except BaseException:
                for future in futures[position + 1 :]:
                    if future is not None:
                        future.cancel()
                raise


# ---------------------------------------------------------------- customers


def customer_values(contact: dict, follows: list[dict]) -> tuple[dict, list[dict]]:
    follow_rows = []
    for follow in follows:
        userid = _text(follow.get("userid"), 64)
        if not userid:
            continue
        tags = [
            {
                "group_name": t.get("group_name"),
                "tag_name": t.get("tag_name"),
                "tag_id": t.get("tag_id"),
                "type": t.get("type"),
            }
            for t in follow.get("tags") or []
            if isinstance(t, dict)
        ]
        follow_rows.append(
            {
                "userid": userid,
                "remark": _text(follow.get("remark"), 128),
                "description": _text(follow.get("description"), 255),
                "added_at": _ts(follow.get("createtime")),
                "add_way": follow.get("add_way") if isinstance(follow.get("add_way"), int) else None,
                "state": _text(follow.get("state"), 64),
                "tags": tags,
            }
        )
    follow_rows.sort(key=lambda f: f["userid"])
    added = [f["added_at"] for f in follow_rows if f["added_at"]]
    values = {
        "external_userid": str(contact["external_userid"])[:128],
        "name": _text(contact.get("name"), 128) or "",
        "type": int(contact.get("type") or 1),
        "gender": contact.get("gender") if isinstance(contact.get("gender"), int) else None,
        "unionid": _text(contact.get("unionid"), 64),
        "corp_name": _text(contact.get("corp_name") or contact.get("corp_full_name"), 128),
        "position": _text(contact.get("position"), 128),
        "avatar": _text(contact.get("avatar"), 512),
        "first_added_at": min(added) if added else None,
    }
    values["content_hash"] = _hash(sorted(values.items()), [sorted(f.items()) for f in follow_rows])
    return values, follow_rows


def _write_customer(corp_ref: int, known: dict[str, tuple[int, str]], values: dict, follows: list[dict]) -> str:
    now = utcnow()
    existing = known.get(values["external_userid"])
    if existing is not None and existing[1] == values["content_hash"]:
        return "unchanged"
    if existing is None:
        customer_id = db.session.execute(
            insert(Customer.__table__).values(
                **values, corp_ref=corp_ref, synced_at=now, created_at=now, updated_at=now
            )
        ).inserted_primary_key[0]
        outcome = "inserted"
    else:
        customer_id = existing[0]
        db.session.execute(
            update(Customer).where(Customer.id == customer_id).values(**values, synced_at=now, updated_at=now)
        )
        db.session.execute(delete(CustomerFollow).where(CustomerFollow.customer_id == customer_id))
        outcome = "updated"
    if follows:
        db.session.execute(
            insert(CustomerFollow.__table__),
            [
                {
                    **{k: v for k, v in f.items() if k != "tags"},
                    "tags_json": _json(f["tags"]),
                    "customer_id": customer_id,
                    "corp_ref": corp_ref,
                }
                for f in follows
            ],
        )
    known[values["external_userid"]] = (customer_id, values["content_hash"])
    return outcome


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _known_customers(corp_ref: int) -> dict[str, tuple[int, str]]:
    return {
        r.external_userid: (r.id, r.content_hash)
        for r in db.session.execute(
            select(Customer.external_userid, Customer.id, Customer.content_hash).where(Customer.corp_ref == corp_ref)
        )
    }


def _follow_users(corp: Corp, client: WeComApp, job: SyncJob) -> list[str]:
    answer = client.call(client.api.get, "externalcontact/get_follow_user_list")
    if answer.ok:
        return [str(u) for u in (answer.data or {}).get("follow_user") or []]
    # The secret may not list follow users (or WeCom lacks the call): ask every active member instead.
    members = list(
        db.session.execute(
            select(Member.userid).where(Member.corp_ref == corp.id, Member.status == 1).order_by(Member.userid)
        ).scalars()
    )
    if not members:
        raise SyncFailed(
            "WeCom did not list the members who have customers, and no members are synced: sync the contacts first."
        )
    job.warnings = [*job.warnings, f"follow users from the synced members ({len(members)})"][-20:]
    return members


def run_customers(job: SyncJob, corp: Corp) -> None:
    client, _ = customer_client(corp, background=True)
    job.stage = "follow_users"
    db.session.commit()
    users = _follow_users(corp, client, job)
    job.stage, job.total, job.done = "lists", len(users), 0
    db.session.commit()
    external_ids: dict[str, None] = {}

    def listed(userid, result) -> None:
        if not result.ok:
            if isinstance(result, Final) and result.errcode in (NO_CUSTOMERS, 60111, 84074, 60011):
                pass  # no customers (or not a customer-contact user): nothing to add
            else:
                fail_or_retry(result, f"externalcontact/list of {userid}")
        else:
            external_ids.update(dict.fromkeys(str(e) for e in (result.data or {}).get("external_userid") or []))
        job.done += 1
        if job.done % 50 == 0:
            db.session.commit()

    _pipeline(users, lambda u: client.call(client.api.get, "externalcontact/list", params={"userid": u}), listed)
    ids = list(external_ids)
    job.stage, job.total, job.done = "customers", len(ids), 0
    db.session.commit()
    known = _known_customers(corp.id)
    seen: set[str] = set()

    def detail(external_userid, result) -> None:
        if not result.ok:
            if isinstance(result, Final) and result.errcode in (40096, 84061, 61111):
                return  # gone since it was listed
            fail_or_retry(result, f"externalcontact/get {external_userid}")
        data = result.data or {}
        contact = data.get("external_contact") or {}
        if not contact.get("external_userid"):
            return
        values, follows = customer_values(contact, data.get("follow_user") or [])
        seen.add(values["external_userid"])
        outcome = _write_customer(corp.id, known, values, follows)
        setattr(job, outcome, getattr(job, outcome) + 1)
        job.fetched += 1
        job.done += 1
        if job.done % CHUNK == 0:
            db.session.commit()

    _pipeline(
        ids,
        lambda e: client.call(client.api.get, "externalcontact/get", params={"external_userid": e}),
        detail,
    )
    db.session.commit()
    gone = [row[0] for external_userid, row in known.items() if external_userid not in seen]
    for start in range(0, len(gone), CHUNK):
        chunk = gone[start : start + CHUNK]
        db.session.execute(delete(CustomerFollow).where(CustomerFollow.customer_id.in_(chunk)))
        db.session.execute(delete(Customer).where(Customer.id.in_(chunk)))
    job.deleted = len(gone)
    corp.customers_synced_at = utcnow()
    db.session.commit()


def refresh_customer(corp: Corp, client: WeComApp, external_userid: str) -> str:
    """One customer as WeCom holds it now (after a change_external_contact event)."""
    result = client.call(client.api.get, "externalcontact/get", params={"external_userid": external_userid})
    if not result.ok:
        if isinstance(result, Final) and result.errcode in (40096, 84061, 61111):
            customer_id = db.session.execute(
                select(Customer.id).where(Customer.corp_ref == corp.id, Customer.external_userid == external_userid)
            ).scalar_one_or_none()
            if customer_id is None:
                return "absent"
            db.session.execute(delete(CustomerFollow).where(CustomerFollow.customer_id == customer_id))
            db.session.execute(delete(Customer).where(Customer.id == customer_id))
            return "deleted"
        fail_or_retry(result, f"externalcontact/get {external_userid}")
    data = result.data or {}
    values, follows = customer_values(data.get("external_contact") or {}, data.get("follow_user") or [])
    known = {k: v for k, v in _known_customers(corp.id).items() if k == values["external_userid"]}
    return _write_customer(corp.id, known, values, follows)


# ---------------------------------------------------------------- customer groups


def group_values(chat: dict) -> tuple[dict, list[dict]]:
    members = []
    for m in chat.get("member_list") or []:
        userid = _text(m.get("userid"), 128)
        if not userid:
            continue
        invitor = m.get("invitor") if isinstance(m.get("invitor"), dict) else {}
        members.append(
            {
                "userid": userid,
                "type": int(m.get("type") or 1),
                "unionid": _text(m.get("unionid"), 64),
                "name": _text(m.get("name"), 128),
                "group_nickname": _text(m.get("group_nickname"), 128),
                "joined_at": _ts(m.get("join_time")),
                "join_scene": m.get("join_scene") if isinstance(m.get("join_scene"), int) else None,
                "invitor": _text(invitor.get("userid"), 64),
            }
        )
    members.sort(key=lambda m: m["userid"])
    admins = sorted(str(a.get("userid")) for a in chat.get("admin_list") or [] if isinstance(a, dict))
    values = {
        "chat_id": str(chat["chat_id"])[:64],
        "name": _text(chat.get("name"), 128) or "",
        "owner": _text(chat.get("owner"), 64),
        "notice": chat.get("notice") or None,
        "status": int(chat.get("status") or 0),
        "created_time": _ts(chat.get("create_time")),
        "member_count": len(members),
        "external_count": sum(1 for m in members if m["type"] == 2),
        "admins_json": _json(admins),
    }
    values["content_hash"] = _hash(sorted(values.items()), [sorted(m.items()) for m in members])
    return values, members


def _write_group(corp_ref: int, known: dict[str, tuple[int, str]], values: dict, members: list[dict]) -> str:
    now = utcnow()
    existing = known.get(values["chat_id"])
    if existing is not None and existing[1] == values["content_hash"]:
        return "unchanged"
    if existing is None:
        group_id = db.session.execute(
            insert(CustomerGroup.__table__).values(
                **values, corp_ref=corp_ref, synced_at=now, created_at=now, updated_at=now
            )
        ).inserted_primary_key[0]
        outcome = "inserted"
    else:
        group_id = existing[0]
        db.session.execute(
            update(CustomerGroup).where(CustomerGroup.id == group_id).values(**values, synced_at=now, updated_at=now)
        )
        db.session.execute(delete(CustomerGroupMember).where(CustomerGroupMember.group_id == group_id))
        outcome = "updated"
    if members:
        db.session.execute(insert(CustomerGroupMember.__table__), [{**m, "group_id": group_id} for m in members])
    known[values["chat_id"]] = (group_id, values["content_hash"])
    return outcome


def _known_groups(corp_ref: int) -> dict[str, tuple[int, str]]:
    return {
        r.chat_id: (r.id, r.content_hash)
        for r in db.session.execute(
            select(CustomerGroup.chat_id, CustomerGroup.id, CustomerGroup.content_hash).where(
                CustomerGroup.corp_ref == corp_ref
            )
        )
    }


def _group_detail(client: WeComApp, chat_id: str):
    return client.call(client.api.post, "externalcontact/groupchat/get", data={"chat_id": chat_id, "need_name": 1})


def run_groups(job: SyncJob, corp: Corp) -> None:
    client, _ = customer_client(corp, background=True)
    job.stage = "list"
    db.session.commit()
    chat_ids: list[str] = []
    cursor = None
    for _ in range(10_000):  # bounded: 10 million groups
        body: dict[str, Any] = {"status_filter": 0, "limit": GROUP_PAGE}
        if cursor:
            body["cursor"] = cursor
        page = client.call(client.api.post, "externalcontact/groupchat/list", data=body)
        if not page.ok:
            fail_or_retry(page, "externalcontact/groupchat/list")
        data = page.data or {}
        chat_ids.extend(str(c["chat_id"]) for c in data.get("group_chat_list") or [] if c.get("chat_id"))
        cursor = data.get("next_cursor")
        if not cursor:
            break
    chat_ids = list(dict.fromkeys(chat_ids))
    job.stage, job.total, job.done = "groups", len(chat_ids), 0
    db.session.commit()
    known = _known_groups(corp.id)
    seen: set[str] = set()

    def detail(chat_id, result) -> None:
        if not result.ok:
            if isinstance(result, Final) and result.errcode in (40050, 90500, 86003):
                return  # dismissed since it was listed
            fail_or_retry(result, f"externalcontact/groupchat/get {chat_id}")
        chat = (result.data or {}).get("group_chat") or {}
        if not chat.get("chat_id"):
            return
        values, members = group_values(chat)
        seen.add(values["chat_id"])
        outcome = _write_group(corp.id, known, values, members)
        setattr(job, outcome, getattr(job, outcome) + 1)
        job.fetched += 1
        job.done += 1
        if job.done % CHUNK == 0:
            db.session.commit()

    _pipeline(chat_ids, lambda c: _group_detail(client, c), detail)
    db.session.commit()
    gone = [row[0] for chat_id, row in known.items() if chat_id not in seen]
    for start in range(0, len(gone), CHUNK):
        chunk = gone[start : start + CHUNK]
        db.session.execute(delete(CustomerGroupMember).where(CustomerGroupMember.group_id.in_(chunk)))
        db.session.execute(delete(CustomerGroup).where(CustomerGroup.id.in_(chunk)))
    job.deleted = len(gone)
    corp.groups_synced_at = utcnow()
    db.session.commit()
    facts.report_count(job, corp, "groups")


def refresh_group(corp: Corp, client: WeComApp, chat_id: str) -> str:
    """One customer group as WeCom holds it now (after a change_external_chat event)."""
    result = _group_detail(client, chat_id)
    if not result.ok:
        if isinstance(result, Final) and result.errcode in (40050, 90500, 86003):
            group_id = db.session.execute(
                select(CustomerGroup.id).where(CustomerGroup.corp_ref == corp.id, CustomerGroup.chat_id == chat_id)
            ).scalar_one_or_none()
            if group_id is None:
                return "absent"
            db.session.execute(delete(CustomerGroupMember).where(CustomerGroupMember.group_id == group_id))
            db.session.execute(delete(CustomerGroup).where(CustomerGroup.id == group_id))
            return "deleted"
        fail_or_retry(result, f"externalcontact/groupchat/get {chat_id}")
    values, members = group_values((result.data or {}).get("group_chat") or {})
    known = {k: v for k, v in _known_groups(corp.id).items() if k == values["chat_id"]}
    return _write_group(corp.id, known, values, members)


# ---------------------------------------------------------------- reading


def list_customers(corp_ref: int, args: dict) -> dict:
    get_corp(corp_ref)
    stmt = select(Customer).where(Customer.corp_ref == corp_ref)
    if args.get("follow_userid"):
        stmt = stmt.where(
            exists().where(CustomerFollow.customer_id == Customer.id, CustomerFollow.userid == args["follow_userid"])
        )
    if args.get("type") is not None:
        stmt = stmt.where(Customer.kind == args["type"])
    if args.get("unionid"):
        stmt = stmt.where(Customer.unionid == args["unionid"])
    if args.get("has_unionid") is not None:
        stmt = stmt.where(Customer.unionid.is_not(None) if args["has_unionid"] else Customer.unionid.is_(None))
    if args.get("added_from"):
        stmt = stmt.where(Customer.first_added_at >= naive_utc(args["added_from"]))
    if args.get("added_to"):
        stmt = stmt.where(Customer.first_added_at < naive_utc(args["added_to"]))
    if args.get("q"):
        q = args["q"].strip()
        like = f"%{q}%"
        remark = exists().where(CustomerFollow.customer_id == Customer.id, CustomerFollow.remark.like(like))
        stmt = stmt.where(or_(Customer.name.like(like), Customer.external_userid == q, Customer.unionid == q, remark))
    order = {"added": Customer.first_added_at, "name": Customer.name, "updated": Customer.updated_at}[
        args.get("sort") or "added"
    ]
    stmt = stmt.order_by(order.asc() if args.get("order") == "asc" else order.desc(), Customer.id.desc())
    page = paginate(db.session, stmt, args["page"], args["page_size"])
    ids = [c.id for c in page["items"]]
    follows: dict[int, list[str]] = {}
    if ids:
        for customer_id, userid in db.session.execute(
            select(CustomerFollow.customer_id, CustomerFollow.userid)
            .where(CustomerFollow.customer_id.in_(ids))
            .order_by(CustomerFollow.userid)
        ):
            follows.setdefault(customer_id, []).append(userid)
    page["items"] = [{"customer": c, "follow_userids": follows.get(c.id, [])} for c in page["items"]]
    return page


def get_customer(corp_ref: int, customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None or customer.corp_ref != corp_ref:
        raise ApiError(404, f"No customer {customer_id} in corp {corp_ref}.")
    return customer


def _member_names(corp_ref: int, userids: list[str]) -> dict[str, str]:
    if not userids:
        return {}
    return dict(
        db.session.execute(
            select(Member.userid, Member.name).where(Member.corp_ref == corp_ref, Member.userid.in_(userids))
        ).all()
    )


def customer_detail(corp_ref: int, customer_id: int) -> dict:
    customer = get_customer(corp_ref, customer_id)
    follows = (
        db.session.execute(
            select(CustomerFollow).where(CustomerFollow.customer_id == customer.id).order_by(CustomerFollow.added_at)
        )
        .scalars()
        .all()
    )
    names = _member_names(corp_ref, [f.userid for f in follows])
    groups = db.session.execute(
        select(CustomerGroup.id, CustomerGroup.chat_id, CustomerGroup.name, CustomerGroupMember.joined_at)
        .join(CustomerGroupMember, CustomerGroupMember.group_id == CustomerGroup.id)
        .where(CustomerGroup.corp_ref == corp_ref, CustomerGroupMember.userid == customer.external_userid)
        .order_by(CustomerGroup.id)
    ).all()
    return {
        "customer": customer,
        "follows": [
            {
                "userid": f.userid,
                "member_name": names.get(f.userid),
                "remark": f.remark,
                "description": f.description,
                "added_at": f.added_at,
                "add_way": f.add_way,
                "state": f.state,
                "tags": f.tags,
            }
            for f in follows
        ],
        "groups": [{"id": g.id, "chat_id": g.chat_id, "name": g.name, "joined_at": g.joined_at} for g in groups],
    }


def list_groups(corp_ref: int, args: dict) -> dict:
    get_corp(corp_ref)
    stmt = select(CustomerGroup).where(CustomerGroup.corp_ref == corp_ref)
    if args.get("owner"):
        stmt = stmt.where(CustomerGroup.owner == args["owner"])
    if args.get("status") is not None:
        stmt = stmt.where(CustomerGroup.status == args["status"])
    if args.get("min_members") is not None:
        stmt = stmt.where(CustomerGroup.member_count >= args["min_members"])
    if args.get("max_members") is not None:
        stmt = stmt.where(CustomerGroup.member_count <= args["max_members"])
    if args.get("created_from"):
        stmt = stmt.where(CustomerGroup.created_time >= naive_utc(args["created_from"]))
    if args.get("created_to"):
        stmt = stmt.where(CustomerGroup.created_time < naive_utc(args["created_to"]))
    if args.get("member_userid"):
        stmt = stmt.where(
            exists().where(
                CustomerGroupMember.group_id == CustomerGroup.id, CustomerGroupMember.userid == args["member_userid"]
            )
        )
    if args.get("q"):
        q = args["q"].strip()
        stmt = stmt.where(or_(CustomerGroup.name.like(f"%{q}%"), CustomerGroup.chat_id == q))
    order = {
        "created": CustomerGroup.created_time,
        "members": CustomerGroup.member_count,
        "name": CustomerGroup.name,
    }[args.get("sort") or "created"]
    stmt = stmt.order_by(order.asc() if args.get("order") == "asc" else order.desc(), CustomerGroup.id.desc())
    page = paginate(db.session, stmt, args["page"], args["page_size"])
    names = _member_names(corp_ref, sorted({g.owner for g in page["items"] if g.owner}))
    page["items"] = [{"group": g, "owner_name": names.get(g.owner)} for g in page["items"]]
    return page


def get_group(corp_ref: int, group_id: int) -> CustomerGroup:
    group = db.session.get(CustomerGroup, group_id)
    if group is None or group.corp_ref != corp_ref:
        raise ApiError(404, f"No customer group {group_id} in corp {corp_ref}.")
    return group


def group_detail(corp_ref: int, group_id: int) -> dict:
    group = get_group(corp_ref, group_id)
    names = _member_names(corp_ref, [u for u in [group.owner, *group.admins] if u])
    return {
        "group": group,
        "owner_name": names.get(group.owner),
        "admins": [{"userid": a, "name": names.get(a)} for a in group.admins],
        "internal_count": group.member_count - group.external_count,
    }


def group_members(corp_ref: int, group_id: int, args: dict) -> dict:
    group = get_group(corp_ref, group_id)
    stmt = select(CustomerGroupMember).where(CustomerGroupMember.group_id == group.id)
    if args.get("type") is not None:
        stmt = stmt.where(CustomerGroupMember.kind == args["type"])
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(CustomerGroupMember.name.like(like), CustomerGroupMember.userid.like(like)))
    stmt = stmt.order_by(CustomerGroupMember.joined_at, CustomerGroupMember.userid)
    return paginate(db.session, stmt, args["page"], args["page_size"])


def customers_by_unionid(unionids: list[str]) -> dict[str, list[dict]]:
    """For other services: the customers known by each unionid, with the members who follow them."""
    found: dict[str, list[dict]] = {}
    if not unionids:
        return found
    rows = db.session.execute(
        select(Customer, Corp.corp_id)
        .join(Corp, Corp.id == Customer.corp_ref)
        .where(Customer.unionid.in_(unionids))
        .order_by(Customer.id)
    ).all()
    ids = [c.id for c, _ in rows]
    follows: dict[int, list[str]] = {}
    if ids:
        for customer_id, userid in db.session.execute(
            select(CustomerFollow.customer_id, CustomerFollow.userid).where(CustomerFollow.customer_id.in_(ids))
        ):
            follows.setdefault(customer_id, []).append(userid)
    for customer, corp_id in rows:
        found.setdefault(customer.unionid, []).append(
            {
                "corp_id": corp_id,
                "external_userid": customer.external_userid,
                "name": customer.name,
                "follow_userids": sorted(follows.get(customer.id, [])),
                "first_added_at": customer.first_added_at.isoformat() + "Z" if customer.first_added_at else None,
            }
        )
    return found


def counts(corp_ref: int) -> dict[str, int]:
    return {
        "customers": db.session.execute(
            select(func.count()).select_from(Customer).where(Customer.corp_ref == corp_ref)
        ).scalar_one(),
        "groups": db.session.execute(
            select(func.count()).select_from(CustomerGroup).where(CustomerGroup.corp_ref == corp_ref)
        ).scalar_one(),
    }
