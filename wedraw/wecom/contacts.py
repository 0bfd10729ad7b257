"""Contacts: the organisation as WeCom holds it — departments, members, tags.

Full sync (a job, run by the `wecom.run_sync` task):
1. `department/list`: every department the secret may see; changed ones rewritten, gone ones deleted;
2. `user/list` per department, a few calls in flight at once; a member in several departments
   is read more than once and written once. Members are written in chunks of 1,000 and the
   job's progress is committed after each, for the console to poll;
3. members WeCom no longer lists are deleted;
4. `tag/list` and `tag/get` per tag (a failure here is a warning: tags are not the organisation).

A row is written only when its content hash changed, so a second sync of an unchanged
organisation writes nothing but the job row.

Incremental updates come from `change_contact` callbacks (see events.py): each change is
applied by asking WeCom for the current state of what changed (`user/get`,
`department/list?id=`), so events applied late or twice still end where WeCom is.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.core.store import LockNotAcquired, lock, store_for
from wedraw.wechat import Final, WeComApp
from wedraw.wecom import facts
from wedraw.wecom.models import Corp, Department, Member, MemberDepartment, SyncJob, Tag, TagItem, db
from wedraw.wecom.services import RetryLater, contacts_client, fail_or_retry, get_corp

log = logging.getLogger("wedraw.wecom.contacts")

CHUNK = 1000
FETCHERS = 6
NOT_FOUND_USER = (60111, 46004)  # userid not found / member does not exist
NOT_FOUND_DEPARTMENT = (60123, 60003)

MOBILE_REASONS = {
    "returned": None,
    "empty": "Not set in WeCom.",
    "withheld": (
        "WeCom did not return it: since 20 June 2022 WeCom gives a member's mobile number and e-mail address "
        "only to the contacts secret or with the member's own consent (OAuth, snsapi_privateinfo)."
    ),
}


def write_lock_name(corp_ref: int) -> str:
    """One writer of a corp's contacts at a time: a full sync or the drain of change events."""
    return f"wecom:contacts-write:{corp_ref}"


# ---------------------------------------------------------------- WeCom records → rows


def _text(value: Any, length: int) -> str | None:
    if value in (None, ""):
        return None
    return str(value)[:length]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _private(info: dict, name: str, length: int) -> tuple[str | None, str]:
    if name not in info:
        return None, "withheld"
    value = _text(info.get(name), length)
    return value, "returned" if value else "empty"


@dataclass
class MemberRecord:
    values: dict[str, Any]
    links: list[tuple[int, bool, int]]  # (department, is_leader, order)

    @property
    def userid(self) -> str:
        return self.values["userid"]


def member_record(info: dict) -> MemberRecord:
    """Member columns and department links from a `user/get` / `user/list` answer."""
    departments = [int(d) for d in info.get("department") or [] if _int(d) is not None]
    leaders = list(info.get("is_leader_in_dept") or [])
    orders = list(info.get("order") or [])
    links = [
        (dept, bool(_int(leaders[i]) if i < len(leaders) else 0), _int(orders[i]) if i < len(orders) else 0)
        for i, dept in enumerate(dict.fromkeys(departments))
    ]
    links = [(d, leader, order or 0) for d, leader, order in links]
    mobile, mobile_state = _private(info, "mobile", 32)
    email, email_state = _private(info, "email", 128)
    userid = str(info["userid"])[:64]
    values = {
        "userid": userid,
        "name": _text(info.get("name"), 64) or userid,
        "alias": _text(info.get("alias"), 64),
        "position": _text(info.get("position"), 128),
        "gender": _int(info.get("gender")),
        "status": _int(info.get("status")) or 1,
        "main_department": _int(info.get("main_department")) or (departments[0] if departments else None),
        "department_ids": "," + "".join(f"{d}," for d, _, _ in links),
        "mobile": mobile,
        "mobile_state": mobile_state,
        "email": email,
        "email_state": email_state,
        "telephone": _text(info.get("telephone"), 32),
        "avatar": _text(info.get("avatar"), 512),
        "open_userid": _text(info.get("open_userid"), 64),
    }
    text = "\x1f".join(str(values[k]) for k in sorted(values)) + "\x1e" + repr(links)
    values["content_hash"] = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    return MemberRecord(values, links)


