"""The sandbox's in-memory WeChat: accounts, people, tokens, quotas and everything delivered.

One `World` is shared by both sandbox hosts (one process serves both ports) and is
guarded by one re-entrant lock; request handlers hold it only while they read or
change state, never while they sleep or make HTTP calls.

Everything is generated deterministically from `WorldParams.seed`, so two sandboxes
with the same parameters hold the same openids, unionids, members and template ids.
Per-user state is materialised lazily: a world of 100,000 fans stores 100,000 openid
strings and builds a fan's record only when something reads or changes it.

Seeded rules worth knowing when writing tests (index = position in `user/get` order):
- every seeded fan is subscribed; `fans // 20` more users (after them) have unfollowed;
- fans with an even index interacted an hour before the world was built (inside the
  48-hour customer-service window), odd ones three days before (outside it);
- every third fan carries one seeded tag (`100 + index % 4`);
- Mini Program user j shares a person (and so a unionid) with fan j when j is even;
- a WeCom corp with members has two contacts tags: 1 管理层 (every tenth member) and
  2 技术委员会 (the second member, and department 2 when it exists).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from wedraw.sandbox.demo import DemoAccounts, demo_accounts
from wedraw.sandbox.errors import WxError
from wedraw.sandbox.pusher import Pusher, PushRecord, PushTarget

OFFICIAL = "official"
MINIPROGRAM = "miniprogram"
HOSTS = ("official", "wecom")

TOKEN_TTL = 7200
TOKEN_GRACE = 300  # a new Official Account token leaves the previous one working this long
CODE_TTL = 300  # wx.login and OAuth codes
TEMP_MEDIA_TTL = 3 * 86400
MAX_TAGS = 100
MAX_TAGS_PER_FAN = 20
ROBOT_WINDOW = 60
ROBOT_LIMIT = 20
BEIJING = 8 * 3600
OUTBOX_LIMIT = 500_000  # oldest deliveries are dropped beyond this (benchmarks send to 100,000 fans)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力斌宇浩凯晨欣怡"
CITIES = (
    ("广东", "深圳"),
    ("广东", "广州"),
    ("上海", "浦东新区"),
    ("北京", "海淀"),
    ("浙江", "杭州"),
    ("江苏", "南京"),
    ("四川", "成都"),
    ("湖北", "武汉"),
    ("福建", "厦门"),
    ("陕西", "西安"),
)
SCENES = ("ADD_SCENE_SEARCH", "ADD_SCENE_QR_CODE", "ADD_SCENE_PROFILE_CARD", "ADD_SCENE_ACCOUNT_MIGRATION")
SEEDED_TAGS = ("VIP", "积分达人", "新客", "华东")
POSITIONS = ("工程师", "产品经理", "设计师", "销售", "客服", "运营", "财务", "人事")


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def _b64id(prefix: str, length: int, *parts: object) -> str:
    """A URL-safe id of `length` characters, stable for the same parts."""
    text = base64.urlsafe_b64encode(_digest(*parts) + _digest("more", *parts)).decode().rstrip("=")
    return prefix + text[: length - len(prefix)]


def _alnum_id(prefix: str, length: int, *parts: object) -> str:
    return prefix + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[: length - len(prefix)]


def beijing_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts + BEIJING))


def beijing_month(ts: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(ts + BEIJING))


class Clock:
    """The world's clock. Tests advance it to reach token expiry or the 48-hour window."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        self.offset += seconds
        return self.now()


@dataclass(frozen=True)
class WorldParams:
    fans: int = 200
    members: int = 100
    departments: int = 5
    seed: int = 1
    miniprogram_users: int | None = None  # default: fans // 2, at least 10
    group_chats: int | None = None  # default: members // 20, at least 2
    callback_base: str | None = "http://127.0.0.1:8080"
    demo: DemoAccounts | None = None  # default: from the environment

    def __post_init__(self) -> None:
        for name in ("fans", "members", "departments"):
            if getattr(self, name) < (1 if name == "departments" else 0):
                raise ValueError(f"{name} must not be negative (departments at least 1)")


def person_profile(seed: int, person: int) -> dict[str, Any]:
    """Name, sex, place and unionid of one person, the same in every app they use."""
    d = _digest(seed, "person", person)
    province, city = CITIES[d[3] % len(CITIES)]
    return {
        "nickname": SURNAMES[d[0] % len(SURNAMES)] + GIVEN[d[1] % len(GIVEN)] + GIVEN[d[2] % len(GIVEN)],
        "sex": 1 + d[4] % 2,
        "language": "zh_CN",
        "country": "中国",
        "province": province,
        "city": city,
        "headimgurl": f"https://thirdwx.qlogo.cn/mmopen/sandbox/{d.hex()[:24]}/132",
        "unionid": _b64id("o", 28, seed, "unionid", person),
    }


# --------------------------------------------------------------------------- apps and their users


@dataclass
class User:
    """One person as seen by one app (an Official Account fan or a Mini Program user)."""

    openid: str
    person: int
    subscribed: bool
    subscribe_time: int
    subscribe_scene: str
    last_interaction: float
    tags: set[int]
    remark: str = ""
    blacklisted: bool = False  # the account blocked this fan: no message of the account reaches them
    custom_sent: int = 0  # customer-service messages since the last interaction
    mass_by_month: dict[str, int] = field(default_factory=dict)
    risky: bool = False
    grants: Counter = field(default_factory=Counter)  # subscribe-message template id -> sends granted
    session_key: str = ""