def department_values(info: dict) -> dict[str, Any]:
    values = {
        "department_id": int(info["id"]),
        "name": _text(info.get("name"), 64) or str(info["id"]),
        "name_en": _text(info.get("name_en"), 64),
        "parent_id": _int(info.get("parentid")) or 0,
        "order": _int(info.get("order")) or 0,
    }
    text = "\x1f".join(str(values[k]) for k in sorted(values))
    values["content_hash"] = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    return values


# ---------------------------------------------------------------- writing


@dataclass
class Known:
    id: int
    hash: str


def _known_members(corp_ref: int) -> dict[str, Known]:
    rows = db.session.execute(select(Member.userid, Member.id, Member.content_hash).where(Member.corp_ref == corp_ref))
    return {r.userid: Known(r.id, r.content_hash) for r in rows}


def _link_rows(corp_ref: int, member_id: int, record: MemberRecord) -> list[dict]:
    return [
        {"member_id": member_id, "department_id": d, "corp_ref": corp_ref, "is_leader": leader, "order": order}
        for d, leader, order in record.links
    ]


_MEMBER_UPDATE = None


def _member_update():
    """One UPDATE statement for every changed member (Core executemany)."""
    global _MEMBER_UPDATE
    if _MEMBER_UPDATE is None:
        table = Member.__table__
        names = [c.name for c in table.columns if c.name not in ("id", "corp_ref", "created_at")]
        _MEMBER_UPDATE = update(table).where(table.c.id == bindparam("_id")).values({n: bindparam(n) for n in names})
    return _MEMBER_UPDATE


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def write_members(corp_ref: int, known: dict[str, Known], records: Iterable[MemberRecord]) -> WriteCounts:
    """Insert new members, rewrite changed ones (and their department links); `known` is kept current."""
    now = utcnow()
    counts = WriteCounts()
    inserts: list[MemberRecord] = []
    changed: list[tuple[int, MemberRecord]] = []
    for record in records:
        existing = known.get(record.userid)
        if existing is None:
            inserts.append(record)
        elif existing.hash != record.values["content_hash"]:
            changed.append((existing.id, record))
        else:
            counts.unchanged += 1
    links: list[dict] = []
    if inserts:
        db.session.execute(
            insert(Member.__table__),
            [
                {**r.values, "corp_ref": corp_ref, "synced_at": now, "created_at": now, "updated_at": now}
                for r in inserts
            ],
        )
        ids = dict(
            db.session.execute(
                select(Member.userid, Member.id).where(
                    Member.corp_ref == corp_ref, Member.userid.in_([r.userid for r in inserts])
                )
            ).all()
        )
        for record in inserts:
            known[record.userid] = Known(ids[record.userid], record.values["content_hash"])
            links.extend(_link_rows(corp_ref, ids[record.userid], record))
        counts.inserted = len(inserts)
    if changed:
        db.session.execute(
            _member_update(),
            [{**r.values, "_id": member_id, "synced_at": now, "updated_at": now} for member_id, r in changed],
        )
        db.session.execute(
            delete(MemberDepartment).where(MemberDepartment.member_id.in_([member_id for member_id, _ in changed]))
        )
        for member_id, record in changed:
            known[record.userid] = Known(member_id, record.values["content_hash"])
            links.extend(_link_rows(corp_ref, member_id, record))
        counts.updated = len(changed)
    if links:
        db.session.execute(insert(MemberDepartment.__table__), links)
    return counts


def delete_members(corp_ref: int, member_ids: list[int]) -> int:
    for start in range(0, len(member_ids), CHUNK):
        ids = member_ids[start : start + CHUNK]
        db.session.execute(delete(MemberDepartment).where(MemberDepartment.member_id.in_(ids)))
        db.session.execute(delete(Member).where(Member.id.in_(ids)))
    return len(member_ids)


def write_departments(corp_ref: int, infos: list[dict], *, remove_missing: bool) -> tuple[int, int]:
    """Upsert departments from WeCom; with `remove_missing`, delete the ones WeCom no longer lists.
    Returns (changed, deleted)."""
    now = utcnow()
    existing = {
        r.department_id: (r.id, r.content_hash)
        for r in db.session.execute(
            select(Department.department_id, Department.id, Department.content_hash).where(
                Department.corp_ref == corp_ref
            )
        )
    }
    inserts, updates, seen = [], [], set()
    for info in infos:
        values = department_values(info)
        seen.add(values["department_id"])
        row = existing.get(values["department_id"])
        if row is None:
            inserts.append({**values, "corp_ref": corp_ref, "synced_at": now})
        elif row[1] != values["content_hash"]:
            updates.append({**values, "_id": row[0], "synced_at": now})
    if inserts:
        db.session.execute(insert(Department.__table__), inserts)
    if updates:
        table = Department.__table__
        names = [k for k in updates[0] if k != "_id"]
        db.session.execute(
            update(table).where(table.c.id == bindparam("_id")).values({n: bindparam(n) for n in names}), updates
        )
    gone = [row[0] for dept_id, row in existing.items() if dept_id not in seen] if remove_missing else []
    if gone:
        db.session.execute(delete(Department).where(Department.id.in_(gone)))
    return len(inserts) + len(updates), len(gone)


# ---------------------------------------------------------------- the full sync


def _members_of(client: WeComApp, department_id: int):
    return client.call(client.api.get, "user/list", params={"department_id": department_id})


def run(job: SyncJob, corp: Corp) -> None:
    """The contacts stage of a sync job (the caller holds the job and handles RetryLater/SyncFailed)."""
    store = store_for(current_app.config["WEDRAW_SETTINGS"])
    try:
        with lock(store, write_lock_name(corp.id), ttl=3 * 3600, wait=30):
            _run(job, corp)
    except LockNotAcquired:
        raise RetryLater("another writer holds this corp's contacts", 30) from None


def _progress(job: SyncJob, **values) -> None:
    for name, value in values.items():
        setattr(job, name, value)
    db.session.commit()


def _run(job: SyncJob, corp: Corp) -> None:
    client, via = contacts_client(corp, background=True)
    _progress(job, stage="departments")
    answer = client.call(client.api.get, "department/list")
    if not answer.ok:
        fail_or_retry(answer, "department/list")
    departments = list((answer.data or {}).get("department") or [])
    changed, removed = write_departments(corp.id, departments, remove_missing=True)
    _progress(job, stage="members", total=len(departments), departments_changed=changed, departments_deleted=removed)

    known = _known_members(corp.id)
    seen: set[str] = set()
    buffer: list[MemberRecord] = []

    def flush() -> None:
        counts = write_members(corp.id, known, buffer)
        job.inserted += counts.inserted
        job.updated += counts.updated
        job.unchanged += counts.unchanged
        buffer.clear()
        db.session.commit()

    ids = [int(d["id"]) for d in departments]
    with ThreadPoolExecutor(max_workers=FETCHERS, thread_name_prefix="wecom-sync") as pool:
        # Bounded look-ahead: at most a few pages of answers wait in memory while one is written.
        window = FETCHERS * 4
        futures = [pool.submit(_members_of, client, d) for d in ids[:window]]
        next_index = len(futures)
        for position in range(len(ids)):
            result = futures[position].result()
            futures[position] = None
            if next_index < len(ids):
                futures.append(pool.submit(_members_of, client, ids[next_index]))
                next_index += 1
            if not result.ok:
                if isinstance(result, Final) and result.errcode in NOT_FOUND_DEPARTMENT + (60011,):
                    # Deleted or hidden since department/list answered: its members come through other ones.
                    job.warnings = [*job.warnings, f"department {ids[position]}: errcode {result.errcode}"][-20:]
                    continue
                for future in futures[position + 1 :]:
                    if future is not None:
                        future.cancel()
                fail_or_retry(result, f"user/list of department {ids[position]}")
            for info in (result.data or {}).get("userlist") or []:
                userid = str(info.get("userid") or "")
                if userid and userid not in seen:
                    seen.add(userid)
                    buffer.append(member_record(info))
            job.fetched = len(seen)
            job.done = position + 1
            if len(buffer) >= CHUNK:
                flush()
        flush()

    _progress(job, stage="cleanup")
    gone = [k.id for userid, k in known.items() if userid not in seen]
    job.deleted = delete_members(corp.id, gone)
    db.session.commit()

    _progress(job, stage="tags")
    problem = sync_tags(corp, client)
    if problem:
        job.warnings = [*job.warnings, f"tags not synced ({via}): {problem}"][-20:]
    corp.contacts_synced_at = utcnow()
    db.session.commit()
    facts.report_count(job, corp, "members")