class Users:
    """The users of one app, by position: openids eagerly, records lazily."""

    def __init__(self, seed: int, appid: str, persons: list[int], subscribed: int, tag_ids: list[int], built_at: float):
        self.seed = seed
        self.appid = appid
        self.persons = persons
        self.openids = [_b64id("o", 28, seed, appid, "openid", i) for i in range(len(persons))]
        self.index = {openid: i for i, openid in enumerate(self.openids)}
        self._initially_subscribed = subscribed
        self._tag_ids = tag_ids
        self._built_at = built_at
        self._records: dict[int, User] = {}
        self._deleted_tags: set[int] = set()
        self.subscribed_count = subscribed

    def __len__(self) -> int:
        return len(self.openids)

    def _default_tags(self, i: int) -> set[int]:
        if self._tag_ids and i % 3 == 0 and i < self._initially_subscribed:
            tag = self._tag_ids[i % len(self._tag_ids)]
            if tag not in self._deleted_tags:
                return {tag}
        return set()

    def at(self, i: int) -> User:
        record = self._records.get(i)
        if record is None:
            hours_ago = 1 if i % 2 == 0 else 72
            record = User(
                openid=self.openids[i],
                person=self.persons[i],
                subscribed=i < self._initially_subscribed,
                subscribe_time=int(self._built_at) - 86400 - (i % 1000) * 3600,
                subscribe_scene=SCENES[i % len(SCENES)],
                last_interaction=self._built_at - hours_ago * 3600,
                tags=self._default_tags(i),
            )
            self._records[i] = record
        return record

    def find(self, openid: str | None) -> User | None:
        i = self.index.get(openid or "")
        return None if i is None else self.at(i)

    def is_subscribed(self, i: int) -> bool:
        record = self._records.get(i)
        return record.subscribed if record else i < self._initially_subscribed

    def tags_of(self, i: int) -> set[int]:
        record = self._records.get(i)
        return record.tags if record else self._default_tags(i)

    def forget_tag(self, tag_id: int) -> None:
        """A deleted tag leaves every fan, seeded or materialised."""
        self._deleted_tags.add(tag_id)
        for record in self._records.values():
            record.tags.discard(tag_id)

    def add(self, person: int, now: float, subscribed: bool) -> User:
        i = len(self.openids)
        openid = _b64id("o", 28, self.seed, self.appid, "openid", i)
        self.openids.append(openid)
        self.persons.append(person)
        self.index[openid] = i
        self._records[i] = User(
            openid=openid,
            person=person,
            subscribed=subscribed,
            subscribe_time=int(now),
            subscribe_scene="ADD_SCENE_OTHERS",
            last_interaction=now,
            tags=set(),
        )
        if subscribed:
            self.subscribed_count += 1
        return self._records[i]

    def set_subscribed(self, user: User, subscribed: bool, now: float) -> None:
        if user.subscribed == subscribed:
            return
        user.subscribed = subscribed
        self.subscribed_count += 1 if subscribed else -1
        if subscribed:
            user.subscribe_time = int(now)
        else:
            user.tags.clear()  # WeChat drops an unfollower's tags

    def blacklisted_from(self, start: int) -> Iterator[int]:
        """Positions of blacklisted users from `start` on (only materialised users can be blacklisted)."""
        return (i for i in sorted(self._records) if i >= start and self._records[i].blacklisted)

    def subscribed_from(self, start: int) -> Iterator[int]:
        """Positions of subscribed users from `start` on, in `user/get` order."""
        return (i for i in range(start, len(self.openids)) if self.is_subscribed(i))


@dataclass
class Tag:
    id: int
    name: str
    system: bool = False


@dataclass
class Template:
    template_id: str
    title: str
    content: str
    example: str = ""
    primary_industry: str = "IT科技"
    deputy_industry: str = "互联网|电子商务"

    def fields(self) -> list[str]:
        """Placeholder names in `{{name.DATA}}` form, in order."""
        names, rest = [], self.content
        while "{{" in rest:
            rest = rest.split("{{", 1)[1]
            name, rest = rest.split("}}", 1)
            names.append(name.split(".", 1)[0])
        return names


@dataclass
class Media:
    media_id: str
    type: str
    filename: str
    content_type: str
    data: bytes
    created_at: int


@dataclass
class Material:
    media_id: str
    type: str
    name: str
    update_time: int
    data: bytes = b""
    content_type: str = "application/octet-stream"
    url: str = ""
    description: dict | None = None
    articles: list[dict] | None = None


@dataclass
class QrCode:
    ticket: str
    action_name: str
    scene: str
    expires_at: float | None
    url: str


@dataclass
class Code:
    """A single-use code: wx.login, OAuth web login or WeCom OAuth."""

    code: str
    subject: str  # openid or userid
    expires_at: float
    scope: str = ""
    used: bool = False


@dataclass
class SnsToken:
    access_token: str
    refresh_token: str
    openid: str
    scope: str
    expires_at: float