def sync_tags(corp: Corp, client: WeComApp) -> str | None:
    """Make the local tags and their members WeCom's; the problem in words when WeCom would not say."""
    answer = client.call(client.api.get, "tag/list")
    if not answer.ok:
        return f"tag/list: {answer.meaning} (errcode {answer.errcode})"
    remote = {int(t["tagid"]): t for t in (answer.data or {}).get("taglist") or []}
    items: dict[int, set[tuple[str, str]]] = {}
    for tag_id in remote:
        detail = client.call(client.api.get, "tag/get", params={"tagid": tag_id})
        if not detail.ok:
            return f"tag/get {tag_id}: {detail.meaning} (errcode {detail.errcode})"
        data = detail.data or {}
        items[tag_id] = {("user", str(u["userid"])) for u in data.get("userlist") or []} | {
            ("party", str(p)) for p in data.get("partylist") or []
        }
    local = {t.tag_id: t for t in db.session.execute(select(Tag).where(Tag.corp_ref == corp.id)).scalars()}
    now = utcnow()
    for tag_id, info in remote.items():
        tag = local.get(tag_id)
        name = _text(info.get("tagname"), 64)
        if tag is None:
            tag = Tag(corp_ref=corp.id, tag_id=tag_id, name=name, synced_at=now)
            db.session.add(tag)
            db.session.flush()
        elif tag.name != name:
            tag.name, tag.synced_at = name, now
        _set_tag_items(tag, items[tag_id])
    for tag_id, tag in local.items():
        if tag_id not in remote:
            db.session.delete(tag)
    db.session.commit()
    return None


def _set_tag_items(tag: Tag, wanted: set[tuple[str, str]]) -> None:
    current = {
        (r.kind, r.value) for r in db.session.execute(select(TagItem).where(TagItem.tag_ref == tag.id)).scalars()
    }
    for kind, value in current - wanted:
        db.session.execute(
            delete(TagItem).where(TagItem.tag_ref == tag.id, TagItem.kind == kind, TagItem.value == value)
        )
    for kind, value in sorted(wanted - current):
        db.session.add(TagItem(tag_ref=tag.id, kind=kind, value=value))


# ---------------------------------------------------------------- incremental changes


def refresh_member(corp: Corp, client: WeComApp, userid: str) -> str:
    """Make one member what WeCom says now: written, deleted (WeCom no longer knows it) or unchanged."""
    result = client.call(client.api.get, "user/get", params={"userid": userid})
    if not result.ok:
        if isinstance(result, Final) and result.errcode in NOT_FOUND_USER:
            return "deleted" if remove_member(corp, userid) else "absent"
        fail_or_retry(result, f"user/get {userid}")
    record = member_record(result.data)
    known = {}
    row = db.session.execute(
        select(Member.id, Member.content_hash).where(Member.corp_ref == corp.id, Member.userid == record.userid)
    ).first()
    if row is not None:
        known[record.userid] = Known(row.id, row.content_hash)
    counts = write_members(corp.id, known, [record])
    return "inserted" if counts.inserted else "updated" if counts.updated else "unchanged"


def remove_member(corp: Corp, userid: str) -> bool:
    member_id = db.session.execute(
        select(Member.id).where(Member.corp_ref == corp.id, Member.userid == userid)
    ).scalar_one_or_none()
    if member_id is None:
        return False
    delete_members(corp.id, [member_id])
    return True


def rename_member(corp: Corp, old: str, new: str) -> None:
    """A changed userid (NewUserID): the row follows, unless the new one is already known."""
    taken = db.session.execute(select(Member.id).where(Member.corp_ref == corp.id, Member.userid == new)).first()
    if not taken:
        db.session.execute(
            update(Member).where(Member.corp_ref == corp.id, Member.userid == old).values(userid=new, content_hash="")
        )


def refresh_department(corp: Corp, client: WeComApp, department_id: int) -> str:
    result = client.call(client.api.get, "department/list", params={"id": department_id})
    if not result.ok:
        if isinstance(result, Final) and result.errcode in NOT_FOUND_DEPARTMENT:
            return remove_department(corp, client, department_id)
        fail_or_retry(result, f"department/list {department_id}")
    found = [d for d in (result.data or {}).get("department") or [] if _int(d.get("id")) == department_id]
    if not found:
        return remove_department(corp, client, department_id)
    changed, _ = write_departments(corp.id, found, remove_missing=False)
    return "updated" if changed else "unchanged"


def remove_department(corp: Corp, client: WeComApp, department_id: int) -> str:
    """A department is gone: its members are not. Each is read again from WeCom, which says where they are now."""
    members = (
        db.session.execute(
            select(Member.userid)
            .join(MemberDepartment, MemberDepartment.member_id == Member.id)
            .where(MemberDepartment.corp_ref == corp.id, MemberDepartment.department_id == department_id)
        )
        .scalars()
        .all()
    )
    for userid in members:
        refresh_member(corp, client, userid)
    db.session.execute(
        delete(MemberDepartment).where(
            MemberDepartment.corp_ref == corp.id, MemberDepartment.department_id == department_id
        )
    )
    removed = db.session.execute(
        delete(Department).where(Department.corp_ref == corp.id, Department.department_id == department_id)
    ).rowcount
    tags = select(Tag.id).where(Tag.corp_ref == corp.id).scalar_subquery()
    db.session.execute(
        delete(TagItem).where(TagItem.tag_ref.in_(tags), TagItem.kind == "party", TagItem.value == str(department_id))
    )
    return "deleted" if removed else "absent"


def _items(value: Any) -> list[str]:
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


def apply_tag_change(corp: Corp, client: WeComApp, message: dict) -> str:
    """update_tag: the event carries the change itself (users and departments added and removed)."""
    tag_id = _int(message.get("TagId"))
    if tag_id is None:
        return "ignored"
    tag = db.session.execute(select(Tag).where(Tag.corp_ref == corp.id, Tag.tag_id == tag_id)).scalar_one_or_none()
    if tag is None:
        tag = Tag(corp_ref=corp.id, tag_id=tag_id, name=None, synced_at=utcnow())
        db.session.add(tag)
        db.session.flush()
        names = client.call(client.api.get, "tag/list")  # the event does not name the tag; WeCom's list may
        if names.ok:
            found = [t for t in (names.data or {}).get("taglist") or [] if _int(t.get("tagid")) == tag_id]
            tag.name = _text(found[0].get("tagname"), 64) if found else None
    current = {
        (r.kind, r.value) for r in db.session.execute(select(TagItem).where(TagItem.tag_ref == tag.id)).scalars()
    }
    wanted = set(current)
    wanted |= {("user", u) for u in _items(message.get("AddUserItems"))}
    wanted -= {("user", u) for u in _items(message.get("DelUserItems"))}
    wanted |= {("party", p) for p in _items(message.get("AddPartyItems"))}
    wanted -= {("party", p) for p in _items(message.get("DelPartyItems"))}
    _set_tag_items(tag, wanted)
    tag.synced_at = utcnow()
    return "updated"


# ---------------------------------------------------------------- reading


def subtree_ids(corp_ref: int, department_id: int) -> list[int]:
    pairs = db.session.execute(
        select(Department.department_id, Department.parent_id).where(Department.corp_ref == corp_ref)
    ).all()
    children: dict[int, list[int]] = {}
    for dept, parent in pairs:
        children.setdefault(parent, []).append(dept)
    found, frontier = [department_id], [department_id]
    seen = {department_id}
    while frontier:
        nxt = [c for p in frontier for c in children.get(p, ()) if c not in seen]
        seen.update(nxt)
        found.extend(nxt)
        frontier = nxt
    return found


def _direct_counts(corp_ref: int) -> dict[int, int]:
    return dict(
        db.session.execute(
            select(MemberDepartment.department_id, func.count())
            .where(MemberDepartment.corp_ref == corp_ref)
            .group_by(MemberDepartment.department_id)
        ).all()
    )


def list_departments(corp_ref: int, args: dict) -> dict:
    get_corp(corp_ref)
    stmt = select(Department).where(Department.corp_ref == corp_ref)
    if args.get("parent_id") is not None:
        stmt = stmt.where(Department.parent_id == args["parent_id"])
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(Department.name.like(like), Department.name_en.like(like)))
    stmt = stmt.order_by(Department.parent_id, Department.order.desc(), Department.department_id)
    page = paginate(db.session, stmt, args["page"], args["page_size"])
    counts = _direct_counts(corp_ref) if page["items"] else {}
    page["items"] = [_department_dict(d, counts) for d in page["items"]]
    return page