@dataclass
class MassJob:
    msg_id: int
    msg_data_id: int
    msgtype: str
    recipients: list[str]
    status: str = "SEND_SUCCESS"
    deleted: bool = False
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Account:
    """An Official Account or a Mini Program: credentials, callback and everything it holds."""

    appid: str
    secret: str
    kind: str
    name: str
    token: str = ""
    aes_key: str = ""
    callback_url: str | None = None
    encrypt_mode: str = "safe"  # safe | compatible | plain
    token_daily_quota: int = 2000
    template_daily_quota: int = 100_000
    custom_per_interaction: int = 20
    code2session_per_minute: int = 5000
    job_events: bool = True  # push MASSSENDJOBFINISH / TEMPLATESENDJOBFINISH
    users: Users | None = None
    tags: dict[int, Tag] = field(default_factory=dict)
    next_tag_id: int = 100
    templates: dict[str, Template] = field(default_factory=dict)
    menu: dict | None = None
    media: dict[str, Media] = field(default_factory=dict)
    materials: dict[str, Material] = field(default_factory=dict)
    qrcodes: dict[str, QrCode] = field(default_factory=dict)
    mass_jobs: dict[int, MassJob] = field(default_factory=dict)
    client_msg_ids: dict[str, int] = field(default_factory=dict)
    login_codes: dict[str, Code] = field(default_factory=dict)
    oauth_codes: dict[str, Code] = field(default_factory=dict)
    sns_tokens: dict[str, SnsToken] = field(default_factory=dict)
    jsapi_tickets: dict[str, tuple[str, float]] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)

    @property
    def original_id(self) -> str:
        """The `gh_` id WeChat puts in ToUserName of every callback."""
        return "gh_" + hashlib.sha256(self.appid.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        return self.appid


# --------------------------------------------------------------------------- WeCom


@dataclass
class Department:
    id: int
    name: str
    name_en: str
    parentid: int
    order: int


@dataclass
class Member:
    userid: str
    name: str
    department: list[int]
    position: str
    mobile: str
    gender: str
    email: str
    status: int  # 1 active, 2 disabled, 4 not activated
    open_userid: str
    order: list[int] = field(default_factory=list)
    # None: WeCom does not hand the field to apps (as for apps created after 2022-06-20); "" is "not set".
    # `mobile` and `email` above follow the same rule.
    is_leader_in_dept: list[int] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status == 1

    def detail(self) -> dict:
        detail = {
            "userid": self.userid,
            "name": self.name,
            "department": self.department,
            "order": self.order,
            "position": self.position,
            "mobile": self.mobile,
            "gender": self.gender,
            "email": self.email,
            "is_leader_in_dept": self.is_leader_in_dept or [0] * len(self.department),
            "avatar": "",
            "thumb_avatar": "",
            "telephone": "",
            "alias": "",
            "status": self.status,
            "main_department": self.department[0],
            "open_userid": self.open_userid,
            "extattr": {"attrs": []},
        }
        # Fields WeCom withholds are absent from its answer, not empty.
        return {k: v for k, v in detail.items() if not (k in ("mobile", "email") and v is None)}


@dataclass
class ExternalContact:
    external_userid: str
    name: str
    gender: int
    unionid: str
    follow_users: list[dict]
    type: int = 1  # 1: a WeChat user


@dataclass
class GroupChat:
    chat_id: str
    name: str
    owner: str
    create_time: int
    members: list[dict]
    admin_list: list[dict]
    notice: str = ""
    status: int = 0


@dataclass
class AppChat:
    chatid: str
    name: str
    owner: str
    userlist: list[str]


@dataclass
class Robot:
    key: str
    corp_id: str
    name: str
    sent: deque = field(default_factory=deque)  # send times inside the last minute
    media: dict[str, Media] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"robot:{self.key}"


@dataclass
class Agent:
    corp_id: str
    agent_id: int
    secret: str
    name: str
    token: str = ""
    aes_key: str = ""
    callback_url: str | None = None

    @property
    def label(self) -> str:
        return f"{self.corp_id}/{self.agent_id}"


@dataclass
class Corp:
    corp_id: str
    name: str
    agents: dict[int, Agent] = field(default_factory=dict)
    departments: dict[int, Department] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    external_contacts: dict[str, ExternalContact] = field(default_factory=dict)
    group_chats: dict[str, GroupChat] = field(default_factory=dict)
    appchats: dict[str, AppChat] = field(default_factory=dict)
    oauth_codes: dict[str, Code] = field(default_factory=dict)
    tags: dict[int, CorpTag] = field(default_factory=dict)

    def subtree(self, dept_id: int) -> list[int]:
        """The department and all below it, parents before children."""
        found, frontier = [dept_id], [dept_id]
        seen = {dept_id}
        while frontier:
            parents = set(frontier)
            children = [d.id for d in self.departments.values() if d.parentid in parents and d.id not in seen]
            found.extend(children)
            seen.update(children)
            frontier = children
        return found

    # ----------------------------------------------------------------- contact changes
    #
    # Each change returns the `change_contact` events WeCom pushes for it (the fields of
    # the callback XML, without the envelope the pusher adds), in the order WeCom sends them.

    def add_member(self, member: Member) -> dict:
        if member.userid in self.members:
            raise WxError(60102, "userid already exists")
        self._check_departments(member.department)
        self.members[member.userid] = member
        return _contact_event("create_user", **_user_fields(member))

    def update_member(self, userid: str, changes: dict[str, Any]) -> dict:
        member = self.members.get(userid)
        if member is None:
            raise WxError(60111)
        fields: dict[str, Any] = {"UserID": userid}
        new_userid = changes.get("new_userid")
        if new_userid and new_userid != userid:
            if new_userid in self.members:
                raise WxError(60102, "userid already exists")
            del self.members[userid]
            member.userid = new_userid
            self.members[new_userid] = member
            fields["NewUserID"] = new_userid
        if "department" in changes:
            self._check_departments(changes["department"])
        for name in ("name", "position", "mobile", "email", "gender", "status", "department"):
            if name in changes and changes[name] != getattr(member, name):
                setattr(member, name, changes[name])
                fields.update(_user_fields(member, (name,)))
        if "Department" in fields:
            member.order = [0] * len(member.department)
            member.is_leader_in_dept = [0] * len(member.department)
            fields["MainDepartment"] = member.department[0]
            fields["IsLeaderInDept"] = ",".join(str(v) for v in member.is_leader_in_dept)
        return _contact_event("update_user", **fields)

    def remove_member(self, userid: str) -> dict:
        if self.members.pop(userid, None) is None:
            raise WxError(60111)
        for tag in self.tags.values():
            if userid in tag.users:
                tag.users.remove(userid)
        return _contact_event("delete_user", UserID=userid)

    def add_department(self, dept: Department) -> dict:
        if dept.id in self.departments:
            raise WxError(60008, "department id already exists")
        if dept.parentid not in self.departments:
            raise WxError(60004, "parent department not found")
        self.departments[dept.id] = dept
        return _contact_event("create_party", Id=dept.id, Name=dept.name, ParentId=dept.parentid, Order=dept.order)

    def update_department(self, dept_id: int, changes: dict[str, Any]) -> dict:
        dept = self.departments.get(dept_id)
        if dept is None:
            raise WxError(60003, "department not found")
        fields: dict[str, Any] = {"Id": dept_id}
        parent = changes.get("parentid")
        if parent is not None and parent != dept.parentid:
            if parent not in self.departments or parent in self.subtree(dept_id):
                raise WxError(60004, "invalid parent department")
            dept.parentid = parent
            fields["ParentId"] = parent
        if changes.get("name") and changes["name"] != dept.name:
            dept.name = changes["name"]
            fields["Name"] = dept.name
        if changes.get("order") is not None and changes["order"] != dept.order:
            dept.order = int(changes["order"])
            fields["Order"] = dept.order
        return _contact_event("update_party", **fields)

    def remove_department(self, dept_id: int, move_to: int | None = None) -> list[dict]:
        """Delete a department; its members move to `move_to` (default: its parent) first.

        WeCom refuses to delete a department that still has sub-departments. Members are
        moved as an administrator would move them: one `update_user` each, then `delete_party`.
        """
        dept = self.departments.get(dept_id)
        if dept is None or dept_id == 1:
            raise WxError(60003, "department not found")
        if any(d.parentid == dept_id for d in self.departments.values()):
            raise WxError(60006, "department has sub-departments")
        target = move_to if move_to is not None else dept.parentid
        if target not in self.departments or target == dept_id:
            raise WxError(60003, "department not found")
        events = []
        for member in [m for m in self.members.values() if dept_id in m.department]:
            departments = [d for d in member.department if d != dept_id]
            if target not in departments:
                departments.append(target)
            events.append(self.update_member(member.userid, {"department": departments}))
        for tag in self.tags.values():
            if dept_id in tag.parties:
                tag.parties.remove(dept_id)
        del self.departments[dept_id]
        events.append(_contact_event("delete_party", Id=dept_id))
        return events

    def add_tag(self, tag_id: int | None, name: str) -> CorpTag:
        tag_id = tag_id or max(self.tags, default=0) + 1
        if tag_id in self.tags or any(t.name == name for t in self.tags.values()):
            raise WxError(40071, "tag name or id already exists")
        tag = CorpTag(tag_id, name)
        self.tags[tag_id] = tag
        return tag

    def change_tag(
        self,
        tag_id: int,
        add_users: list[str] = (),
        del_users: list[str] = (),
        add_parties: list[int] = (),
        del_parties: list[int] = (),
    ) -> dict:
        tag = self.tags.get(tag_id)
        if tag is None:
            raise WxError(40068, "invalid tagid")
        if any(u not in self.members for u in add_users):
            raise WxError(60111)
        if add_parties:
            self._check_departments(list(add_parties))
        added_users = [u for u in dict.fromkeys(add_users) if u not in tag.users]
        removed_users = [u for u in dict.fromkeys(del_users) if u in tag.users]
        added_parties = [p for p in dict.fromkeys(add_parties) if p not in tag.parties]
        removed_parties = [p for p in dict.fromkeys(del_parties) if p in tag.parties]
        tag.users = [u for u in tag.users if u not in removed_users] + added_users
        tag.parties = [p for p in tag.parties if p not in removed_parties] + added_parties
        fields: dict[str, Any] = {"TagId": tag_id}
        for name, values in (
            ("AddUserItems", added_users),
            ("DelUserItems", removed_users),
            ("AddPartyItems", added_parties),
            ("DelPartyItems", removed_parties),
        ):
            if values:
                fields[name] = ",".join(str(v) for v in values)
        return _contact_event("update_tag", **fields)

    def _check_departments(self, departments: list[int]) -> None:
        if not departments or any(d not in self.departments for d in departments):
            raise WxError(60003, "department not found")


@dataclass
class CorpTag:
    """A contacts tag (通讯录标签): members and whole departments."""

    id: int
    name: str
    users: list[str] = field(default_factory=list)
    parties: list[int] = field(default_factory=list)


def _user_fields(member: Member, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The fields of a member as a change_contact event carries them (all, or the changed ones)."""
    values = {
        "name": ("Name", member.name),
        "department": ("Department", ",".join(str(d) for d in member.department)),
        "position": ("Position", member.position),
        "mobile": ("Mobile", member.mobile),
        "email": ("Email", member.email),
        "gender": ("Gender", member.gender),
        "status": ("Status", member.status),
    }
    fields: dict[str, Any] = {} if only else {"UserID": member.userid}
    for name, (key, value) in values.items():
        if (only is None or name in only) and value is not None:
            fields[key] = value
    if only is None:
        fields["MainDepartment"] = member.department[0]
        fields["IsLeaderInDept"] = ",".join(str(v) for v in member.is_leader_in_dept or [0] * len(member.department))
    return fields


def _contact_event(change_type: str, **fields: Any) -> dict[str, Any]:
    return {"FromUserName": "sys", "MsgType": "event", "Event": "change_contact", "ChangeType": change_type, **fields}


# --------------------------------------------------------------------------- cross-cutting records


@dataclass
class IssuedToken:
    value: str
    host: str
    owner: Account | Agent
    issued_at: float
    expires_at: float
    retire_at: float | None = None
    forced: int | None = None  # errcode forced by the control API (42001 or 40001)


@dataclass
class Fault:
    id: int
    path: str
    host: str | None = None
    appid: str | None = None
    errcode: int | None = None
    delay: float = 0.0
    http_status: int | None = None
    times: int | None = 1  # None: until removed
    hits: int = 0

    def matches(self, host: str, path: str, appid: str | None) -> bool:
        if self.host and self.host != host:
            return False
        if self.appid and self.appid != appid:
            return False
        return path in (self.path, "/cgi-bin" + self.path)

    def as_dict(self) -> dict:
        return {
            k: getattr(self, k)
            for k in ("id", "path", "host", "appid", "errcode", "delay", "http_status", "times", "hits")
        }


@dataclass
class Delivery:
    """One message WeChat "delivered" to one recipient: what tests assert on."""

    id: int
    at: float
    app: str  # appid, corp id or robot label
    channel: str  # custom | template | mass | subscribe | passive_reply | wecom | appchat | robot
    to: str
    msgtype: str
    payload: dict
    msgid: int | str | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "at": self.at,
            "app": self.app,
            "channel": self.channel,
            "to": self.to,
            "msgtype": self.msgtype,
            "payload": self.payload,
            "msgid": self.msgid,
        }


def normalise_path(path: str) -> str:
    return "/" + path.strip().lstrip("/")


class World:
    """Everything the sandbox knows. Hold `lock` while reading or changing it."""

    def __init__(self, params: WorldParams | None = None):
        self.lock = threading.RLock()
        self.clock = Clock()
        self.params = params or WorldParams()
        self.pusher = Pusher(self)
        self._build(self.params)

    # ----------------------------------------------------------------- building

    def reset(self, **overrides: Any) -> None:
        """Rebuild from the same parameters (with overrides); registered extras are dropped."""
        from dataclasses import replace

        with self.lock:
            self.params = replace(self.params, **overrides) if overrides else self.params
            self.clock = Clock()
            self._build(self.params)

    def _build(self, p: WorldParams) -> None:
        self.demo = p.demo or demo_accounts()
        self.built_at = self.clock.now()
        self.accounts: dict[str, Account] = {}
        self.corps: dict[str, Corp] = {}
        self.robots: dict[str, Robot] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.faults: list[Fault] = []
        self.outbox: deque[Delivery] = deque(maxlen=OUTBOX_LIMIT)
        self.pushes: list[PushRecord] = []
        self.calls: Counter = Counter()  # "host /path" -> requests
        self.token_calls: Counter = Counter()  # app label -> token requests
        self._ids = itertools.count(1)
        self._msg_ids = itertools.count(1_000_000_000 + p.seed * 1000)
        ex_fans = p.fans // 20
        self._next_person = p.fans + ex_fans  # persons below this are the seeded fans and ex-fans

        demo = self.demo
        self.register_account(
            demo.official.appid,
            demo.official.secret,
            kind=OFFICIAL,
            name="WeDraw 演示公众号",
            token=demo.official.token,
            aes_key=demo.official.aes_key,
            callback_url=self._callback_url(f"/api/wechat/callback/{demo.official.appid}"),
            fans=p.fans,
            ex_fans=ex_fans,
        )
        self.register_account(
            demo.miniprogram.appid,
            demo.miniprogram.secret,
            kind=MINIPROGRAM,
            name="WeDraw 积分商城",
            users=p.miniprogram_users if p.miniprogram_users is not None else max(10, p.fans // 2),
        )
        corp = self.register_corp(demo.wecom.corp_id, "WeDraw 演示企业", members=p.members, departments=p.departments)
        self.add_agent(
            corp,
            demo.wecom.agent_id,
            demo.wecom.secret,
            name="WeDraw 助手",
            token=demo.wecom.token,
            aes_key=demo.wecom.aes_key,
            callback_url=self._callback_url(f"/api/wecom/callback/{corp.corp_id}/{demo.wecom.agent_id}"),
        )
        self.add_robot(corp.corp_id, demo.wecom.robot_key, "WeDraw 告警机器人")
        self.add_robot(corp.corp_id, _alnum_id("", 32, p.seed, "robot", 2), "运营播报")

    def _callback_url(self, path: str) -> str | None:
        return self.params.callback_base.rstrip("/") + path if self.params.callback_base else None

    def new_person(self) -> int:
        person = self._next_person
        self._next_person += 1
        return person

    def next_id(self) -> int:
        return next(self._ids)

    def next_msg_id(self) -> int:
        return next(self._msg_ids)

    def register_account(
        self,
        appid: str,
        secret: str,
        *,
        kind: str = OFFICIAL,
        name: str = "",
        fans: int = 0,
        ex_fans: int = 0,
        users: int = 0,
        **settings: Any,
    ) -> Account:
        """Add an Official Account (with `fans`) or a Mini Program (with `users`)."""
        if kind not in (OFFICIAL, MINIPROGRAM):
            raise ValueError("kind must be 'official' or 'miniprogram'")
        if appid in self.accounts or appid in self.corps:
            raise ValueError(f"{appid} is already registered")
        seed = self.params.seed
        account = Account(appid=appid, secret=secret, kind=kind, name=name or appid)
        for key, value in settings.items():
            if not hasattr(account, key) or key in ("users", "tags", "templates"):
                raise ValueError(f"unknown account setting {key!r}")
            setattr(account, key, value)
        if kind == OFFICIAL:
            account.tags[2] = Tag(2, "星标组", system=True)
            for name_ in SEEDED_TAGS:
                account.tags[account.next_tag_id] = Tag(account.next_tag_id, name_)
                account.next_tag_id += 1
            persons = list(range(fans + ex_fans))
            tag_ids = [t.id for t in account.tags.values() if not t.system]
            account.users = Users(seed, appid, persons, fans, tag_ids, self.built_at)
            for template in _official_templates(seed, appid):
                account.templates[template.template_id] = template
        else:
            # Even-numbered users are people who also follow the Official Account.
            persons = [j if j % 2 == 0 and j < self.params.fans else self.new_person() for j in range(users)]
            account.users = Users(seed, appid, persons, users, [], self.built_at)
            for template in _subscribe_templates(seed, appid):
                account.templates[template.template_id] = template
            account.pages = ["pages/index/index", "pages/mall/index", "pages/mall/detail", "pages/orders/detail"]
        self.accounts[appid] = account
        return account

    def register_corp(self, corp_id: str, name: str, *, members: int = 0, departments: int = 1) -> Corp:
        if corp_id in self.corps or corp_id in self.accounts:
            raise ValueError(f"{corp_id} is already registered")
        corp = Corp(corp_id=corp_id, name=name)
        _seed_corp(corp, self.params.seed, members, max(1, departments), self.params.group_chats, self.built_at)
        self.corps[corp_id] = corp
        return corp

    def add_agent(
        self,
        corp: Corp,
        agent_id: int,
        secret: str,
        *,
        name: str = "",
        token: str = "",
        aes_key: str = "",
        callback_url: str | None = None,
    ) -> Agent:
        if agent_id in corp.agents:
            raise ValueError(f"agent {agent_id} already exists in {corp.corp_id}")
        agent = Agent(corp.corp_id, agent_id, secret, name or str(agent_id), token, aes_key, callback_url)
        corp.agents[agent_id] = agent
        return agent

    def add_robot(self, corp_id: str, key: str | None = None, name: str = "") -> Robot:
        if corp_id not in self.corps:
            raise ValueError(f"unknown corp {corp_id}")
        key = key or str(_uuid_like(secrets.token_hex(16)))
        if key in self.robots:
            raise ValueError("a robot with this key already exists")
        robot = Robot(key=key, corp_id=corp_id, name=name or "robot")
        self.robots[key] = robot
        return robot

    # ----------------------------------------------------------------- tokens

    def issue_official_token(self, account: Account) -> IssuedToken:
        """Every fetch issues a new token; the previous ones keep working for TOKEN_GRACE."""
        now = self.clock.now()
        if not self.take_quota(account, ("token", beijing_day(now)), account.token_daily_quota):
            raise WxError(45009)
        for token in self.tokens.values():
            if token.owner is account and token.retire_at is None:
                token.retire_at = now + TOKEN_GRACE
        self._prune_tokens(now)
        return self._new_token(OFFICIAL, account, now)

    def issue_wecom_token(self, agent: Agent) -> IssuedToken:
        """WeCom hands out the same token while it is valid: one per app secret."""
        now = self.clock.now()
        for token in self.tokens.values():
            if token.owner is agent and token.forced is None and token.expires_at > now:
                return token
        self._prune_tokens(now)
        return self._new_token("wecom", agent, now)

    def _new_token(self, host: str, owner: Account | Agent, now: float) -> IssuedToken:
        token = IssuedToken(secrets.token_urlsafe(96), host, owner, now, now + TOKEN_TTL)
        self.tokens[token.value] = token
        return token

    def _prune_tokens(self, now: float) -> None:
        stale = [v for v, t in self.tokens.items() if now - t.expires_at > 3600]
        for value in stale:
            del self.tokens[value]

    def authenticate(self, host: str, value: str | None) -> Account | Agent:
        if not value:
            raise WxError(41001)
        token = self.tokens.get(value)
        if token is None or token.host != host:
            raise WxError(40014)
        now = self.clock.now()
        if token.forced:
            raise WxError(token.forced)
        if token.retire_at is not None and now >= token.retire_at:
            raise WxError(40001)
        if now >= token.expires_at:
            raise WxError(42001)
        return token.owner

    def expire_tokens(
        self, *, appid: str | None = None, agent_id: int | None = None, token: str | None = None, errcode: int = 42001
    ) -> int:
        """Make tokens fail now: 42001 (expired) or 40001 (not latest). Returns how many."""
        if errcode not in (40001, 42001):
            raise ValueError("errcode must be 42001 or 40001")
        hit = 0
        for issued in self.tokens.values():
            owner = issued.owner
            owner_id = owner.appid if isinstance(owner, Account) else owner.corp_id
            if token is not None and issued.value != token:
                continue
            if appid is not None and owner_id != appid:
                continue
            if agent_id is not None and getattr(owner, "agent_id", None) != agent_id:
                continue
            if issued.forced is None and issued.expires_at > self.clock.now():
                issued.forced = errcode
                hit += 1
        return hit

    # ----------------------------------------------------------------- quotas, faults, outbox

    def take_quota(self, account: Account, key: tuple, limit: int) -> bool:
        """Count one use against `limit`; False (and no count) once it is reached."""
        if account.counters[key] >= limit:
            return False
        account.counters[key] += 1
        return True

    def add_fault(self, path: str, **spec: Any) -> Fault:
        fault = Fault(id=self.next_id(), path=normalise_path(path), **spec)
        if fault.errcode is None and not fault.delay and fault.http_status is None:
            raise ValueError("a fault needs an errcode, a delay or an http_status")
        if fault.times is not None and fault.times < 1:
            raise ValueError("times must be at least 1 (or null for until removed)")
        self.faults.append(fault)
        return fault

    def take_fault(self, host: str, path: str, appid: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.matches(host, path, appid):
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                return fault
        return None

    def deliver(
        self, app: str, channel: str, to: str, msgtype: str, payload: dict, msgid: int | str | None = None
    ) -> Delivery:
        delivery = Delivery(self.next_id(), self.clock.now(), app, channel, to, msgtype, payload, msgid)
        self.outbox.append(delivery)
        return delivery

    # ----------------------------------------------------------------- lookups

    def account(self, appid: str | None, kind: str | None = None) -> Account:
        account = self.accounts.get(appid or "")
        if account is None or (kind and account.kind != kind):
            raise WxError(40013)
        return account

    def corp(self, corp_id: str | None) -> Corp:
        corp = self.corps.get(corp_id or "")
        if corp is None:
            raise WxError(40013, "invalid corpid")
        return corp

    def push_target(self, owner: Account | Agent, mode: str | None = None) -> PushTarget:
        """How WeChat reaches this account's (or agent's) callback URL."""
        if isinstance(owner, Agent):
            return PushTarget(
                "wecom",
                owner.label,
                owner.callback_url,
                owner.token,
                owner.aes_key,
                owner.corp_id,
                owner.corp_id,
                "safe",
                owner.agent_id,
            )
        return PushTarget(
            "official",
            owner.appid,
            owner.callback_url,
            owner.token,
            owner.aes_key,
            owner.appid,
            owner.original_id,
            mode or owner.encrypt_mode,
        )

    def summary(self) -> dict:
        return {
            "params": {k: v for k, v in self.params.__dict__.items() if k != "demo"},
            "clock": {"now": self.clock.now(), "offset": self.clock.offset},
            "accounts": [
                {
                    "appid": a.appid,
                    "kind": a.kind,
                    "name": a.name,
                    "original_id": a.original_id,
                    "callback_url": a.callback_url,
                    "encrypt_mode": a.encrypt_mode,
                    "users": len(a.users) if a.users else 0,
                    "subscribed": a.users.subscribed_count if a.users else 0,
                }
                for a in self.accounts.values()
            ],
            "corps": [
                {
                    "corp_id": c.corp_id,
                    "name": c.name,
                    "members": len(c.members),
                    "departments": len(c.departments),
                    "external_contacts": len(c.external_contacts),
                    "group_chats": len(c.group_chats),
                    "agents": [
                        {"agent_id": a.agent_id, "name": a.name, "callback_url": a.callback_url}
                        for a in c.agents.values()
                    ],
                }
                for c in self.corps.values()
            ],
            "robots": [{"key": r.key, "corp_id": r.corp_id, "name": r.name} for r in self.robots.values()],
        }


def _uuid_like(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"


def _official_templates(seed: int, appid: str) -> list[Template]:
    specs = (
        (
            "订单状态通知",
            "{{first.DATA}}\n订单号：{{keyword1.DATA}}\n订单状态：{{keyword2.DATA}}\n{{remark.DATA}}",
            "您的订单已发货\n订单号：P20260101001\n订单状态：已发货\n点击查看详情",
        ),
        (
            "积分变动提醒",
            "{{first.DATA}}\n变动积分：{{keyword1.DATA}}\n当前积分：{{keyword2.DATA}}\n{{remark.DATA}}",
            "您的积分有变动\n变动积分：+10\n当前积分：1280\n感谢您的关注",
        ),
        (
            "活动报名成功通知",
            "{{first.DATA}}\n活动名称：{{keyword1.DATA}}\n活动时间：{{keyword2.DATA}}\n"
            "活动地点：{{keyword3.DATA}}\n{{remark.DATA}}",
            "",
        ),
    )
    return [
        Template(_b64id("", 43, seed, appid, "template", k), title, content, example)
        for k, (title, content, example) in enumerate(specs)
    ]


def _subscribe_templates(seed: int, appid: str) -> list[Template]:
    specs = (
        ("兑换成功通知", "商品名称{{thing1.DATA}}\n消耗积分{{number2.DATA}}\n兑换时间{{time3.DATA}}"),
        ("订单发货提醒", "订单号{{character_string1.DATA}}\n快递公司{{thing2.DATA}}\n发货时间{{time3.DATA}}"),
    )
    return [
        Template(_b64id("", 43, seed, appid, "subscribe", k), title, content, primary_industry="", deputy_industry="")
        for k, (title, content) in enumerate(specs)
    ]


def _seed_corp(corp: Corp, seed: int, members: int, departments: int, group_chats: int | None, now: float) -> None:
    names_en = ("Headquarters", "Engineering", "Sales", "Operations", "Finance", "Support", "Marketing", "HR")
    cn = ("总部", "研发部", "销售部", "运营部", "财务部", "客服部", "市场部", "人事部")
    for d in range(1, departments + 1):
        parent = 0 if d == 1 else (1 if d <= 4 else d // 2)
        label = cn[(d - 1) % len(cn)] + ("" if d <= len(cn) else str(d))
        label_en = names_en[(d - 1) % len(names_en)] + ("" if d <= len(names_en) else f" {d}")
        corp.departments[d] = Department(d, corp.name if d == 1 else label, label_en, parent, 100000000 - d)
    dept_ids = list(corp.departments)
    for i in range(members):
        profile = person_profile(seed, 10_000_000 + i)
        userid = f"user{i + 1:05d}"
        status = {48: 4, 49: 2}.get(i % 50, 1)
        corp.members[userid] = Member(
            userid=userid,
            name=profile["nickname"],
            department=[dept_ids[i % len(dept_ids)]],
            position=POSITIONS[i % len(POSITIONS)],
            mobile=f"138{i:08d}",
            gender=str(profile["sex"]),
            email=f"{userid}@wedraw.example",
            status=status,
            open_userid=_alnum_id("wo", 32, seed, corp.corp_id, i),
            order=[0],
        )
    userids = list(corp.members)
    if userids:
        # Contacts tags: every tenth member is 管理层; 技术委员会 holds department 2's subtree (when there is one).
        corp.tags[1] = CorpTag(1, "管理层", users=userids[::10])
        corp.tags[2] = CorpTag(2, "技术委员会", users=userids[1:2], parties=[2] if 2 in corp.departments else [])
    for j in range(members // 2):
        person = j * 3  # some of these people are also Official Account fans (same unionid)
        profile = person_profile(seed, person)
        owner = userids[(j * 3) % len(userids)]
        external_userid = _b64id("wm", 32, seed, corp.corp_id, "external", j).replace("-", "A").replace("_", "B")
        corp.external_contacts[external_userid] = ExternalContact(
            external_userid=external_userid,
            name=profile["nickname"],
            gender=profile["sex"],
            unionid=profile["unionid"],
            follow_users=[
                {
                    "userid": owner,
                    "remark": "",
                    "description": "",
                    "createtime": int(now) - 86400 * (j % 90),
                    "tags": [],
                    "remark_mobiles": [],
                    "add_way": 1 + j % 3,
                    "state": "",
                }
            ],
        )
    externals = list(corp.external_contacts)
    chats = group_chats if group_chats is not None else max(2, members // 20)
    if not userids:
        return
    for k in range(chats):
        owner = userids[(k * 7) % len(userids)]
        internal = [owner] + [userids[(k * 7 + n) % len(userids)] for n in (1, 2) if len(userids) > n]
        chat_members = [
            {"userid": u, "type": 1, "join_time": int(now) - 3600 * k, "join_scene": 1, "invitor": {"userid": owner}}
            for u in dict.fromkeys(internal)
        ]
        for n in range(3 if externals else 0):
            ext = externals[(k * 3 + n) % len(externals)]
            contact = corp.external_contacts[ext]
            chat_members.append(
                {
                    "userid": ext,
                    "type": 2,
                    "unionid": contact.unionid,
                    "join_time": int(now) - 600,
                    "join_scene": 3,
                    "invitor": {"userid": owner},
                }
            )
        chat_id = _alnum_id("wr", 32, seed, corp.corp_id, "groupchat", k)
        corp.group_chats[chat_id] = GroupChat(
            chat_id=chat_id,
            name=f"客户群 {k + 1}",
            owner=owner,
            create_time=int(now) - 86400 * (k % 30),
            members=chat_members,
            admin_list=[],
            notice="欢迎加入",
            status=0,
        )