def _department_dict(dept: Department, counts: dict[int, int]) -> dict:
    return {
        "department_id": dept.department_id,
        "name": dept.name,
        "name_en": dept.name_en,
        "parent_id": dept.parent_id,
        "order": dept.order,
        "member_count": counts.get(dept.department_id, 0),
        "synced_at": dept.synced_at,
    }


def department_tree(corp_ref: int) -> list[dict]:
    """Every department nested under its parent (siblings by WeCom's order, larger first)."""
    get_corp(corp_ref)
    depts = (
        db.session.execute(
            select(Department)
            .where(Department.corp_ref == corp_ref)
            .order_by(Department.order.desc(), Department.department_id)
        )
        .scalars()
        .all()
    )
    counts = _direct_counts(corp_ref)
    nodes = {d.department_id: {**_department_dict(d, counts), "children": []} for d in depts}
    roots = []
    for dept in depts:
        parent = nodes.get(dept.parent_id)
        (parent["children"] if parent is not None and dept.parent_id != dept.department_id else roots).append(
            nodes[dept.department_id]
        )

    def total(node: dict) -> int:
        node["subtree_member_count"] = node["member_count"] + sum(total(c) for c in node["children"])
        return node["subtree_member_count"]

    for root in roots:
        total(root)
    return roots


def get_department(corp_ref: int, department_id: int) -> dict:
    get_corp(corp_ref)
    dept = db.session.execute(
        select(Department).where(Department.corp_ref == corp_ref, Department.department_id == department_id)
    ).scalar_one_or_none()
    if dept is None:
        raise ApiError(404, f"No department {department_id} in corp {corp_ref}.")
    names = dict(
        db.session.execute(
            select(Department.department_id, Department.name).where(Department.corp_ref == corp_ref)
        ).all()
    )
    parents = dict(
        db.session.execute(
            select(Department.department_id, Department.parent_id).where(Department.corp_ref == corp_ref)
        ).all()
    )
    path, cursor = [], dept.parent_id
    while cursor in names and len(path) < 64:
        path.append({"department_id": cursor, "name": names[cursor]})
        cursor = parents.get(cursor)
    counts = _direct_counts(corp_ref)
    children = (
        db.session.execute(
            select(Department)
            .where(Department.corp_ref == corp_ref, Department.parent_id == department_id)
            .order_by(Department.order.desc(), Department.department_id)
        )
        .scalars()
        .all()
    )
    return {
        **_department_dict(dept, counts),
        "path": list(reversed(path)),
        "children": [_department_dict(c, counts) for c in children],
    }


def list_members(corp_ref: int, args: dict) -> dict:
    get_corp(corp_ref)
    stmt = select(Member).where(Member.corp_ref == corp_ref)
    if args.get("department_id") is not None:
        depts = (
            subtree_ids(corp_ref, args["department_id"]) if args.get("include_children") else [args["department_id"]]
        )
        members = select(MemberDepartment.member_id).where(
            MemberDepartment.corp_ref == corp_ref, MemberDepartment.department_id.in_(depts)
        )
        stmt = stmt.where(Member.id.in_(members))
    if args.get("status") is not None:
        stmt = stmt.where(Member.status == args["status"])
    if args.get("tag_id") is not None:
        tag = db.session.execute(
            select(Tag.id).where(Tag.corp_ref == corp_ref, Tag.tag_id == args["tag_id"])
        ).scalar_one_or_none()
        users = select(TagItem.value).where(TagItem.tag_ref == tag, TagItem.kind == "user")
        parties = [
            int(p)
            for p in db.session.execute(
                select(TagItem.value).where(TagItem.tag_ref == tag, TagItem.kind == "party")
            ).scalars()
        ]
        in_parties = select(MemberDepartment.member_id).where(
            MemberDepartment.corp_ref == corp_ref, MemberDepartment.department_id.in_(parties or [-1])
        )
        stmt = stmt.where(or_(Member.userid.in_(users), Member.id.in_(in_parties)))
    if args.get("q"):
        q = args["q"].strip()
        like = f"%{q}%"
        stmt = stmt.where(
            or_(Member.name.like(like), Member.userid.like(like), Member.alias.like(like), Member.position.like(like))
        )
    order = {"name": Member.name, "userid": Member.userid, "updated": Member.updated_at}[args.get("sort") or "name"]
    stmt = stmt.order_by(order.desc() if args.get("order") == "desc" else order.asc(), Member.id)
    return paginate(db.session, stmt, args["page"], args["page_size"])


def department_names(corp_ref: int, ids: Iterable[int]) -> dict[int, str]:
    ids = list(ids)
    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(Department.department_id, Department.name).where(
                Department.corp_ref == corp_ref, Department.department_id.in_(ids)
            )
        ).all()
    )


def get_member(corp_ref: int, member_id: int) -> Member:
    member = db.session.get(Member, member_id)
    if member is None or member.corp_ref != corp_ref:
        raise ApiError(404, f"No member {member_id} in corp {corp_ref}.")
    return member


def member_detail(corp_ref: int, member_id: int) -> dict:
    member = get_member(corp_ref, member_id)
    links = db.session.execute(select(MemberDepartment).where(MemberDepartment.member_id == member.id)).scalars().all()
    names = department_names(corp_ref, [link.department_id for link in links])
    order = {d: i for i, d in enumerate(member.department_list)}
    departments = sorted(
        (
            {
                "department_id": link.department_id,
                "name": names.get(link.department_id),
                "is_leader": link.is_leader,
                "order": link.order,
            }
            for link in links
        ),
        key=lambda d: order.get(d["department_id"], 1 << 30),
    )
    tags = db.session.execute(
        select(Tag.tag_id, Tag.name)
        .join(TagItem, TagItem.tag_ref == Tag.id)
        .where(
            Tag.corp_ref == corp_ref,
            or_(
                (TagItem.kind == "user") & (TagItem.value == member.userid),
                (TagItem.kind == "party") & (TagItem.value.in_([str(d) for d in member.department_list] or ["-"])),
            ),
        )
        .distinct()
        .order_by(Tag.tag_id)
    ).all()
    return {
        "member": member,
        "departments": departments,
        "tags": [{"tag_id": t.tag_id, "name": t.name} for t in tags],
    }


def list_tags(corp_ref: int, args: dict) -> dict:
    get_corp(corp_ref)
    stmt = select(Tag).where(Tag.corp_ref == corp_ref).order_by(Tag.tag_id)
    if args.get("q"):
        stmt = stmt.where(Tag.name.like(f"%{args['q']}%"))
    page = paginate(db.session, stmt, args["page"], args["page_size"])
    ids = [t.id for t in page["items"]]
    counts = {}
    if ids:
        counts = {
            (r.tag_ref, r.kind): r.n
            for r in db.session.execute(
                select(TagItem.tag_ref, TagItem.kind, func.count().label("n"))
                .where(TagItem.tag_ref.in_(ids))
                .group_by(TagItem.tag_ref, TagItem.kind)
            )
        }
    page["items"] = [_tag_dict(t, counts.get((t.id, "user"), 0), counts.get((t.id, "party"), 0)) for t in page["items"]]
    return page


def _tag_dict(tag: Tag, users: int, parties: int) -> dict:
    return {
        "tag_id": tag.tag_id,
        "name": tag.name,
        "user_count": users,
        "party_count": parties,
        "synced_at": tag.synced_at,
    }


def get_tag(corp_ref: int, tag_id: int) -> dict:
    get_corp(corp_ref)
    tag = db.session.execute(select(Tag).where(Tag.corp_ref == corp_ref, Tag.tag_id == tag_id)).scalar_one_or_none()
    if tag is None:
        raise ApiError(404, f"No tag {tag_id} in corp {corp_ref}.")
    items = db.session.execute(select(TagItem).where(TagItem.tag_ref == tag.id).order_by(TagItem.value)).scalars().all()
    userids = [i.value for i in items if i.kind == "user"]
    parties = sorted(int(i.value) for i in items if i.kind == "party")
    members = dict(
        db.session.execute(
            select(Member.userid, Member.name).where(Member.corp_ref == corp_ref, Member.userid.in_(userids or ["-"]))
        ).all()
    )
    names = department_names(corp_ref, parties)
    return {
        **_tag_dict(tag, len(userids), len(parties)),
        "users": [{"userid": u, "name": members.get(u)} for u in userids],
        "parties": [{"department_id": p, "name": names.get(p)} for p in parties],
    }
